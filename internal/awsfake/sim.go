package awsfake

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"time"
)

// Sentinel errors of the seeding and inspection methods.
var (
	// ErrGroupExists is returned by AddGroup for a name already in use.
	ErrGroupExists = errors.New("awsfake: group already exists")
	// ErrInvalidGroup is returned by AddGroup for an inconsistent config.
	ErrInvalidGroup = errors.New("awsfake: invalid group config")
)

// Auto Scaling lifecycle states and health statuses the fake uses.
const (
	LifecyclePending     = "Pending"
	LifecycleInService   = "InService"
	LifecycleTerminating = "Terminating"
	HealthHealthy        = "Healthy"
	HealthUnhealthy      = "Unhealthy"
)

// Scaling processes, as SuspendProcesses and ResumeProcesses name them.
const (
	ProcessLaunch            = "Launch"
	ProcessTerminate         = "Terminate"
	ProcessHealthCheck       = "HealthCheck"
	ProcessReplaceUnhealthy  = "ReplaceUnhealthy"
	ProcessAZRebalance       = "AZRebalance"
	ProcessAlarmNotification = "AlarmNotification"
	ProcessScheduledActions  = "ScheduledActions"
	ProcessAddToLoadBalancer = "AddToLoadBalancer"
	ProcessInstanceRefresh   = "InstanceRefresh"
)

// allProcesses is every process name the API accepts, in the order AWS
// documents them.
var allProcesses = []string{
	ProcessLaunch, ProcessTerminate, ProcessAddToLoadBalancer, ProcessAlarmNotification,
	ProcessAZRebalance, ProcessHealthCheck, ProcessInstanceRefresh, ProcessReplaceUnhealthy,
	ProcessScheduledActions,
}

// ec2State is an EC2 instance state with its code.
type ec2State struct {
	code int
	name string
}

var (
	statePending      = ec2State{0, "pending"}
	stateRunning      = ec2State{16, "running"}
	stateShuttingDown = ec2State{32, "shutting-down"}
	stateTerminated   = ec2State{48, "terminated"}
)

const accountID = "123456789012"

// GroupConfig seeds an Auto Scaling group. Its Desired instances start
// InService and Healthy.
type GroupConfig struct {
	Name                   string
	Desired, Min, Max      int
	AZs                    []string          // default: the region's a, b and c zones
	Tags                   map[string]string // propagated to the group's instances at launch
	InstanceType           string            // default t3.micro
	PendingFor             time.Duration     // Pending to InService; 0: the server's
	TerminateFor           time.Duration     // Terminating to gone; 0: the server's
	SuspendedProcesses     []string          // suspended from the start
	HealthCheckGracePeriod time.Duration     // reported only; default 300 s
}

// EventKind says what happened in a group.
type EventKind string

// The kinds of Event.
const (
	EventLaunched       EventKind = "Launched"       // an instance was launched and is Pending
	EventInService      EventKind = "InService"      // an instance went InService
	EventUnhealthy      EventKind = "Unhealthy"      // the health check marked an instance Unhealthy
	EventTerminating    EventKind = "Terminating"    // an instance went Terminating
	EventTerminated     EventKind = "Terminated"     // an instance left the group
	EventDesiredChanged EventKind = "DesiredChanged" // the desired capacity changed
	EventSuspended      EventKind = "Suspended"      // a scaling process was suspended
	EventResumed        EventKind = "Resumed"        // a scaling process was resumed
)

// Event is one thing that happened in a group, at the simulated time it
// happened (not when it was observed).
type Event struct {
	Time       time.Time
	Kind       EventKind
	InstanceID string // "" for group events
	AZ         string
	Detail     string // the process name, the cause, or "3 -> 2" for desired
	Healthy    int    // InService and Healthy instances after the event
	Desired    int    // desired capacity after the event
}

// Recovery is a span during which a group had fewer InService and Healthy
// instances than its desired capacity.
type Recovery struct {
	Start time.Time // when the count first fell below desired
	End   time.Time // when it was back to desired; zero while still short
}

// Duration is End - Start, or 0 while the recovery is still open.
func (r Recovery) Duration() time.Duration {
	if r.End.IsZero() {
		return 0
	}
	return r.End.Sub(r.Start)
}

