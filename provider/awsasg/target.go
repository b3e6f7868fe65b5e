package awsasg

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	asgtypes "github.com/aws/aws-sdk-go-v2/service/autoscaling/types"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	ec2types "github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"

	"github.com/chaoslab-dev/chaoslab"
)

// Scaling processes of an Auto Scaling group, as SuspendProcesses takes
// them.
const (
	ProcessLaunch            = "Launch"
	ProcessTerminate         = "Terminate"
	ProcessAddToLoadBalancer = "AddToLoadBalancer"
	ProcessAlarmNotification = "AlarmNotification"
	ProcessAZRebalance       = "AZRebalance"
	ProcessHealthCheck       = "HealthCheck"
	ProcessInstanceRefresh   = "InstanceRefresh"
	ProcessReplaceUnhealthy  = "ReplaceUnhealthy"
	ProcessScheduledActions  = "ScheduledActions"
)

// Processes lists every scaling process, in the order AWS documents them.
func Processes() []string {
	return []string{
		ProcessLaunch, ProcessTerminate, ProcessAddToLoadBalancer, ProcessAlarmNotification,
		ProcessAZRebalance, ProcessHealthCheck, ProcessInstanceRefresh, ProcessReplaceUnhealthy,
		ProcessScheduledActions,
	}
}

// Target is one Auto Scaling group, attached to by Provision. It is a
// chaoslab.Fleet and a chaoslab.Sampler. Its methods are safe for
// concurrent use.
type Target struct {
	id, group, endpoint string
	asg                 *autoscaling.Client
	ec2                 *ec2.Client
	transport           *http.Transport // nil when the caller owns the HTTP client
	logger              *slog.Logger
	noEC2               atomic.Bool // the EC2 health cross-check is off

	// opMu serialises suspensions, resumptions and Close, so that the
	// counts below match what AWS has.
	opMu sync.Mutex
	// mu guards closed and suspended.
	mu     sync.Mutex
	closed bool
	// suspended counts, for each process this target suspended, the
	// Undos that still hold it.
	suspended map[string]int
}

var (
	_ chaoslab.Target  = (*Target)(nil)
	_ chaoslab.Fleet   = (*Target)(nil)
	_ chaoslab.Sampler = (*Target)(nil)
)

// ID names the target: the group's name and a random suffix.
func (t *Target) ID() string { return t.id }

// Endpoint is the base URL of the group's load balancer, or "" when the
// spec gave none.
func (t *Target) Endpoint() string { return t.endpoint }

// Group is the Auto Scaling group's name.
func (t *Target) Group() string { return t.group }

func (t *Target) isClosed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closed
}

func (t *Target) closedErr() error { return fmt.Errorf("awsasg: %w: %s", ErrClosed, t.id) }

// describe returns the group as DescribeAutoScalingGroups has it.
func (t *Target) describe(ctx context.Context) (asgtypes.AutoScalingGroup, error) {
	out, err := t.asg.DescribeAutoScalingGroups(ctx, &autoscaling.DescribeAutoScalingGroupsInput{
		AutoScalingGroupNames: []string{t.group},
	})
	if err != nil {
		return asgtypes.AutoScalingGroup{}, fmt.Errorf("describing group %s: %w", t.group, err)
	}
	for _, g := range out.AutoScalingGroups {
		if aws.ToString(g.AutoScalingGroupName) == t.group {
			return g, nil
		}
	}
	return asgtypes.AutoScalingGroup{}, fmt.Errorf("%w: %s", ErrGroupNotFound, t.group)
}

