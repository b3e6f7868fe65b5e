package awsfake_test

import (
	"context"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	asgtypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/chaoslab-dev/chaoslab/internal/awsfake"
)

// post sends an unsigned form to the fake and returns status and body.
func post(t *testing.T, endpoint string, form url.Values, header http.Header) (int, string) {
	t.Helper()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

func TestUnsignedRequestsAreRejected(t *testing.T) {
	t.Parallel()
	srv := start(t)
	status, body := post(t, srv.URL(), url.Values{"Action": {"DescribeAutoScalingGroups"}, "Version": {"2011-01-01"}}, nil)
	var asgErr struct {
		XMLName xml.Name `xml:"ErrorResponse"`
		Error   struct{ Type, Code, Message string }
		ReqID   string `xml:"RequestId"`
	}
	if err := xml.Unmarshal([]byte(body), &asgErr); err != nil {
		t.Fatalf("%v in %s", err, body)
	}
	if status != http.StatusForbidden || asgErr.Error.Code != "MissingAuthenticationToken" || asgErr.Error.Type != "Sender" || asgErr.ReqID == "" {
		t.Errorf("autoscaling: %d %+v", status, asgErr)
	}

	status, body = post(t, srv.URL(), url.Values{"Action": {"DescribeInstances"}, "Version": {"2016-11-15"}}, nil)
	var ec2Err struct {
		XMLName xml.Name                         `xml:"Response"`
		Errors  []struct{ Code, Message string } `xml:"Errors>Error"`
		ReqID   string                           `xml:"RequestID"`
	}
	if err := xml.Unmarshal([]byte(body), &ec2Err); err != nil {
		t.Fatalf("%v in %s", err, body)
	}
	if status != http.StatusUnauthorized || len(ec2Err.Errors) != 1 || ec2Err.Errors[0].Code != "MissingAuthenticationToken" || ec2Err.ReqID == "" {
		t.Errorf("ec2: %d %+v", status, ec2Err)
	}

	// A malformed signature, and a request of neither service.
	bad := http.Header{"Authorization": {"AWS4-HMAC-SHA256 Credential=AKID/2025/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=00"}, "X-Amz-Date": {"20250301T120000Z"}}
	if status, body := post(t, srv.URL(), url.Values{"Action": {"DescribeInstances"}, "Version": {"2016-11-15"}}, bad); status != http.StatusBadRequest || !strings.Contains(body, "IncompleteSignature") {
		t.Errorf("malformed signature: %d %s", status, body)
	}
	if status, body := post(t, srv.URL(), url.Values{"Action": {"GetCallerIdentity"}, "Version": {"2011-06-15"}}, nil); status != http.StatusBadRequest || !strings.Contains(body, "NoSuchVersion") {
		t.Errorf("other service: %d %s", status, body)
	}
}

func TestSignatureVerification(t *testing.T) {
	t.Parallel()
	srv := start(t, awsfake.WithCredentials(testKey, testSecret))
	if err := srv.AddGroup(awsfake.GroupConfig{Name: "web", Desired: 1, Min: 0, Max: 1}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	good := newClients(t, srv.URL(), testKey, testSecret)
	if _, err := good.asg.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{}); err != nil {
		t.Fatalf("autoscaling with the right secret: %v", err)
	}
	if _, err := good.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{}); err != nil {
		t.Fatalf("ec2 with the right secret: %v", err)
	}
	wrong := newClients(t, srv.URL(), testKey, "not-the-secret")
	_, err := wrong.asg.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{})
	if code := apiCode(t, err); code != "SignatureDoesNotMatch" {
		t.Errorf("autoscaling, wrong secret: %s", code)
	}
	_, err = wrong.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
	if code := apiCode(t, err); code != "AuthFailure" {
		t.Errorf("ec2, wrong secret: %s", code)
	}
	stranger := newClients(t, srv.URL(), "AKIDSTRANGER", testSecret)
	_, err = stranger.asg.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{})
	if code := apiCode(t, err); code != "InvalidClientTokenId" {
		t.Errorf("autoscaling, unknown key: %s", code)
	}
}