// InstanceStatus is a snapshot of one instance of a group.
type InstanceStatus struct {
	ID             string
	AZ             string
	LifecycleState string // Pending, InService, Terminating
	HealthStatus   string // Healthy, Unhealthy
	State          string // EC2 state: pending, running, shutting-down, terminated
	LaunchedAt     time.Time
	InServiceAt    time.Time // zero until InService
}

// GroupStatus is a snapshot of a group.
type GroupStatus struct {
	Name               string
	Desired, Min, Max  int
	Instances          []InstanceStatus // in launch order
	SuspendedProcesses []string         // sorted
	Healthy            int              // InService and Healthy instances
}

type groupTag struct {
	key, value string
	propagate  bool
}

type activity struct {
	seq                 int
	id, group, groupARN string
	description, cause  string
	details             string
	start, end          time.Time
	status              string
	progress            int
}

type group struct {
	name, arn                string
	min, max, desired        int
	azs                      []string
	instanceType             string
	pendingFor, terminateFor time.Duration
	grace                    time.Duration
	tags                     []groupTag // sorted by key
	created                  time.Time
	suspended                map[string]time.Time
	members                  []*instance // in launch order
	activities               []*activity // in start order
	events                   []Event
	recoveries               []Recovery
	launchTemplateID         string
}

type instance struct {
	seq                                  int
	id, reservation, az, instanceType    string
	subnet, vpc, privateIP, clientToken  string
	group                                *group // nil once out of its group
	groupName                            string
	lifecycle, health                    string
	state                                ec2State
	launchedAt, inServiceAt              time.Time
	readyAt, goneAt                      time.Time // pending transitions; zero when none
	terminatedAt                         time.Time
	reason, stateReasonCode, stateReason string
	tags                                 [][2]string // EC2 tags, sorted by key
	launchAct, termAct                   *activity
}

// world is the simulated account and region.
type world struct {
	mu        sync.Mutex
	clock     Clock
	rng       *rand.Rand
	region    string
	pending   time.Duration
	terminate time.Duration
	retention time.Duration
	groups    map[string]*group
	instances map[string]*instance
	seq       int
	actSeq    int
}

// do runs fn under the lock at the current time, with the simulation caught
// up before and after.
func (w *world) do(fn func(now time.Time)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.clock.Now()
	w.advance(now)
	fn(now)
	w.advance(now)
}

// hexID returns prefix-0 followed by 16 hex digits: the 17-digit ids EC2
// gives instances and reservations.
func (w *world) hexID(prefix string) string { return fmt.Sprintf("%s-0%016x", prefix, w.rng.Uint64()) }

// uuid returns a random (version 4 shaped) UUID from the world's source.
func (w *world) uuid() string {
	a, b := w.rng.Uint64(), w.rng.Uint64()
	return fmt.Sprintf("%08x-%04x-4%03x-%04x-%012x", a>>32, (a>>16)&0xffff, a&0xfff, 0x8000|(b>>48)&0x3fff, b&0xffffffffffff)
}