// snapshot returns the group's desired capacity and its instances.
func (t *Target) snapshot(ctx context.Context) (int, []chaoslab.Instance, error) {
	g, err := t.describe(ctx)
	if err != nil {
		return 0, nil, err
	}
	ids := make([]string, 0, len(g.Instances))
	for _, in := range g.Instances {
		ids = append(ids, aws.ToString(in.InstanceId))
	}
	states, err := t.ec2States(ctx, ids)
	if err != nil {
		return 0, nil, err
	}
	out := make([]chaoslab.Instance, 0, len(g.Instances))
	for _, in := range g.Instances {
		id := aws.ToString(in.InstanceId)
		state := string(in.LifecycleState)
		healthy := in.LifecycleState == asgtypes.LifecycleStateInService &&
			strings.EqualFold(aws.ToString(in.HealthStatus), "Healthy")
		if s, known := states[id]; known && s != ec2types.InstanceStateNameRunning {
			healthy = false
		}
		out = append(out, chaoslab.Instance{ID: id, Zone: aws.ToString(in.AvailabilityZone), State: state, Healthy: healthy})
	}
	return int(aws.ToInt32(g.DesiredCapacity)), out, nil
}

// ec2States returns the EC2 state of the instances EC2 knows, or nothing
// when the EC2 check is off. Without permission for DescribeInstances it
// turns the check off.
func (t *Target) ec2States(ctx context.Context, ids []string) (map[string]ec2types.InstanceStateName, error) {
	states := map[string]ec2types.InstanceStateName{}
	if t.noEC2.Load() || len(ids) == 0 {
		return states, nil
	}
	for chunk := range slices.Chunk(ids, 100) {
		pages := ec2.NewDescribeInstancesPaginator(t.ec2, &ec2.DescribeInstancesInput{
			Filters: []ec2types.Filter{{Name: aws.String("instance-id"), Values: chunk}},
		})
		for pages.HasMorePages() {
			out, err := pages.NextPage(ctx)
			if err != nil {
				var ae smithy.APIError
				if errors.As(err, &ae) && (ae.ErrorCode() == "UnauthorizedOperation" || ae.ErrorCode() == "AccessDenied") {
					if t.noEC2.CompareAndSwap(false, true) {
						t.logger.Warn("no permission for ec2:DescribeInstances: health is the group's view alone", "err", err)
					}
					return map[string]ec2types.InstanceStateName{}, nil
				}
				return nil, fmt.Errorf("describing the instances of group %s: %w", t.group, err)
			}
			for _, r := range out.Reservations {
				for _, in := range r.Instances {
					if in.State != nil {
						states[aws.ToString(in.InstanceId)] = in.State.Name
					}
				}
			}
		}
	}
	return states, nil
}

// Instances lists the group's instances, starting and terminating ones
// included. State is the group's lifecycle state (Pending, InService,
// Terminating...); Healthy says the instance is InService, Healthy and, for
// EC2, running.
func (t *Target) Instances(ctx context.Context) ([]chaoslab.Instance, error) {
	if t.isClosed() {
		return nil, t.closedErr()
	}
	_, ins, err := t.snapshot(ctx)
	if err != nil {
		return nil, fmt.Errorf("awsasg: %w", err)
	}
	return ins, nil
}

// Sample reports the group's desired capacity and how many of its
// instances are healthy (see Instances). It measures nothing else.
func (t *Target) Sample(ctx context.Context) (chaoslab.Sample, error) {
	if t.isClosed() {
		return chaoslab.Sample{}, t.closedErr()
	}
	desired, ins, err := t.snapshot(ctx)
	if err != nil {
		return chaoslab.Sample{}, fmt.Errorf("awsasg: %w", err)
	}
	s := chaoslab.Sample{DesiredCapacity: desired}
	for _, in := range ins {
		if in.Healthy {
			s.HealthyCapacity++
		}
	}
	return s, nil
}

// inactive reports whether a lifecycle state is one of leaving the group.
func inactive(state string) bool {
	return strings.HasPrefix(state, "Terminat") || strings.HasPrefix(state, "Detach")
}