func TestThrottlingIsRetried(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	addGroup(t, srv, awsfake.GroupConfig{Name: "web", Desired: 1, Min: 0, Max: 1})
	ctx := context.Background()

	srv.Throttle("DescribeAutoScalingGroups", 2)
	if _, err := c.asg.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{}); err != nil {
		t.Fatalf("after 2 throttles the third attempt should pass: %v", err)
	}
	if n := srv.Calls("DescribeAutoScalingGroups"); n != 3 {
		t.Errorf("%d calls, want 3 (2 throttled, 1 served)", n)
	}
	srv.Throttle("DescribeAutoScalingGroups", 5)
	_, err := c.asg.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{})
	if code := apiCode(t, err); code != "Throttling" {
		t.Errorf("code %s, want Throttling", code)
	}
	if x := c.rec.last(t, "DescribeAutoScalingGroups"); x.status != 400 || !strings.Contains(x.body, "<Code>Throttling</Code><Message>Rate exceeded</Message>") {
		t.Errorf("throttle response %d %s", x.status, x.body)
	}
	srv.Throttle("DescribeAutoScalingGroups", 0)

	srv.Throttle("", 1) // any action: here EC2's
	if _, err := c.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{}); err != nil {
		t.Fatalf("ec2 after one throttle: %v", err)
	}
	if n := srv.Calls("DescribeInstances"); n != 2 {
		t.Errorf("%d DescribeInstances calls, want 2", n)
	}
	srv.Throttle("DescribeInstances", 5)
	_, err = c.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
	if code := apiCode(t, err); code != "RequestLimitExceeded" {
		t.Errorf("code %s, want RequestLimitExceeded", code)
	}
	if x := c.rec.last(t, "DescribeInstances"); x.status != http.StatusServiceUnavailable {
		t.Errorf("EC2 throttling status %d, want 503", x.status)
	}
}

func TestFailNext(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	addGroup(t, srv, awsfake.GroupConfig{Name: "web", Desired: 1, Min: 0, Max: 2})
	srv.FailNext("SetDesiredCapacity", 1, awsfake.APIError{Status: 400, Code: "ScalingActivityInProgress", Message: "busy"})
	_, err := c.asg.SetDesiredCapacity(context.Background(), &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: aws.String("web"), DesiredCapacity: aws.Int32(2)})
	var typed *asgtypes.ScalingActivityInProgressFault
	if !errors.As(err, &typed) || typed.ErrorMessage() != "busy" {
		t.Fatalf("err %v (%T), want ScalingActivityInProgressFault", err, err)
	}
	// A 500 is retried by the SDK: one failure, then success.
	srv.FailNext("SetDesiredCapacity", 1, awsfake.APIError{Status: 500, Code: "ResourceContention", Message: "contention"})
	if _, err := c.asg.SetDesiredCapacity(context.Background(), &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: aws.String("web"), DesiredCapacity: aws.Int32(2)}); err != nil {
		t.Fatalf("after a retried 500: %v", err)
	}
	if st, _ := srv.Group("web"); st.Desired != 2 {
		t.Errorf("desired %d", st.Desired)
	}
}