// addGroup seeds a group; see Server.AddGroup.
func (w *world) addGroup(cfg GroupConfig) error {
	if cfg.Name == "" || len(cfg.Name) > 255 {
		return fmt.Errorf("%w: name %q", ErrInvalidGroup, cfg.Name)
	}
	if cfg.Min < 0 || cfg.Max < cfg.Min || cfg.Desired < cfg.Min || cfg.Desired > cfg.Max {
		return fmt.Errorf("%w: %s: want 0 <= min (%d) <= desired (%d) <= max (%d)", ErrInvalidGroup, cfg.Name, cfg.Min, cfg.Desired, cfg.Max)
	}
	for _, p := range cfg.SuspendedProcesses {
		if !slices.Contains(allProcesses, p) {
			return fmt.Errorf("%w: %s: unknown process %q", ErrInvalidGroup, cfg.Name, p)
		}
	}
	var err error
	w.do(func(now time.Time) {
		if _, ok := w.groups[cfg.Name]; ok {
			err = fmt.Errorf("%w: %s", ErrGroupExists, cfg.Name)
			return
		}
		g := &group{
			name:             cfg.Name,
			min:              cfg.Min,
			max:              cfg.Max,
			azs:              slices.Clone(cfg.AZs),
			instanceType:     cfg.InstanceType,
			pendingFor:       cfg.PendingFor,
			terminateFor:     cfg.TerminateFor,
			grace:            cfg.HealthCheckGracePeriod,
			created:          now,
			suspended:        map[string]time.Time{},
			launchTemplateID: w.hexID("lt"),
		}
		g.arn = fmt.Sprintf("arn:aws:autoscaling:%s:%s:autoScalingGroup:%s:autoScalingGroupName/%s", w.region, accountID, w.uuid(), g.name)
		if len(g.azs) == 0 {
			g.azs = []string{w.region + "a", w.region + "b", w.region + "c"}
		}
		if g.instanceType == "" {
			g.instanceType = "t3.micro"
		}
		if g.pendingFor <= 0 {
			g.pendingFor = w.pending
		}
		if g.terminateFor <= 0 {
			g.terminateFor = w.terminate
		}
		if g.grace <= 0 {
			g.grace = 300 * time.Second
		}
		for k, v := range cfg.Tags {
			g.tags = append(g.tags, groupTag{key: k, value: v, propagate: true})
		}
		sortTags(g.tags)
		for _, p := range cfg.SuspendedProcesses {
			g.suspended[p] = now
		}
		w.groups[g.name] = g
		g.desired = cfg.Desired
		for range cfg.Desired {
			in := w.launch(g, now)
			w.ready(in, now) // seeded instances start in service
		}
		w.track(g, now)
	})
	return err
}

func sortTags(tags []groupTag) {
	sort.Slice(tags, func(i, j int) bool { return tags[i].key < tags[j].key })
}

// advance applies, in time order, every transition due at or before now,
// running each group's controller after each step.
func (w *world) advance(now time.Time) {
	for {
		var next time.Time
		for _, in := range w.instances {
			for _, t := range []time.Time{in.readyAt, in.goneAt} {
				if !t.IsZero() && !t.After(now) && (next.IsZero() || t.Before(next)) {
					next = t
				}
			}
		}
		if next.IsZero() {
			break
		}
		for _, in := range w.sortedInstances() {
			if in.readyAt.Equal(next) {
				w.ready(in, next)
			}
			if in.goneAt.Equal(next) {
				w.gone(in, next)
			}
		}
		w.reconcileAll(next)
	}
	for id, in := range w.instances {
		if in.state == stateTerminated && in.group == nil && !in.terminatedAt.Add(w.retention).After(now) {
			delete(w.instances, id)
		}
	}
}

// sortedInstances returns every instance in launch order.
func (w *world) sortedInstances() []*instance {
	out := make([]*instance, 0, len(w.instances))
	for _, in := range w.instances {
		out = append(out, in)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].seq < out[j].seq })
	return out
}