// Terminate terminates the instances through the group
// (TerminateInstanceInAutoScalingGroup), one call each, in the order
// given; with decrement the desired capacity shrinks by one for each, so
// that they are not replaced. Every id must be an active member of the
// group (not already terminating or detaching), else nothing is terminated
// and the error wraps ErrNotMember. If a call fails, the error says which
// instances were terminated before it.
func (t *Target) Terminate(ctx context.Context, ids []string, decrement bool) error {
	if t.isClosed() {
		return t.closedErr()
	}
	if len(ids) == 0 {
		return nil
	}
	_, ins, err := t.snapshot(ctx)
	if err != nil {
		return fmt.Errorf("awsasg: terminate: %w", err)
	}
	members := map[string]chaoslab.Instance{}
	for _, in := range ins {
		members[in.ID] = in
	}
	var bad []string
	seen := map[string]bool{}
	var todo []string
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		todo = append(todo, id)
		in, ok := members[id]
		switch {
		case !ok:
			bad = append(bad, id+" (not a member)")
		case inactive(in.State):
			bad = append(bad, id+" (already "+in.State+")")
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("awsasg: %w %s: %s; nothing was terminated", ErrNotMember, t.group, strings.Join(bad, ", "))
	}
	var done []string
	for _, id := range todo {
		_, err := t.asg.TerminateInstanceInAutoScalingGroup(ctx, &autoscaling.TerminateInstanceInAutoScalingGroupInput{
			InstanceId:                     aws.String(id),
			ShouldDecrementDesiredCapacity: aws.Bool(decrement),
		})
		if err != nil {
			err = withCtx(ctx, err)
			if len(done) > 0 {
				return fmt.Errorf("awsasg: terminating %s in group %s (after terminating %s): %w", id, t.group, strings.Join(done, ", "), err)
			}
			return fmt.Errorf("awsasg: terminating %s in group %s: %w", id, t.group, err)
		}
		done = append(done, id)
		t.logger.Info("terminated instance", "instance", id, "zone", members[id].Zone, "decrement", decrement)
	}
	return nil
}

// SuspendProcesses suspends the group's named scaling processes (see
// Processes; names are matched without regard to case) and returns how to
// resume them. Processes already suspended before, by anyone but this
// target, are left alone and never resumed by it; a process that several
// suspensions of this target hold is resumed when the last of them is
// undone. Undo is idempotent, and works on a context that is already done
// (it then takes a fresh one of its own); what no Undo resumed, Close
// does. An empty list is an error wrapping chaoslab.ErrInvalid (AWS would
// take it to mean every process).
func (t *Target) SuspendProcesses(ctx context.Context, processes []string) (chaoslab.Undo, error) {
	procs, err := canonicalProcesses(processes)
	if err != nil {
		return nil, err
	}
	t.opMu.Lock()
	defer t.opMu.Unlock()
	if t.isClosed() {
		return nil, t.closedErr()
	}
	g, err := t.describe(ctx)
	if err != nil {
		return nil, fmt.Errorf("awsasg: suspend: %w", withCtx(ctx, err))
	}
	already := map[string]bool{}
	for _, sp := range g.SuspendedProcesses {
		already[aws.ToString(sp.ProcessName)] = true
	}
	var mine, fresh []string
	t.mu.Lock()
	for _, p := range procs {
		switch {
		case t.suspended[p] > 0:
			mine = append(mine, p)
		case already[p]:
			t.logger.Info("scaling process already suspended; leaving it as it is", "process", p)
		default:
			mine, fresh = append(mine, p), append(fresh, p)
		}
	}
	t.mu.Unlock()
	if len(fresh) > 0 {
		_, err := t.asg.SuspendProcesses(ctx, &autoscaling.SuspendProcessesInput{
			AutoScalingGroupName: aws.String(t.group),
			ScalingProcesses:     fresh,
		})
		if err != nil {
			// The call may have taken effect before it failed: resume
			// what nobody else had suspended.
			rctx, cancel := freshContext(ctx)
			rerr := t.resumeAPI(rctx, fresh)
			cancel()
			return nil, errors.Join(fmt.Errorf("awsasg: suspending %s of group %s: %w", strings.Join(fresh, ", "), t.group, withCtx(ctx, err)), rerr)
		}
		t.logger.Info("suspended scaling processes", "processes", fresh)
	}
	t.mu.Lock()
	for _, p := range mine {
		t.suspended[p]++
	}
	t.mu.Unlock()
	var done bool // guarded by opMu
	return func(ctx context.Context) error {
		t.opMu.Lock()
		defer t.opMu.Unlock()
		if done {
			return nil
		}
		var last []string
		t.mu.Lock()
		for _, p := range mine {
			if t.suspended[p] == 1 {
				last = append(last, p)
			}
		}
		t.mu.Unlock()
		if len(last) > 0 {
			rctx, cancel := freshContext(ctx)
			err := t.resumeAPI(rctx, last)
			cancel()
			if err != nil {
				return err // still held: a later Undo or Close tries again
			}
		}
		t.mu.Lock()
		for _, p := range mine {
			if t.suspended[p] > 0 {
				if t.suspended[p]--; t.suspended[p] == 0 {
					delete(t.suspended, p)
				}
			}
		}
		t.mu.Unlock()
		done = true
		return nil
	}, nil
}