func TestSlowCalls(t *testing.T) {
	t.Parallel()
	srv, c := setup(t)
	srv.SetDelay("DescribeAutoScalingGroups", 300*time.Millisecond)
	ctx := context.Background()

	begin := time.Now()
	if _, err := c.asg.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(begin); d < 300*time.Millisecond {
		t.Errorf("slow call took %v, want at least 300ms", d)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := c.asg.DescribeAutoScalingGroups(short, &autoscaling.DescribeAutoScalingGroupsInput{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err %v, want a deadline", err)
	}
	// Other actions are not slowed.
	begin = time.Now()
	if _, err := c.ec2.DescribeInstances(ctx, &ec2.DescribeInstancesInput{}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(begin); d > 250*time.Millisecond {
		t.Errorf("unslowed call took %v", d)
	}
}

func TestCloseEndsSlowCalls(t *testing.T) {
	t.Parallel()
	srv := awsfake.New()
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	c := newClients(t, srv.URL(), testKey, testSecret)
	srv.SetDelay("", time.Hour)
	done := make(chan error, 1)
	go func() {
		_, err := c.asg.DescribeAutoScalingGroups(context.Background(), &autoscaling.DescribeAutoScalingGroupsInput{})
		done <- err
	}()
	poll(t, 5*time.Second, "the call to arrive", func() bool { return srv.Calls("") > 0 })
	begin := time.Now()
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(begin); d > 3*time.Second {
		t.Errorf("Close took %v with a call held", d)
	}
	if err := <-done; err == nil {
		t.Error("the held call succeeded after Close")
	}
	if err := srv.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := srv.Start(context.Background()); !errors.Is(err, awsfake.ErrClosed) {
		t.Errorf("Start after Close: %v", err)
	}
}

func TestLifecycle(t *testing.T) {
	t.Parallel()
	srv := awsfake.New()
	if srv.URL() != "" {
		t.Errorf("URL before Start: %q", srv.URL())
	}
	if err := srv.Close(); err != nil {
		t.Errorf("Close before Start: %v", err)
	}
	srv = start(t)
	if !strings.HasPrefix(srv.URL(), "http://127.0.0.1:") {
		t.Errorf("URL %q", srv.URL())
	}
	if err := srv.Start(context.Background()); !errors.Is(err, awsfake.ErrStarted) {
		t.Errorf("second Start: %v", err)
	}
	if err := srv.AddGroup(awsfake.GroupConfig{Name: "g", Desired: 3, Min: 0, Max: 2}); !errors.Is(err, awsfake.ErrInvalidGroup) {
		t.Errorf("desired over max: %v", err)
	}
	if err := srv.AddGroup(awsfake.GroupConfig{Name: "g", Desired: 1, Min: 0, Max: 2}); err != nil {
		t.Fatal(err)
	}
	if err := srv.AddGroup(awsfake.GroupConfig{Name: "g", Desired: 1, Min: 0, Max: 2}); !errors.Is(err, awsfake.ErrGroupExists) {
		t.Errorf("duplicate: %v", err)
	}
	if _, ok := srv.Group("nope"); ok {
		t.Error("Group of an unknown name")
	}
}

// TestEnvironmentEndpoint configures the SDK only through the environment,
// as the CLI will: AWS_ENDPOINT_URL serves both services.
func TestEnvironmentEndpoint(t *testing.T) {
	srv := start(t, awsfake.WithCredentials(testKey, testSecret))
	addGroup(t, srv, awsfake.GroupConfig{Name: "web", Desired: 2, Min: 0, Max: 2})
	for _, kv := range srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	t.Setenv("AWS_CA_BUNDLE", "") // set on some machines; it needs the SDK's own HTTP client
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	cfg, err := config.LoadDefaultConfig(context.Background(), config.WithHTTPClient(&http.Client{Transport: tr}))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	g, err := autoscaling.NewFromConfig(cfg).DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{})
	if err != nil || len(g.AutoScalingGroups) != 1 {
		t.Fatalf("autoscaling: %v", err)
	}
	in, err := ec2.NewFromConfig(cfg).DescribeInstances(ctx, &ec2.DescribeInstancesInput{})
	if err != nil || len(in.Reservations) != 2 {
		t.Fatalf("ec2: %v", err)
	}
}

// TestRealTime runs the controller on the wall clock and measures the
// recovery from the outside, as chaoslab will, against the fake's record.
func TestRealTime(t *testing.T) {
	t.Parallel()
	srv, c := setup(t, awsfake.WithPendingFor(150*time.Millisecond), awsfake.WithTerminateFor(100*time.Millisecond))
	addGroup(t, srv, awsfake.GroupConfig{Name: "web", Desired: 3, Min: 1, Max: 3})
	ctx := context.Background()
	g := describeGroup(t, c, "web")
	begin := time.Now()
	if _, err := c.asg.TerminateInstanceInAutoScalingGroup(ctx, &autoscaling.TerminateInstanceInAutoScalingGroupInput{
		InstanceId: g.Instances[0].InstanceId, ShouldDecrementDesiredCapacity: aws.Bool(false),
	}); err != nil {
		t.Fatal(err)
	}
	poll(t, 10*time.Second, "recovery", func() bool {
		g := describeGroup(t, c, "web")
		healthy := 0
		for _, in := range g.Instances {
			if in.LifecycleState == asgtypes.LifecycleStateInService && aws.ToString(in.HealthStatus) == "Healthy" {
				healthy++
			}
		}
		return healthy == int(aws.ToInt32(g.DesiredCapacity)) && len(g.Instances) == 3
	})
	measured := time.Since(begin)
	real, ok := srv.LastRecovery("web")
	if !ok || real < 250*time.Millisecond {
		t.Fatalf("LastRecovery %v, %v; want at least 250ms", real, ok)
	}
	if measured < real {
		t.Errorf("measured %v before the real recovery of %v ended", measured, real)
	}
	if measured > real+5*time.Second {
		t.Errorf("measured %v, real %v", measured, real)
	}
}
