package awsfake_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	asgtypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/chaoslab-dev/chaoslab/internal/awsfake"
)

// groupInstances lists a group's instances through EC2 the way a provider
// would: by the tag Auto Scaling puts on them.
func groupInstances(t *testing.T, c clients, group string, states ...string) []ec2types.Instance {
	t.Helper()
	filters := []ec2types.Filter{{Name: aws.String("tag:aws:autoscaling:groupName"), Values: []string{group}}}
	if len(states) > 0 {
		filters = append(filters, ec2types.Filter{Name: aws.String("instance-state-name"), Values: states})
	}
	out, err := c.ec2.DescribeInstances(context.Background(), &ec2.DescribeInstancesInput{Filters: filters})
	if err != nil {
		t.Fatal(err)
	}
	var ins []ec2types.Instance
	for _, r := range out.Reservations {
		ins = append(ins, r.Instances...)
	}
	return ins
}

func TestDescribeInstances(t *testing.T) {
	t.Parallel()
	srv, c := setup(t, awsfake.WithClock(awsfake.NewManualClock(epoch)))
	addGroup(t, srv, awsfake.GroupConfig{Name: "web", Desired: 3, Min: 1, Max: 4, Tags: map[string]string{"env": "test"}, InstanceType: "m5.large"})
	addGroup(t, srv, awsfake.GroupConfig{Name: "other", Desired: 2, Min: 0, Max: 2})
	g := describeGroup(t, c, "web")
	asgAZ := map[string]string{}
	for _, in := range g.Instances {
		asgAZ[aws.ToString(in.InstanceId)] = aws.ToString(in.AvailabilityZone)
	}

	ins := groupInstances(t, c, "web", "running")
	if len(ins) != 3 {
		t.Fatalf("%d running instances tagged web, want 3", len(ins))
	}
	for _, in := range ins {
		id := aws.ToString(in.InstanceId)
		if in.State == nil || in.State.Name != ec2types.InstanceStateNameRunning || aws.ToInt32(in.State.Code) != 16 {
			t.Errorf("%s state %+v", id, in.State)
		}
		if in.Placement == nil || aws.ToString(in.Placement.AvailabilityZone) != asgAZ[id] {
			t.Errorf("%s placement %+v, want zone %s", id, in.Placement, asgAZ[id])
		}
		if in.InstanceType != ec2types.InstanceTypeM5Large || in.LaunchTime == nil || !in.LaunchTime.Equal(epoch) {
			t.Errorf("%s type %s launch %v", id, in.InstanceType, in.LaunchTime)
		}
		tags := map[string]string{}
		for _, tg := range in.Tags {
			tags[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
		}
		if tags["aws:autoscaling:groupName"] != "web" || tags["env"] != "test" {
			t.Errorf("%s tags %v", id, tags)
		}
	}
	x := c.rec.last(t, "DescribeInstances")
	if x.form.Get("Version") != "2016-11-15" || x.form.Get("Filter.1.Name") != "tag:aws:autoscaling:groupName" ||
		x.form.Get("Filter.1.Value.1") != "web" || x.form.Get("Filter.2.Value.1") != "running" {
		t.Errorf("request form %v", x.form)
	}
	if !strings.Contains(x.header.Get("Authorization"), "/us-east-1/ec2/aws4_request") {
		t.Errorf("Authorization %q is not scoped to ec2", x.header.Get("Authorization"))
	}
	for _, want := range []string{
		`<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>`,
		`<reservationSet><item><reservationId>r-`,
		`<instancesSet><item><instanceId>i-`,
		`<instanceState><code>16</code><name>running</name></instanceState>`,
		`<placement><availabilityZone>us-east-1`,
	} {
		if !strings.Contains(x.body, want) {
			t.Errorf("response lacks %s:\n%s", want, x.body)
		}
	}

	// By id, with wildcards, and the errors for bad ids.
	id := aws.ToString(ins[0].InstanceId)
	out, err := c.ec2.DescribeInstances(context.Background(), &ec2.DescribeInstancesInput{InstanceIds: []string{id}})
	if err != nil || len(out.Reservations) != 1 || aws.ToString(out.Reservations[0].Instances[0].InstanceId) != id {
		t.Errorf("by id: %v %+v", err, out)
	}
	if x := c.rec.last(t, "DescribeInstances"); x.form.Get("InstanceId.1") != id {
		t.Errorf("ec2Query list form %v", x.form)
	}
	out, err = c.ec2.DescribeInstances(context.Background(), &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{
		{Name: aws.String("instance-state-name"), Values: []string{"run*"}},
	}})
	if err != nil || len(out.Reservations) != 5 {
		t.Errorf("run*: %v, %d reservations, want 5", err, len(out.Reservations))
	}
	_, err = c.ec2.DescribeInstances(context.Background(), &ec2.DescribeInstancesInput{InstanceIds: []string{"i-0000000000000000f"}})
	if code := apiCode(t, err); code != "InvalidInstanceID.NotFound" {
		t.Errorf("unknown id: %s", code)
	}
	_, err = c.ec2.DescribeInstances(context.Background(), &ec2.DescribeInstancesInput{InstanceIds: []string{"web-1"}})
	if code := apiCode(t, err); code != "InvalidInstanceID.Malformed" {
		t.Errorf("malformed id: %s", code)
	}
	_, err = c.ec2.DescribeInstances(context.Background(), &ec2.DescribeInstancesInput{Filters: []ec2types.Filter{{Name: aws.String("flavour"), Values: []string{"x"}}}})
	if code := apiCode(t, err); code != "InvalidParameterValue" {
		t.Errorf("unknown filter: %s", code)
	}
	_, err = c.ec2.DescribeInstances(context.Background(), &ec2.DescribeInstancesInput{DryRun: aws.Bool(true)})
	if code := apiCode(t, err); code != "DryRunOperation" {
		t.Errorf("dry run: %s", code)
	}

	// Pagination: 5 instances, 5 at a time, then 2 of them and 3.
	p := ec2.NewDescribeInstancesPaginator(c.ec2, &ec2.DescribeInstancesInput{MaxResults: aws.Int32(5)})
	var seen []string
	for p.HasMorePages() {
		out, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range out.Reservations {
			for _, in := range r.Instances {
				seen = append(seen, aws.ToString(in.InstanceId))
			}
		}
	}
	slices.Sort(seen)
	if len(slices.Compact(seen)) != 5 {
		t.Errorf("paginated %v, want 5 distinct", seen)
	}
	_, err = c.ec2.DescribeInstances(context.Background(), &ec2.DescribeInstancesInput{MaxResults: aws.Int32(5), InstanceIds: []string{id}})
	if code := apiCode(t, err); code != "InvalidParameterCombination" {
		t.Errorf("MaxResults with ids: %s", code)
	}
}

