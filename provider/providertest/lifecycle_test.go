package providertest_test

import (
	"context"
	"testing"

	"github.com/chaoslab-dev/chaoslab"
	"github.com/chaoslab-dev/chaoslab/provider/providertest"
)

// TestParallelMinimalProvider runs the suite with targets provisioned in
// parallel.
func TestParallelMinimalProvider(t *testing.T) {
	p := &serverProvider{}
	providertest.Run(t, providertest.Harness{
		Provider: p,
		Targets:  []providertest.Case{{Name: "server", Spec: chaoslab.TargetSpec{Kind: chaoslab.TargetAddress, Address: "127.0.0.1:1"}}},
		Live:     func(context.Context) (int, error) { return int(p.live.Load()), nil },
		Parallel: 8,
	})
}
