package awsasg_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"go.uber.org/goleak"

	"github.com/chaoslab-dev/chaoslab"
	"github.com/chaoslab-dev/chaoslab/internal/awsfake"
	"github.com/chaoslab-dev/chaoslab/provider/awsasg"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// epoch is where manual clocks start.
var epoch = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// startFake starts a fake of Auto Scaling and EC2 with the groups and
// closes it when the test ends.
func startFake(t *testing.T, opts []awsfake.Option, groups ...awsfake.GroupConfig) *awsfake.Server {
	t.Helper()
	srv := awsfake.New(opts...)
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("fake Close: %v", err)
		}
	})
	for _, g := range groups {
		if err := srv.AddGroup(g); err != nil {
			t.Fatal(err)
		}
	}
	return srv
}

// web is the group most tests use: three instances over three zones.
func web() awsfake.GroupConfig {
	return awsfake.GroupConfig{Name: "web", Desired: 3, Min: 1, Max: 6, Tags: map[string]string{"chaos": "enabled", "team": "shop"}}
}

// sdkConfig points the SDK at the fake with static credentials and a
// retryer that backs off briefly; its connections close when the test
// ends.
func sdkConfig(t *testing.T, srv *awsfake.Server) aws.Config {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider(awsfake.DefaultAccessKeyID, awsfake.DefaultSecretAccessKey, ""),
		BaseEndpoint: aws.String(srv.URL()),
		HTTPClient:   &http.Client{Transport: tr},
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) { o.MaxBackoff = 5 * time.Millisecond })
		},
	}
}

// setEnv points the standard configuration chain at the fake through the
// environment only.
func setEnv(t *testing.T, srv *awsfake.Server) {
	t.Helper()
	for _, kv := range srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
}

// loadBalancer stands for the group's load balancer: it answers 200 while
// healthy says so, else 503.
func loadBalancer(t *testing.T, healthy func() bool) *httptest.Server {
	t.Helper()
	lb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if healthy != nil && !healthy() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(lb.Close)
	return lb
}

// provision provisions spec and closes the target when the test ends.
func provision(t *testing.T, p *awsasg.Provider, spec chaoslab.TargetSpec) *awsasg.Target {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tgt, err := p.Provision(ctx, spec)
	if err != nil {
		t.Fatalf("Provision: %v", err)
	}
	t.Cleanup(func() {
		if err := tgt.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return tgt.(*awsasg.Target)
}

// fleetSpec names the group in the spec's options.
func fleetSpec(group string) chaoslab.TargetSpec {
	return chaoslab.TargetSpec{Kind: chaoslab.TargetFleet, Options: map[string]string{awsasg.OptionGroup: group}}
}

// poll calls cond until it holds or the deadline passes.
func poll(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(10 * time.Millisecond) // polling; not synchronisation
	}
}