func (w *world) sortedGroups() []*group {
	out := make([]*group, 0, len(w.groups))
	for _, g := range w.groups {
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

func (w *world) reconcileAll(now time.Time) {
	for _, g := range w.sortedGroups() {
		w.reconcile(g, now)
	}
}

// ready ends an instance's boot: EC2 running, and InService in its group.
func (w *world) ready(in *instance, now time.Time) {
	in.readyAt = time.Time{}
	if in.state != statePending {
		return
	}
	in.state = stateRunning
	if g := in.group; g != nil && in.lifecycle == LifecyclePending {
		in.lifecycle = LifecycleInService
		in.inServiceAt = now
		finish(in.launchAct, now)
		w.note(g, now, EventInService, in, "")
	}
}

// gone ends an instance's shutdown: EC2 terminated, and out of its group
// if the group was terminating it.
func (w *world) gone(in *instance, now time.Time) {
	in.goneAt = time.Time{}
	in.state = stateTerminated
	in.terminatedAt = now
	in.privateIP, in.subnet, in.vpc = "", "", ""
	if in.group != nil && in.lifecycle == LifecycleTerminating {
		w.remove(in, now)
	}
}

// remove takes a Terminating instance out of its group.
func (w *world) remove(in *instance, now time.Time) {
	g := in.group
	g.members = slices.DeleteFunc(g.members, func(m *instance) bool { return m == in })
	in.group = nil
	finish(in.termAct, now)
	w.note(g, now, EventTerminated, in, "")
}

func finish(a *activity, now time.Time) {
	if a == nil || a.status != "InProgress" {
		return
	}
	a.status, a.progress, a.end = "Successful", 100, now
}

func (g *group) isSuspended(p string) bool {
	_, ok := g.suspended[p]
	return ok
}

// reconcile is the group's controller: health check, replacement of
// unhealthy instances, scale in and scale out, as its processes allow.
func (w *world) reconcile(g *group, now time.Time) {
	if !g.isSuspended(ProcessHealthCheck) {
		for _, in := range g.members {
			if in.health == HealthHealthy && in.lifecycle != LifecycleTerminating &&
				(in.state == stateShuttingDown || in.state == stateTerminated) {
				in.health = HealthUnhealthy
				w.note(g, now, EventUnhealthy, in, "EC2 health check: instance "+in.state.name)
			}
		}
	}
	if !g.isSuspended(ProcessReplaceUnhealthy) && !g.isSuspended(ProcessTerminate) {
		for _, in := range slices.Clone(g.members) {
			if in.health == HealthUnhealthy && in.lifecycle != LifecycleTerminating {
				cause := fmt.Sprintf("At %s an instance was taken out of service in response to an EC2 health check indicating it has been terminated or stopped.", isoSeconds(now))
				w.startTermination(in, now, cause)
			}
		}
	}
	if !g.isSuspended(ProcessTerminate) {
		for w.active(g) > g.desired {
			victim := w.scaleInVictim(g)
			cause := fmt.Sprintf("At %s an instance was taken out of service in response to a difference between desired and actual capacity, shrinking the capacity from %d to %d.  At %s instance %s was selected for termination.",
				isoSeconds(now), w.active(g), g.desired, isoSeconds(now), victim.id)
			w.startTermination(victim, now, cause)
		}
	}
	if !g.isSuspended(ProcessLaunch) {
		for len(g.members) < g.desired {
			w.launch(g, now)
		}
	}
	w.track(g, now)
}

// active counts the members that are not Terminating.
func (w *world) active(g *group) int {
	n := 0
	for _, in := range g.members {
		if in.lifecycle != LifecycleTerminating {
			n++
		}
	}
	return n
}

// perAZ counts the members that are not Terminating in each zone.
func perAZ(g *group) map[string]int {
	n := map[string]int{}
	for _, in := range g.members {
		if in.lifecycle != LifecycleTerminating {
			n[in.az]++
		}
	}
	return n
}

// scaleInVictim picks the oldest instance of the zone with the most.
func (w *world) scaleInVictim(g *group) *instance {
	counts := perAZ(g)
	best := ""
	for _, az := range g.azs {
		if best == "" || counts[az] > counts[best] {
			best = az
		}
	}
	for _, in := range g.members {
		if in.lifecycle != LifecycleTerminating && in.az == best {
			return in
		}
	}
	for _, in := range g.members { // a zone no longer listed
		if in.lifecycle != LifecycleTerminating {
			return in
		}
	}
	return nil
}

// launch starts a new instance in the group's least populated zone.
func (w *world) launch(g *group, now time.Time) *instance {
	counts := perAZ(g)
	az := g.azs[0]
	for _, z := range g.azs[1:] {
		if counts[z] < counts[az] {
			az = z
		}
	}
	w.seq++
	in := &instance{
		seq:          w.seq,
		id:           w.hexID("i"),
		reservation:  w.hexID("r"),
		az:           az,
		instanceType: g.instanceType,
		subnet:       stableID("subnet", az),
		vpc:          stableID("vpc", w.region),
		privateIP:    fmt.Sprintf("10.0.%d.%d", (w.seq/250)%250, 4+w.seq%250),
		clientToken:  w.uuid(),
		group:        g,
		groupName:    g.name,
		lifecycle:    LifecyclePending,
		health:       HealthHealthy,
		state:        statePending,
		launchedAt:   now,
		readyAt:      now.Add(g.pendingFor),
	}
	for _, t := range g.tags {
		if t.propagate {
			in.tags = append(in.tags, [2]string{t.key, t.value})
		}
	}
	in.tags = append(in.tags, [2]string{"aws:autoscaling:groupName", g.name})
	sort.Slice(in.tags, func(i, j int) bool { return in.tags[i][0] < in.tags[j][0] })
	from := len(g.members)
	g.members = append(g.members, in)
	w.instances[in.id] = in
	in.launchAct = w.newActivity(g, now,
		"Launching a new EC2 instance: "+in.id,
		fmt.Sprintf("At %s an instance was started in response to a difference between desired and actual capacity, increasing the capacity from %d to %d.", isoSeconds(now), from, from+1),
		in)
	w.note(g, now, EventLaunched, in, "")
	return in
}

// startTermination moves a member to Terminating and, unless EC2 is
// already shutting it down, starts that.
func (w *world) startTermination(in *instance, now time.Time, cause string) *activity {
	g := in.group
	in.lifecycle = LifecycleTerminating
	in.termAct = w.newActivity(g, now, "Terminating EC2 instance: "+in.id, cause, in)
	w.note(g, now, EventTerminating, in, "")
	switch in.state {
	case statePending, stateRunning:
		w.shutdown(in, now, g.terminateFor)
	case stateTerminated:
		w.remove(in, now)
	}
	return in.termAct
}

// shutdown moves an instance to EC2 shutting-down, terminated after d.
func (w *world) shutdown(in *instance, now time.Time, d time.Duration) {
	in.readyAt = time.Time{}
	in.state = stateShuttingDown
	in.goneAt = now.Add(d)
	in.reason = "User initiated (" + now.UTC().Format("2006-01-02 15:04:05") + " GMT)"
	in.stateReasonCode = "Client.UserInitiatedShutdown"
	in.stateReason = "Client.UserInitiatedShutdown: User initiated shutdown"
}

func (w *world) newActivity(g *group, now time.Time, desc, cause string, in *instance) *activity {
	w.actSeq++
	a := &activity{
		seq:         w.actSeq,
		id:          w.uuid(),
		group:       g.name,
		groupARN:    g.arn,
		description: desc,
		cause:       cause,
		details:     fmt.Sprintf(`{"Subnet ID":%q,"Availability Zone":%q}`, in.subnet, in.az),
		start:       now,
		status:      "InProgress",
	}
	g.activities = append(g.activities, a)
	return a
}

// note records an event in g's history.
func (w *world) note(g *group, now time.Time, kind EventKind, in *instance, detail string) {
	e := Event{Time: now, Kind: kind, Detail: detail, Healthy: healthy(g), Desired: g.desired}
	if in != nil {
		e.InstanceID, e.AZ = in.id, in.az
	}
	g.events = append(g.events, e)
}

// healthy counts the InService and Healthy members.
func healthy(g *group) int {
	n := 0
	for _, in := range g.members {
		if in.lifecycle == LifecycleInService && in.health == HealthHealthy {
			n++
		}
	}
	return n
}

// track opens or closes g's current recovery.
func (w *world) track(g *group, now time.Time) {
	short := healthy(g) < g.desired
	open := len(g.recoveries) > 0 && g.recoveries[len(g.recoveries)-1].End.IsZero()
	switch {
	case short && !open:
		g.recoveries = append(g.recoveries, Recovery{Start: now})
	case !short && open:
		g.recoveries[len(g.recoveries)-1].End = now
	}
}

// setDesired changes the desired capacity, recording it.
func (w *world) setDesired(g *group, now time.Time, d int) {
	if d == g.desired {
		return
	}
	old := g.desired
	g.desired = d
	w.note(g, now, EventDesiredChanged, nil, fmt.Sprintf("%d -> %d", old, d))
}

// stableID derives a resource id from a name, the same on every run.
func stableID(prefix, name string) string {
	h := fnv.New64a()
	_, _ = h.Write([]byte(name))
	return fmt.Sprintf("%s-0%016x", prefix, h.Sum64())
}

// isoSeconds formats t the way activity causes quote times.
func isoSeconds(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

// status snapshots g.
func (g *group) status() GroupStatus {
	st := GroupStatus{Name: g.name, Desired: g.desired, Min: g.min, Max: g.max, Healthy: healthy(g)}
	for _, in := range g.members {
		st.Instances = append(st.Instances, InstanceStatus{
			ID: in.id, AZ: in.az, LifecycleState: in.lifecycle, HealthStatus: in.health,
			State: in.state.name, LaunchedAt: in.launchedAt, InServiceAt: in.inServiceAt,
		})
	}
	for p := range g.suspended {
		st.SuspendedProcesses = append(st.SuspendedProcesses, p)
	}
	sort.Strings(st.SuspendedProcesses)
	return st
}
