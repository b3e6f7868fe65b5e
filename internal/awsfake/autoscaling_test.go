package awsfake_test

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	asgtypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"

	"github.com/chaoslab-dev/chaoslab/internal/awsfake"
)

var instanceID = regexp.MustCompile(`^i-[0-9a-f]{17}$`)

func TestDescribeAutoScalingGroups(t *testing.T) {
	t.Parallel()
	srv, c := setup(t, awsfake.WithClock(awsfake.NewManualClock(epoch)))
	addGroup(t, srv, awsfake.GroupConfig{
		Name: "web", Desired: 3, Min: 1, Max: 6,
		AZs:  []string{"us-east-1a", "us-east-1b", "us-east-1c"},
		Tags: map[string]string{"env": "test", "team": "chaos"},
	})
	addGroup(t, srv, awsfake.GroupConfig{Name: "worker", Desired: 1, Min: 0, Max: 2, Tags: map[string]string{"env": "prod"}})

	g := describeGroup(t, c, "web")
	if aws.ToString(g.AutoScalingGroupName) != "web" || aws.ToInt32(g.DesiredCapacity) != 3 ||
		aws.ToInt32(g.MinSize) != 1 || aws.ToInt32(g.MaxSize) != 6 {
		t.Fatalf("group = %s desired %d min %d max %d", aws.ToString(g.AutoScalingGroupName),
			aws.ToInt32(g.DesiredCapacity), aws.ToInt32(g.MinSize), aws.ToInt32(g.MaxSize))
	}
	if !strings.HasPrefix(aws.ToString(g.AutoScalingGroupARN), "arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:") {
		t.Errorf("ARN = %s", aws.ToString(g.AutoScalingGroupARN))
	}
	if !g.CreatedTime.Equal(epoch) {
		t.Errorf("CreatedTime = %v, want %v", g.CreatedTime, epoch)
	}
	if len(g.AvailabilityZones) != 3 || len(g.SuspendedProcesses) != 0 || len(g.Tags) != 2 {
		t.Errorf("zones %v, suspended %v, tags %v", g.AvailabilityZones, g.SuspendedProcesses, g.Tags)
	}
	zones := map[string]bool{}
	for _, in := range g.Instances {
		if !instanceID.MatchString(aws.ToString(in.InstanceId)) {
			t.Errorf("instance id %q", aws.ToString(in.InstanceId))
		}
		if in.LifecycleState != asgtypes.LifecycleStateInService || aws.ToString(in.HealthStatus) != "Healthy" {
			t.Errorf("instance %s is %s/%s", aws.ToString(in.InstanceId), in.LifecycleState, aws.ToString(in.HealthStatus))
		}
		zones[aws.ToString(in.AvailabilityZone)] = true
	}
	if len(g.Instances) != 3 || len(zones) != 3 {
		t.Errorf("%d instances over zones %v, want 3 over 3 (round robin)", len(g.Instances), zones)
	}

	// Wire: awsQuery list members and the response envelope.
	x := c.rec.last(t, "DescribeAutoScalingGroups")
	if x.form.Get("Version") != "2011-01-01" || x.form.Get("AutoScalingGroupNames.member.1") != "web" {
		t.Errorf("request form %v", x.form)
	}
	if !strings.Contains(x.header.Get("Authorization"), "/us-east-1/autoscaling/aws4_request") {
		t.Errorf("Authorization %q is not scoped to autoscaling", x.header.Get("Authorization"))
	}
	for _, want := range []string{
		`<DescribeAutoScalingGroupsResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/">`,
		`<DescribeAutoScalingGroupsResult><AutoScalingGroups><member><AutoScalingGroupName>web</AutoScalingGroupName>`,
		`<SuspendedProcesses></SuspendedProcesses>`,
		`<ResponseMetadata><RequestId>`,
	} {
		if !strings.Contains(x.body, want) {
			t.Errorf("response lacks %s:\n%s", want, x.body)
		}
	}

	// Tag filters.
	out, err := c.asg.DescribeAutoScalingGroups(context.Background(), &autoscaling.DescribeAutoScalingGroupsInput{
		Filters: []asgtypes.Filter{{Name: aws.String("tag:env"), Values: []string{"prod", "staging"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.AutoScalingGroups) != 1 || aws.ToString(out.AutoScalingGroups[0].AutoScalingGroupName) != "worker" {
		t.Errorf("tag:env=prod matched %d groups", len(out.AutoScalingGroups))
	}
	out, err = c.asg.DescribeAutoScalingGroups(context.Background(), &autoscaling.DescribeAutoScalingGroupsInput{
		Filters: []asgtypes.Filter{{Name: aws.String("tag-key"), Values: []string{"team"}}},
	})
	if err != nil || len(out.AutoScalingGroups) != 1 {
		t.Errorf("tag-key=team: %v, %d groups", err, len(out.AutoScalingGroups))
	}
	// Unknown names are left out, not errors.
	out, err = c.asg.DescribeAutoScalingGroups(context.Background(), &autoscaling.DescribeAutoScalingGroupsInput{
		AutoScalingGroupNames: []string{"nope"},
	})
	if err != nil || len(out.AutoScalingGroups) != 0 {
		t.Errorf("unknown name: %v, %d groups", err, len(out.AutoScalingGroups))
	}
}

func TestDescribeAutoScalingGroupsPagination(t *testing.T) {
	t.Parallel()
	srv, c := setup(t, awsfake.WithClock(awsfake.NewManualClock(epoch)))
	var want []string
	for _, n := range []string{"g1", "g2", "g3", "g4", "g5"} {
		addGroup(t, srv, awsfake.GroupConfig{Name: n, Desired: 1, Min: 0, Max: 1})
		want = append(want, n)
	}
	p := autoscaling.NewDescribeAutoScalingGroupsPaginator(c.asg, &autoscaling.DescribeAutoScalingGroupsInput{MaxRecords: aws.Int32(2)})
	var got []string
	pages := 0
	for p.HasMorePages() {
		out, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, g := range out.AutoScalingGroups {
			got = append(got, aws.ToString(g.AutoScalingGroupName))
		}
	}
	if !slices.Equal(got, want) || pages != 3 {
		t.Errorf("got %v in %d pages, want %v in 3", got, pages, want)
	}

	_, err := c.asg.DescribeAutoScalingGroups(context.Background(), &autoscaling.DescribeAutoScalingGroupsInput{NextToken: aws.String("garbage!")})
	if code := apiCode(t, err); code != "InvalidNextToken" {
		t.Errorf("bad token: code %s", code)
	}
	var typed *asgtypes.InvalidNextToken
	if !errors.As(err, &typed) {
		t.Errorf("bad token: %T is not *types.InvalidNextToken", err)
	}
	_, err = c.asg.DescribeAutoScalingGroups(context.Background(), &autoscaling.DescribeAutoScalingGroupsInput{MaxRecords: aws.Int32(101)})
	if code := apiCode(t, err); code != "ValidationError" {
		t.Errorf("MaxRecords 101: code %s", code)
	}

	// Instances page at most 50; here 2 at a time.
	ip := autoscaling.NewDescribeAutoScalingInstancesPaginator(c.asg, &autoscaling.DescribeAutoScalingInstancesInput{MaxRecords: aws.Int32(2)})
	n := 0
	for ip.HasMorePages() {
		out, err := ip.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range out.AutoScalingInstances {
			if !slices.Contains(want, aws.ToString(in.AutoScalingGroupName)) || aws.ToString(in.LifecycleState) != "InService" {
				t.Errorf("instance %+v", in)
			}
			n++
		}
	}
	if n != 5 {
		t.Errorf("%d instances listed, want 5", n)
	}
}

func TestTerminateInstanceInAutoScalingGroupReplaces(t *testing.T) {
	t.Parallel()
	clock := awsfake.NewManualClock(epoch)
	srv, c := setup(t, awsfake.WithClock(clock), awsfake.WithPendingFor(2*time.Second), awsfake.WithTerminateFor(time.Second))
	addGroup(t, srv, awsfake.GroupConfig{Name: "web", Desired: 2, Min: 1, Max: 4, AZs: []string{"us-east-1a", "us-east-1b"}})
	ctx := context.Background()
	before := describeGroup(t, c, "web")
	victim := aws.ToString(before.Instances[0].InstanceId)
	victimAZ := aws.ToString(before.Instances[0].AvailabilityZone)

	out, err := c.asg.TerminateInstanceInAutoScalingGroup(ctx, &autoscaling.TerminateInstanceInAutoScalingGroupInput{
		InstanceId: aws.String(victim), ShouldDecrementDesiredCapacity: aws.Bool(false),
	})
	if err != nil {
		t.Fatal(err)
	}
	a := out.Activity
	if a == nil || aws.ToString(a.ActivityId) == "" || a.StatusCode != asgtypes.ScalingActivityStatusCodeInProgress ||
		aws.ToString(a.Description) != "Terminating EC2 instance: "+victim || aws.ToString(a.AutoScalingGroupName) != "web" ||
		!strings.Contains(aws.ToString(a.Cause), "taken out of service in response to a user request") || !a.StartTime.Equal(epoch) {
		t.Fatalf("activity %+v", a)
	}
	if x := c.rec.last(t, "TerminateInstanceInAutoScalingGroup"); x.form.Get("ShouldDecrementDesiredCapacity") != "false" {
		t.Errorf("form %v", x.form)
	}

	g := describeGroup(t, c, "web")
	if n := lifecycles(g); n[asgtypes.LifecycleStateTerminating] != 1 || n[asgtypes.LifecycleStateInService] != 1 || aws.ToInt32(g.DesiredCapacity) != 2 {
		t.Fatalf("right after: %v, desired %d", n, aws.ToInt32(g.DesiredCapacity))
	}
	// No replacement while the instance is still terminating.
	clock.Advance(999 * time.Millisecond)
	if n := lifecycles(describeGroup(t, c, "web")); n[asgtypes.LifecycleStatePending] != 0 {
		t.Fatalf("replacement launched before the instance terminated: %v", n)
	}
	clock.Advance(time.Millisecond)
	g = describeGroup(t, c, "web")
	var replacement string
	for _, in := range g.Instances {
		if aws.ToString(in.InstanceId) == victim {
			t.Fatalf("terminated instance still in the group: %+v", in)
		}
		if in.LifecycleState == asgtypes.LifecycleStatePending {
			replacement = aws.ToString(in.InstanceId)
			if aws.ToString(in.AvailabilityZone) != victimAZ {
				t.Errorf("replacement in %s, want the emptied zone %s", aws.ToString(in.AvailabilityZone), victimAZ)
			}
		}
	}
	if replacement == "" {
		t.Fatalf("no Pending replacement after termination: %v", lifecycles(g))
	}
	clock.Advance(2 * time.Second)
	if n := lifecycles(describeGroup(t, c, "web")); n[asgtypes.LifecycleStateInService] != 2 {
		t.Fatalf("after PendingFor: %v", n)
	}

	// The fake's own account of it.
	d, ok := srv.LastRecovery("web")
	if !ok || d != 3*time.Second {
		t.Errorf("LastRecovery = %v, %v; want 3s (1s terminating + 2s pending)", d, ok)
	}
	var kinds []awsfake.EventKind
	for _, e := range srv.History("web") {
		if e.InstanceID == victim || e.InstanceID == replacement {
			kinds = append(kinds, e.Kind)
		}
	}
	want := []awsfake.EventKind{awsfake.EventLaunched, awsfake.EventInService, awsfake.EventTerminating,
		awsfake.EventTerminated, awsfake.EventLaunched, awsfake.EventInService}
	if !slices.Equal(kinds, want) {
		t.Errorf("history %v, want %v", kinds, want)
	}

	// Activities: newest first, the launch done, the termination done.
	acts, err := c.asg.DescribeScalingActivities(ctx, &autoscaling.DescribeScalingActivitiesInput{AutoScalingGroupName: aws.String("web")})
	if err != nil {
		t.Fatal(err)
	}
	if len(acts.Activities) != 4 {
		t.Fatalf("%d activities, want 4", len(acts.Activities))
	}
	first, second := acts.Activities[0], acts.Activities[1]
	if aws.ToString(first.Description) != "Launching a new EC2 instance: "+replacement || first.StatusCode != asgtypes.ScalingActivityStatusCodeSuccessful ||
		aws.ToInt32(first.Progress) != 100 || first.EndTime == nil || !first.EndTime.Equal(epoch.Add(3*time.Second)) {
		t.Errorf("newest activity %+v", first)
	}
	if aws.ToString(second.ActivityId) != aws.ToString(a.ActivityId) || second.StatusCode != asgtypes.ScalingActivityStatusCodeSuccessful {
		t.Errorf("second activity %+v, want the termination, successful", second)
	}

	// Terminating it again, or a stranger, is an error.
	_, err = c.asg.TerminateInstanceInAutoScalingGroup(ctx, &autoscaling.TerminateInstanceInAutoScalingGroupInput{
		InstanceId: aws.String(victim), ShouldDecrementDesiredCapacity: aws.Bool(false),
	})
	if code := apiCode(t, err); code != "ValidationError" {
		t.Errorf("terminating a gone instance: code %s", code)
	}
}

func TestTerminateWithDecrement(t *testing.T) {
	t.Parallel()
	clock := awsfake.NewManualClock(epoch)
	srv, c := setup(t, awsfake.WithClock(clock))
	addGroup(t, srv, awsfake.GroupConfig{Name: "web", Desired: 3, Min: 2, Max: 4})
	ctx := context.Background()
	g := describeGroup(t, c, "web")
	terminate := func(id string) error {
		_, err := c.asg.TerminateInstanceInAutoScalingGroup(ctx, &autoscaling.TerminateInstanceInAutoScalingGroupInput{
			InstanceId: aws.String(id), ShouldDecrementDesiredCapacity: aws.Bool(true),
		})
		return err
	}
	if err := terminate(aws.ToString(g.Instances[0].InstanceId)); err != nil {
		t.Fatal(err)
	}
	clock.Advance(10 * time.Second)
	g = describeGroup(t, c, "web")
	if aws.ToInt32(g.DesiredCapacity) != 2 || len(g.Instances) != 2 || lifecycles(g)[asgtypes.LifecycleStateInService] != 2 {
		t.Fatalf("after decrement: desired %d, %v", aws.ToInt32(g.DesiredCapacity), lifecycles(g))
	}
	// The next would go under MinSize.
	err := terminate(aws.ToString(g.Instances[0].InstanceId))
	if code := apiCode(t, err); code != "ValidationError" || !strings.Contains(err.Error(), "min size") {
		t.Errorf("under min: %v", err)
	}
	// Terminating an instance already terminating is a scaling activity in progress.
	id := aws.ToString(g.Instances[1].InstanceId)
	if _, err := c.asg.TerminateInstanceInAutoScalingGroup(ctx, &autoscaling.TerminateInstanceInAutoScalingGroupInput{
		InstanceId: aws.String(id), ShouldDecrementDesiredCapacity: aws.Bool(false),
	}); err != nil {
		t.Fatal(err)
	}
	_, err = c.asg.TerminateInstanceInAutoScalingGroup(ctx, &autoscaling.TerminateInstanceInAutoScalingGroupInput{
		InstanceId: aws.String(id), ShouldDecrementDesiredCapacity: aws.Bool(false),
	})
	var inProgress *asgtypes.ScalingActivityInProgressFault
	if !errors.As(err, &inProgress) {
		t.Errorf("second termination: %v (%T), want ScalingActivityInProgressFault", err, err)
	}
	// A missing required member.
	_, err = c.asg.TerminateInstanceInAutoScalingGroup(ctx, &autoscaling.TerminateInstanceInAutoScalingGroupInput{
		InstanceId: aws.String("i-0123456789abcdef0"), ShouldDecrementDesiredCapacity: aws.Bool(false),
	})
	if code := apiCode(t, err); code != "ValidationError" || !strings.Contains(err.Error(), "No managed instance found") {
		t.Errorf("unknown instance: %v", err)
	}
}

func TestSetDesiredCapacity(t *testing.T) {
	t.Parallel()
	clock := awsfake.NewManualClock(epoch)
	srv, c := setup(t, awsfake.WithClock(clock), awsfake.WithPendingFor(time.Second), awsfake.WithTerminateFor(time.Second))
	addGroup(t, srv, awsfake.GroupConfig{Name: "web", Desired: 2, Min: 1, Max: 4, AZs: []string{"us-east-1a", "us-east-1b"}})
	ctx := context.Background()
	set := func(n int32) error {
		_, err := c.asg.SetDesiredCapacity(ctx, &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: aws.String("web"), DesiredCapacity: aws.Int32(n)})
		return err
	}
	if err := set(4); err != nil {
		t.Fatal(err)
	}
	if x := c.rec.last(t, "SetDesiredCapacity"); !strings.Contains(x.body, "<SetDesiredCapacityResponse") || strings.Contains(x.body, "SetDesiredCapacityResult") {
		t.Errorf("unit response body %s", x.body)
	}
	g := describeGroup(t, c, "web")
	if n := lifecycles(g); n[asgtypes.LifecycleStatePending] != 2 || aws.ToInt32(g.DesiredCapacity) != 4 {
		t.Fatalf("after scale out: %v", n)
	}
	if rs := srv.Recoveries("web"); len(rs) != 1 || !rs[0].End.IsZero() {
		t.Fatalf("recoveries during scale out: %+v", rs)
	}
	clock.Advance(time.Second)
	perAZ := map[string]int{}
	for _, in := range describeGroup(t, c, "web").Instances {
		perAZ[aws.ToString(in.AvailabilityZone)]++
	}
	if perAZ["us-east-1a"] != 2 || perAZ["us-east-1b"] != 2 {
		t.Errorf("zones %v, want 2 and 2", perAZ)
	}
	if err := set(1); err != nil {
		t.Fatal(err)
	}
	if n := lifecycles(describeGroup(t, c, "web")); n[asgtypes.LifecycleStateTerminating] != 3 {
		t.Fatalf("after scale in: %v", n)
	}
	clock.Advance(time.Second)
	if g := describeGroup(t, c, "web"); len(g.Instances) != 1 {
		t.Fatalf("after scale in: %d instances", len(g.Instances))
	}
	for _, bad := range []int32{0, 5} {
		if code := apiCode(t, set(bad)); code != "ValidationError" {
			t.Errorf("desired %d: code %s", bad, code)
		}
	}
	_, err := c.asg.SetDesiredCapacity(ctx, &autoscaling.SetDesiredCapacityInput{AutoScalingGroupName: aws.String("nope"), DesiredCapacity: aws.Int32(1)})
	if code := apiCode(t, err); code != "ValidationError" {
		t.Errorf("unknown group: code %s", code)
	}
}

func TestSuspendAndResumeProcesses(t *testing.T) {
	t.Parallel()
	clock := awsfake.NewManualClock(epoch)
	srv, c := setup(t, awsfake.WithClock(clock), awsfake.WithPendingFor(time.Second), awsfake.WithTerminateFor(time.Second))
	addGroup(t, srv, awsfake.GroupConfig{Name: "web", Desired: 2, Min: 1, Max: 4})
	ctx := context.Background()

	if _, err := c.asg.SuspendProcesses(ctx, &autoscaling.SuspendProcessesInput{
		AutoScalingGroupName: aws.String("web"), ScalingProcesses: []string{"Launch", "AZRebalance"},
	}); err != nil {
		t.Fatal(err)
	}
	if x := c.rec.last(t, "SuspendProcesses"); x.form.Get("ScalingProcesses.member.1") != "Launch" {
		t.Errorf("form %v", x.form)
	}
	g := describeGroup(t, c, "web")
	var names []string
	for _, p := range g.SuspendedProcesses {
		names = append(names, aws.ToString(p.ProcessName))
		if !strings.HasPrefix(aws.ToString(p.SuspensionReason), "User suspended at ") {
			t.Errorf("reason %q", aws.ToString(p.SuspensionReason))
		}
	}
	if !slices.Equal(names, []string{"AZRebalance", "Launch"}) {
		t.Fatalf("suspended %v", names)
	}

	victim := aws.ToString(g.Instances[0].InstanceId)
	if _, err := c.asg.TerminateInstanceInAutoScalingGroup(ctx, &autoscaling.TerminateInstanceInAutoScalingGroupInput{
		InstanceId: aws.String(victim), ShouldDecrementDesiredCapacity: aws.Bool(false),
	}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	if g := describeGroup(t, c, "web"); len(g.Instances) != 1 {
		t.Fatalf("with Launch suspended: %d instances, want 1 (no replacement)", len(g.Instances))
	}
	if rs := srv.Recoveries("web"); len(rs) != 1 || !rs[0].End.IsZero() {
		t.Fatalf("recoveries %+v, want one open", rs)
	}

	// Resume everything: an empty list means all processes.
	if _, err := c.asg.ResumeProcesses(ctx, &autoscaling.ResumeProcessesInput{AutoScalingGroupName: aws.String("web")}); err != nil {
		t.Fatal(err)
	}
	g = describeGroup(t, c, "web")
	if len(g.SuspendedProcesses) != 0 || lifecycles(g)[asgtypes.LifecycleStatePending] != 1 {
		t.Fatalf("after resume: suspended %v, %v", g.SuspendedProcesses, lifecycles(g))
	}
	clock.Advance(time.Second)
	if d, ok := srv.LastRecovery("web"); !ok || d != time.Minute+time.Second {
		t.Errorf("LastRecovery %v, %v; want 1m1s", d, ok)
	}

	// Suspend all, then unknown names and groups.
	if _, err := c.asg.SuspendProcesses(ctx, &autoscaling.SuspendProcessesInput{AutoScalingGroupName: aws.String("web")}); err != nil {
		t.Fatal(err)
	}
	if st, _ := srv.Group("web"); len(st.SuspendedProcesses) != 9 {
		t.Errorf("suspend all: %v", st.SuspendedProcesses)
	}
	_, err := c.asg.SuspendProcesses(ctx, &autoscaling.SuspendProcessesInput{AutoScalingGroupName: aws.String("web"), ScalingProcesses: []string{"Nope"}})
	if code := apiCode(t, err); code != "ValidationError" {
		t.Errorf("unknown process: %s", code)
	}
	_, err = c.asg.ResumeProcesses(ctx, &autoscaling.ResumeProcessesInput{AutoScalingGroupName: aws.String("nope")})
	if code := apiCode(t, err); code != "ValidationError" {
		t.Errorf("unknown group: %s", code)
	}
}

func TestTags(t *testing.T) {
	t.Parallel()
	clock := awsfake.NewManualClock(epoch)
	srv, c := setup(t, awsfake.WithClock(clock))
	addGroup(t, srv, awsfake.GroupConfig{Name: "web", Desired: 1, Min: 0, Max: 2, Tags: map[string]string{"env": "test"}})
	addGroup(t, srv, awsfake.GroupConfig{Name: "db", Desired: 0, Min: 0, Max: 1, Tags: map[string]string{"env": "prod"}})
	ctx := context.Background()
	if _, err := c.asg.CreateOrUpdateTags(ctx, &autoscaling.CreateOrUpdateTagsInput{Tags: []asgtypes.Tag{
		{ResourceId: aws.String("web"), ResourceType: aws.String("auto-scaling-group"), Key: aws.String("owner"), Value: aws.String("me"), PropagateAtLaunch: aws.Bool(true)},
		{ResourceId: aws.String("web"), ResourceType: aws.String("auto-scaling-group"), Key: aws.String("env"), Value: aws.String("staging"), PropagateAtLaunch: aws.Bool(false)},
	}}); err != nil {
		t.Fatal(err)
	}
	out, err := c.asg.DescribeTags(ctx, &autoscaling.DescribeTagsInput{Filters: []asgtypes.Filter{
		{Name: aws.String("auto-scaling-group"), Values: []string{"web"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, tg := range out.Tags {
		got[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
	}
	if len(got) != 2 || got["env"] != "staging" || got["owner"] != "me" {
		t.Errorf("tags of web: %v", got)
	}
	out, err = c.asg.DescribeTags(ctx, &autoscaling.DescribeTagsInput{Filters: []asgtypes.Filter{{Name: aws.String("value"), Values: []string{"prod"}}}})
	if err != nil || len(out.Tags) != 1 || aws.ToString(out.Tags[0].ResourceId) != "db" {
		t.Errorf("value=prod: %v %+v", err, out.Tags)
	}
	_, err = c.asg.CreateOrUpdateTags(ctx, &autoscaling.CreateOrUpdateTagsInput{Tags: []asgtypes.Tag{
		{ResourceId: aws.String("nope"), ResourceType: aws.String("auto-scaling-group"), Key: aws.String("k")},
	}})
	if code := apiCode(t, err); code != "ValidationError" {
		t.Errorf("unknown group: %s", code)
	}
}
