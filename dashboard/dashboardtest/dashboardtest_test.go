package dashboardtest_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/chaoslab-dev/chaoslab"
	"github.com/chaoslab-dev/chaoslab/dashboard/dashboardtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// memory is the least Dashboarder that conforms: it keeps results by run id.
type memory struct {
	mu   sync.Mutex
	runs map[string]string
}

func (m *memory) Publish(ctx context.Context, r *chaoslab.Result) (chaoslab.DashboardLink, error) {
	if r == nil {
		return chaoslab.DashboardLink{}, errors.New("nil result")
	}
	if err := ctx.Err(); err != nil {
		return chaoslab.DashboardLink{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.runs[r.ID] = r.Name + ": " + string(r.Verdict)
	return chaoslab.DashboardLink{Kind: "memory", URL: fmt.Sprintf("memory://%s", r.ID)}, nil
}

func TestRunAcceptsAConformingDashboarder(t *testing.T) {
	dashboardtest.Run(t, func(t *testing.T) chaoslab.Dashboarder {
		return &memory{runs: map[string]string{}}
	})
}