func TestEC2TerminateInstancesIsReplaced(t *testing.T) {
	t.Parallel()
	clock := awsfake.NewManualClock(epoch)
	srv, c := setup(t, awsfake.WithClock(clock), awsfake.WithPendingFor(2*time.Second), awsfake.WithTerminateFor(time.Second))
	addGroup(t, srv, awsfake.GroupConfig{Name: "web", Desired: 2, Min: 1, Max: 2})
	ctx := context.Background()
	victim := aws.ToString(describeGroup(t, c, "web").Instances[1].InstanceId)

	_, err := c.ec2.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{victim}, DryRun: aws.Bool(true)})
	if code := apiCode(t, err); code != "DryRunOperation" {
		t.Fatalf("dry run: %v", err)
	}
	if st, _ := srv.Group("web"); st.Healthy != 2 {
		t.Fatalf("dry run changed the group: %+v", st)
	}

	out, err := c.ec2.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{victim}})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.TerminatingInstances) != 1 {
		t.Fatalf("%d state changes", len(out.TerminatingInstances))
	}
	ch := out.TerminatingInstances[0]
	if aws.ToString(ch.InstanceId) != victim || ch.PreviousState.Name != ec2types.InstanceStateNameRunning ||
		ch.CurrentState.Name != ec2types.InstanceStateNameShuttingDown || aws.ToInt32(ch.CurrentState.Code) != 32 {
		t.Errorf("state change %+v -> %+v", ch.PreviousState, ch.CurrentState)
	}

	// Auto Scaling's health check sees it at once.
	for _, in := range describeGroup(t, c, "web").Instances {
		if aws.ToString(in.InstanceId) == victim && (aws.ToString(in.HealthStatus) != "Unhealthy" || in.LifecycleState != asgtypes.LifecycleStateTerminating) {
			t.Errorf("victim in Auto Scaling: %s/%s", in.LifecycleState, aws.ToString(in.HealthStatus))
		}
	}
	clock.Advance(time.Second)
	term := groupInstances(t, c, "web", "terminated")
	if len(term) != 1 || aws.ToString(term[0].InstanceId) != victim || term[0].StateReason == nil ||
		aws.ToString(term[0].StateReason.Code) != "Client.UserInitiatedShutdown" {
		t.Fatalf("terminated instances %+v", term)
	}
	if pending := groupInstances(t, c, "web", "pending"); len(pending) != 1 {
		t.Fatalf("%d pending replacements, want 1", len(pending))
	}
	// A second TerminateInstances of a terminated instance changes nothing.
	out, err = c.ec2.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{victim}})
	if err != nil || out.TerminatingInstances[0].CurrentState.Name != ec2types.InstanceStateNameTerminated ||
		out.TerminatingInstances[0].PreviousState.Name != ec2types.InstanceStateNameTerminated {
		t.Errorf("terminating again: %v %+v", err, out)
	}
	clock.Advance(2 * time.Second)
	if running := groupInstances(t, c, "web", "running"); len(running) != 2 {
		t.Fatalf("%d running after recovery, want 2", len(running))
	}
	if d, ok := srv.LastRecovery("web"); !ok || d != 3*time.Second {
		t.Errorf("LastRecovery %v, %v, want 3s", d, ok)
	}

	// DescribeInstanceStatus: running ones only unless asked for all.
	st, err := c.ec2.DescribeInstanceStatus(ctx, &ec2.DescribeInstanceStatusInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(st.InstanceStatuses) != 2 {
		t.Errorf("%d statuses, want the 2 running", len(st.InstanceStatuses))
	}
	for _, s := range st.InstanceStatuses {
		if s.InstanceStatus == nil || s.InstanceStatus.Status != ec2types.SummaryStatusOk || s.InstanceState.Name != ec2types.InstanceStateNameRunning {
			t.Errorf("status %+v", s)
		}
	}
	st, err = c.ec2.DescribeInstanceStatus(ctx, &ec2.DescribeInstanceStatusInput{IncludeAllInstances: aws.Bool(true)})
	if err != nil || len(st.InstanceStatuses) != 3 {
		t.Errorf("all: %v, %d statuses, want 3", err, len(st.InstanceStatuses))
	}

	_, err = c.ec2.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{"i-0123456789abcdef0"}})
	if code := apiCode(t, err); code != "InvalidInstanceID.NotFound" {
		t.Errorf("unknown id: %s", code)
	}
}

