package awsfake_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	asgtypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/smithy-go"
	"go.uber.org/goleak"

	"github.com/chaoslab-dev/chaoslab/internal/awsfake"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	testKey    = "AKIDEXAMPLETEST"
	testSecret = "test-secret-key"
)

// epoch is where manual clocks start.
var epoch = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// start starts a fake and closes it when the test ends.
func start(t *testing.T, opts ...awsfake.Option) *awsfake.Server {
	t.Helper()
	srv := awsfake.New(opts...)
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return srv
}

// exchange is one request and its response as they crossed the wire.
type exchange struct {
	header http.Header
	form   url.Values
	status int
	body   string
}

// recorder is an http.RoundTripper that keeps every exchange.
type recorder struct {
	base *http.Transport
	mu   sync.Mutex
	log  []exchange
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	var reqBody []byte
	if req.Body != nil {
		var err error
		if reqBody, err = io.ReadAll(req.Body); err != nil {
			return nil, err
		}
		req.Body = io.NopCloser(bytes.NewReader(reqBody))
	}
	resp, err := r.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	form, _ := url.ParseQuery(string(reqBody))
	r.mu.Lock()
	r.log = append(r.log, exchange{header: req.Header.Clone(), form: form, status: resp.StatusCode, body: string(body)})
	r.mu.Unlock()
	return resp, nil
}

// last returns the last exchange for action.
func (r *recorder) last(t *testing.T, action string) exchange {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.log) - 1; i >= 0; i-- {
		if r.log[i].form.Get("Action") == action {
			return r.log[i]
		}
	}
	t.Fatalf("no %s request recorded", action)
	return exchange{}
}

// clients are the real SDK clients pointed at a fake.
type clients struct {
	asg *autoscaling.Client
	ec2 *ec2.Client
	rec *recorder
}

// newClients builds the SDK clients the way a provider would, with static
// credentials, a region, the fake as base endpoint and a fast retryer.
func newClients(t *testing.T, endpoint, key, secret string) clients {
	t.Helper()
	rec := &recorder{base: &http.Transport{}}
	t.Cleanup(rec.base.CloseIdleConnections)
	// Built by hand rather than by config.LoadDefaultConfig so that the
	// machine's AWS_* variables (AWS_CA_BUNDLE, profiles) stay out of it.
	cfg := aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider(key, secret, ""),
		BaseEndpoint: aws.String(endpoint),
		HTTPClient:   &http.Client{Transport: rec},
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) { o.MaxBackoff = 5 * time.Millisecond })
		},
	}
	return clients{asg: autoscaling.NewFromConfig(cfg), ec2: ec2.NewFromConfig(cfg), rec: rec}
}

// setup starts a fake with opts and returns it with clients.
func setup(t *testing.T, opts ...awsfake.Option) (*awsfake.Server, clients) {
	t.Helper()
	srv := start(t, opts...)
	return srv, newClients(t, srv.URL(), testKey, testSecret)
}

func addGroup(t *testing.T, srv *awsfake.Server, cfg awsfake.GroupConfig) {
	t.Helper()
	if err := srv.AddGroup(cfg); err != nil {
		t.Fatal(err)
	}
}

// apiCode returns the smithy API error code of err, failing if it has none.
func apiCode(t *testing.T, err error) string {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v (%T) is not a smithy.APIError", err, err)
	}
	return ae.ErrorCode()
}

// describeGroup returns the named group as the SDK decodes it.
func describeGroup(t *testing.T, c clients, name string) asgtypes.AutoScalingGroup {
	t.Helper()
	out, err := c.asg.DescribeAutoScalingGroups(context.Background(), &autoscaling.DescribeAutoScalingGroupsInput{
		AutoScalingGroupNames: []string{name},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.AutoScalingGroups) != 1 {
		t.Fatalf("got %d groups named %s", len(out.AutoScalingGroups), name)
	}
	return out.AutoScalingGroups[0]
}

// lifecycles counts a group's instances per lifecycle state.
func lifecycles(g asgtypes.AutoScalingGroup) map[asgtypes.LifecycleState]int {
	n := map[asgtypes.LifecycleState]int{}
	for _, in := range g.Instances {
		n[in.LifecycleState]++
	}
	return n
}

// poll calls cond until it holds or the deadline passes.
func poll(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