// Suspended lists the processes this target holds suspended, sorted.
func (t *Target) Suspended() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]string, 0, len(t.suspended))
	for p := range t.suspended {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// resumeAPI resumes processes; never called with an empty list, which
// would resume every process.
func (t *Target) resumeAPI(ctx context.Context, procs []string) error {
	if len(procs) == 0 {
		return nil
	}
	_, err := t.asg.ResumeProcesses(ctx, &autoscaling.ResumeProcessesInput{
		AutoScalingGroupName: aws.String(t.group),
		ScalingProcesses:     procs,
	})
	if err != nil {
		t.logger.Error("resuming scaling processes failed", "processes", procs, "err", err)
		return fmt.Errorf("awsasg: resuming %s of group %s: %w", strings.Join(procs, ", "), t.group, err)
	}
	t.logger.Info("resumed scaling processes", "processes", procs)
	return nil
}

// freshContext returns ctx, or, when ctx is already done, a new context
// bounded by closeTimeout: resuming must not fail because the run was
// cancelled.
func freshContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if ctx.Err() == nil {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(context.WithoutCancel(ctx), closeTimeout)
}

// canonicalProcesses checks process names and spells them as AWS does.
func canonicalProcesses(names []string) ([]string, error) {
	var out, bad []string
	for _, n := range names {
		n = strings.TrimSpace(n)
		i := slices.IndexFunc(Processes(), func(p string) bool { return strings.EqualFold(p, n) })
		if i < 0 {
			bad = append(bad, fmt.Sprintf("%q", n))
			continue
		}
		if p := Processes()[i]; !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("awsasg: %w: %s not scaling processes; processes: %s", chaoslab.ErrInvalid, strings.Join(bad, ", "), strings.Join(Processes(), ", "))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("awsasg: %w: no scaling process named (AWS would suspend them all)", chaoslab.ErrInvalid)
	}
	return out, nil
}

// Close resumes every scaling process the target still holds suspended
// and releases idle connections. It changes nothing else: the group and
// its instances stay as they are. Close is idempotent and safe for
// concurrent use; with a context that is already done it takes a fresh one
// bounded by 30s for the resumption. If resuming fails, the error says so
// and a later Close tries again.
func (t *Target) Close(ctx context.Context) error {
	t.opMu.Lock()
	defer t.opMu.Unlock()
	t.mu.Lock()
	t.closed = true
	procs := make([]string, 0, len(t.suspended))
	for p := range t.suspended {
		procs = append(procs, p)
	}
	t.mu.Unlock()
	slices.Sort(procs)
	var err error
	if len(procs) > 0 {
		rctx, cancel := freshContext(ctx)
		err = t.resumeAPI(rctx, procs)
		cancel()
		if err == nil {
			t.mu.Lock()
			clear(t.suspended)
			t.mu.Unlock()
		}
	}
	t.closeIdle()
	return err
}

// closeIdle closes the idle connections of the transport the provider
// owns; other targets of the provider open new ones as they need.
func (t *Target) closeIdle() {
	if t.transport != nil {
		t.transport.CloseIdleConnections()
	}
}