func TestHealthCheckSuspended(t *testing.T) {
	t.Parallel()
	clock := awsfake.NewManualClock(epoch)
	srv, c := setup(t, awsfake.WithClock(clock), awsfake.WithPendingFor(time.Second), awsfake.WithTerminateFor(time.Second))
	addGroup(t, srv, awsfake.GroupConfig{Name: "web", Desired: 1, Min: 1, Max: 1, SuspendedProcesses: []string{"ReplaceUnhealthy"}})
	ctx := context.Background()
	victim := aws.ToString(describeGroup(t, c, "web").Instances[0].InstanceId)
	if _, err := c.ec2.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{victim}}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	g := describeGroup(t, c, "web")
	if len(g.Instances) != 1 || aws.ToString(g.Instances[0].HealthStatus) != "Unhealthy" || g.Instances[0].LifecycleState != asgtypes.LifecycleStateInService {
		t.Fatalf("with ReplaceUnhealthy suspended: %+v", g.Instances)
	}
	if _, err := c.asg.ResumeProcesses(ctx, &autoscaling.ResumeProcessesInput{
		AutoScalingGroupName: aws.String("web"), ScalingProcesses: []string{"ReplaceUnhealthy"},
	}); err != nil {
		t.Fatal(err)
	}
	// The EC2 instance is long gone: out at once, replacement pending.
	g = describeGroup(t, c, "web")
	if len(g.Instances) != 1 || aws.ToString(g.Instances[0].InstanceId) == victim || g.Instances[0].LifecycleState != asgtypes.LifecycleStatePending {
		t.Fatalf("after resume: %+v", g.Instances)
	}
	clock.Advance(time.Second)
	if d, ok := srv.LastRecovery("web"); !ok || d != time.Minute+time.Second {
		t.Errorf("LastRecovery %v, %v", d, ok)
	}
}

func TestTerminateInstanceFromOutside(t *testing.T) {
	t.Parallel()
	clock := awsfake.NewManualClock(epoch)
	srv, c := setup(t, awsfake.WithClock(clock), awsfake.WithPendingFor(time.Second), awsfake.WithTerminateFor(time.Second))
	addGroup(t, srv, awsfake.GroupConfig{Name: "web", Desired: 1, Min: 1, Max: 1})
	st, _ := srv.Group("web")
	if !srv.TerminateInstance(st.Instances[0].ID) || srv.TerminateInstance(st.Instances[0].ID) || srv.TerminateInstance("i-nope") {
		t.Fatal("TerminateInstance reports wrong")
	}
	clock.Advance(2 * time.Second)
	if g := describeGroup(t, c, "web"); lifecycles(g)[asgtypes.LifecycleStateInService] != 1 {
		t.Fatalf("not replaced: %v", lifecycles(g))
	}
}

func TestUnsupportedActions(t *testing.T) {
	t.Parallel()
	_, c := setup(t)
	ctx := context.Background()
	_, err := c.asg.DescribeLaunchConfigurations(ctx, &autoscaling.DescribeLaunchConfigurationsInput{})
	if code := apiCode(t, err); code != "InvalidAction" {
		t.Errorf("autoscaling: %s", code)
	}
	if x := c.rec.last(t, "DescribeLaunchConfigurations"); x.status != 400 || !strings.Contains(x.body, "<ErrorResponse") || !strings.Contains(x.body, "<Type>Sender</Type>") {
		t.Errorf("autoscaling error: %d %s", x.status, x.body)
	}
	_, err = c.ec2.DescribeVpcs(ctx, &ec2.DescribeVpcsInput{})
	if code := apiCode(t, err); code != "InvalidAction" {
		t.Errorf("ec2: %s", code)
	}
	if x := c.rec.last(t, "DescribeVpcs"); x.status != 400 || !strings.Contains(x.body, "<Response><Errors><Error><Code>InvalidAction</Code>") || !strings.Contains(x.body, "<RequestID>") {
		t.Errorf("ec2 error: %d %s", x.status, x.body)
	}
	var typed *asgtypes.ResourceContentionFault
	if errors.As(err, &typed) {
		t.Error("unexpected typed error")
	}
}
