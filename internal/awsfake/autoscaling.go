package awsfake

import (
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// asgService is Amazon EC2 Auto Scaling over awsQuery.
var asgService = &service{
	name:    "autoscaling",
	title:   "AutoScaling",
	version: asgVersion,
	actions: map[string]handlerFunc{
		"DescribeAutoScalingGroups":           (*Server).describeAutoScalingGroups,
		"DescribeAutoScalingInstances":        (*Server).describeAutoScalingInstances,
		"TerminateInstanceInAutoScalingGroup": (*Server).terminateInstanceInAutoScalingGroup,
		"SetDesiredCapacity":                  (*Server).setDesiredCapacity,
		"SuspendProcesses":                    (*Server).suspendProcesses,
		"ResumeProcesses":                     (*Server).resumeProcesses,
		"DescribeScalingActivities":           (*Server).describeScalingActivities,
		"CreateOrUpdateTags":                  (*Server).createOrUpdateTags,
		"DescribeTags":                        (*Server).describeTags,
	},
	writeError: writeQueryError,
	invalidAction: func(action string) *APIError {
		return apiErr(http.StatusBadRequest, "InvalidAction", "Could not find operation %s for version %s", action, asgVersion)
	},
	throttled: func() *APIError { return apiErr(http.StatusBadRequest, "Throttling", "Rate exceeded") },
	authError: func(code, msg string) *APIError { return apiErr(http.StatusForbidden, code, "%s", msg) },
}

// Auto Scaling's XML shapes (auto-scaling-2011-01-01.json).

type asgLaunchTemplateXML struct {
	LaunchTemplateID   string `xml:"LaunchTemplateId"`
	LaunchTemplateName string
	Version            string
}

type asgInstanceXML struct {
	InstanceID           string `xml:"InstanceId"`
	InstanceType         string
	AvailabilityZone     string
	LifecycleState       string
	HealthStatus         string
	LaunchTemplate       asgLaunchTemplateXML
	ProtectedFromScaleIn bool
}

type asgSuspendedProcessXML struct {
	ProcessName      string
	SuspensionReason string
}

type asgTagDescriptionXML struct {
	ResourceID        string `xml:"ResourceId"`
	ResourceType      string
	Key               string
	Value             string
	PropagateAtLaunch bool
}

type asgGroupXML struct {
	AutoScalingGroupName             string
	AutoScalingGroupARN              string
	LaunchTemplate                   asgLaunchTemplateXML
	MinSize                          int
	MaxSize                          int
	DesiredCapacity                  int
	DefaultCooldown                  int
	AvailabilityZones                memberList[string]
	LoadBalancerNames                memberList[string]
	TargetGroupARNs                  memberList[string]
	HealthCheckType                  string
	HealthCheckGracePeriod           int
	Instances                        memberList[asgInstanceXML]
	CreatedTime                      string
	SuspendedProcesses               memberList[asgSuspendedProcessXML]
	VPCZoneIdentifier                string
	EnabledMetrics                   memberList[string]
	Tags                             memberList[asgTagDescriptionXML]
	TerminationPolicies              memberList[string]
	NewInstancesProtectedFromScaleIn bool
	ServiceLinkedRoleARN             string
	TrafficSources                   memberList[string]
}

type asgInstanceDetailsXML struct {
	InstanceID           string `xml:"InstanceId"`
	InstanceType         string
	AutoScalingGroupName string
	AvailabilityZone     string
	LifecycleState       string
	HealthStatus         string
	LaunchTemplate       asgLaunchTemplateXML
	ProtectedFromScaleIn bool
}

type asgActivityXML struct {
	ActivityID           string `xml:"ActivityId"`
	AutoScalingGroupName string
	AutoScalingGroupARN  string
	Description          string
	Cause                string
	StartTime            string
	EndTime              string `xml:",omitempty"`
	StatusCode           string
	Progress             int
	Details              string
}

func (g *group) launchTemplate() asgLaunchTemplateXML {
	return asgLaunchTemplateXML{LaunchTemplateID: g.launchTemplateID, LaunchTemplateName: g.name + "-template", Version: "$Default"}
}

func (g *group) xml() asgGroupXML {
	x := asgGroupXML{
		AutoScalingGroupName:   g.name,
		AutoScalingGroupARN:    g.arn,
		LaunchTemplate:         g.launchTemplate(),
		MinSize:                g.min,
		MaxSize:                g.max,
		DesiredCapacity:        g.desired,
		DefaultCooldown:        300,
		AvailabilityZones:      slices.Clone(g.azs),
		HealthCheckType:        "EC2",
		HealthCheckGracePeriod: int(g.grace / time.Second),
		CreatedTime:            timestamp(g.created),
		TerminationPolicies:    memberList[string]{"Default"},
		ServiceLinkedRoleARN:   fmt.Sprintf("arn:aws:iam::%s:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling", accountID),
	}
	var subnets []string
	for _, az := range g.azs {
		subnets = append(subnets, stableID("subnet", az))
	}
	x.VPCZoneIdentifier = strings.Join(subnets, ",")
	for _, in := range g.members {
		x.Instances = append(x.Instances, asgInstanceXML{
			InstanceID: in.id, InstanceType: in.instanceType, AvailabilityZone: in.az,
			LifecycleState: in.lifecycle, HealthStatus: in.health, LaunchTemplate: g.launchTemplate(),
		})
	}
	procs := make([]string, 0, len(g.suspended))
	for p := range g.suspended {
		procs = append(procs, p)
	}
	sort.Strings(procs)
	for _, p := range procs {
		x.SuspendedProcesses = append(x.SuspendedProcesses, asgSuspendedProcessXML{
			ProcessName: p, SuspensionReason: "User suspended at " + isoSeconds(g.suspended[p]),
		})
	}
	for _, t := range g.tags {
		x.Tags = append(x.Tags, g.tagXML(t))
	}
	return x
}

func (g *group) tagXML(t groupTag) asgTagDescriptionXML {
	return asgTagDescriptionXML{ResourceID: g.name, ResourceType: "auto-scaling-group", Key: t.key, Value: t.value, PropagateAtLaunch: t.propagate}
}

func (a *activity) xml() asgActivityXML {
	x := asgActivityXML{
		ActivityID: a.id, AutoScalingGroupName: a.group, AutoScalingGroupARN: a.groupARN,
		Description: a.description, Cause: a.cause, StartTime: timestamp(a.start),
		StatusCode: a.status, Progress: a.progress, Details: a.details,
	}
	if !a.end.IsZero() {
		x.EndTime = timestamp(a.end)
	}
	return x
}

// maxRecords reads MaxRecords, bounded as the model documents.
func maxRecords(f form, def, limit int) (int, *APIError) {
	n, ok, err := f.integer("MaxRecords")
	switch {
	case err != nil:
		return 0, validation("%v", err)
	case !ok:
		return def, nil
	case n < 1:
		return 0, validation("1 validation error detected: Value '%d' at 'maxRecords' failed to satisfy constraint: Member must have value greater than or equal to 1", n)
	case n > limit:
		return 0, validation("1 validation error detected: Value '%d' at 'maxRecords' failed to satisfy constraint: Member must have value less than or equal to %d", n, limit)
	}
	return n, nil
}

func invalidNextToken() *APIError {
	return apiErr(http.StatusBadRequest, "InvalidNextToken", "The token provided is not valid.")
}

func groupNotFound(name string) *APIError {
	return validation("AutoScalingGroup name not found - AutoScalingGroup '%s' not found", name)
}

// required returns a ValidationError for a missing required member.
func required(f form, member, key string) *APIError {
	if f.get(key) == "" {
		return validation("1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", member)
	}
	return nil
}

// groupMatches applies DescribeAutoScalingGroups' tag filters.
func groupMatches(g *group, filters []filter) (bool, *APIError) {
	for _, flt := range filters {
		match := false
		for _, t := range g.tags {
			switch {
			case flt.name == "tag-key":
				match = match || slices.Contains(flt.values, t.key)
			case flt.name == "tag-value":
				match = match || slices.Contains(flt.values, t.value)
			case strings.HasPrefix(flt.name, "tag:"):
				match = match || (t.key == strings.TrimPrefix(flt.name, "tag:") && slices.Contains(flt.values, t.value))
			}
		}
		if flt.name != "tag-key" && flt.name != "tag-value" && !strings.HasPrefix(flt.name, "tag:") {
			return false, validation("Filter type %s is not correct. Allowed Filter types are: tag-key tag-value tag:<key>", flt.name)
		}
		if !match {
			return false, nil
		}
	}
	return true, nil
}

func (s *Server) describeAutoScalingGroups(w http.ResponseWriter, f form, reqID string) error {
	limit, e := maxRecords(f, 50, 100)
	if e != nil {
		writeQueryError(w, e, reqID)
		return nil
	}
	names := f.list("AutoScalingGroupNames.member")
	filters := f.filters("Filters.member", "Values.member")
	type result struct {
		AutoScalingGroups memberList[asgGroupXML]
		NextToken         string `xml:",omitempty"`
	}
	var (
		res result
		err *APIError
	)
	s.world.do(func(time.Time) {
		var matched []*group
		for _, g := range s.world.sortedGroups() {
			if len(names) > 0 && !slices.Contains(names, g.name) {
				continue
			}
			ok, ferr := groupMatches(g, filters)
			if ferr != nil {
				err = ferr
				return
			}
			if ok {
				matched = append(matched, g)
			}
		}
		page, next, ok := paginate(matched, func(g *group) string { return g.name }, "groups", f.get("NextToken"), limit)
		if !ok {
			err = invalidNextToken()
			return
		}
		res.AutoScalingGroups = memberList[asgGroupXML]{}
		for _, g := range page {
			res.AutoScalingGroups = append(res.AutoScalingGroups, g.xml())
		}
		res.NextToken = next
	})
	if err != nil {
		writeQueryError(w, err, reqID)
		return nil
	}
	return writeQueryResult(w, "DescribeAutoScalingGroups", reqID, res)
}

func (s *Server) describeAutoScalingInstances(w http.ResponseWriter, f form, reqID string) error {
	limit, e := maxRecords(f, 50, 50)
	if e != nil {
		writeQueryError(w, e, reqID)
		return nil
	}
	ids := f.list("InstanceIds.member")
	if len(ids) > 50 {
		writeQueryError(w, validation("The number of instance ids that may be passed in is limited to 50"), reqID)
		return nil
	}
	type result struct {
		AutoScalingInstances memberList[asgInstanceDetailsXML]
		NextToken            string `xml:",omitempty"`
	}
	var (
		res result
		err *APIError
	)
	s.world.do(func(time.Time) {
		var members []*instance
		for _, in := range s.world.instances {
			if in.group != nil && (len(ids) == 0 || slices.Contains(ids, in.id)) {
				members = append(members, in)
			}
		}
		sort.Slice(members, func(i, j int) bool { return members[i].id < members[j].id })
		page, next, ok := paginate(members, func(in *instance) string { return in.id }, "instances", f.get("NextToken"), limit)
		if !ok {
			err = invalidNextToken()
			return
		}
		res.AutoScalingInstances = memberList[asgInstanceDetailsXML]{}
		for _, in := range page {
			res.AutoScalingInstances = append(res.AutoScalingInstances, asgInstanceDetailsXML{
				InstanceID: in.id, InstanceType: in.instanceType, AutoScalingGroupName: in.group.name,
				AvailabilityZone: in.az, LifecycleState: in.lifecycle, HealthStatus: in.health,
				LaunchTemplate: in.group.launchTemplate(),
			})
		}
		res.NextToken = next
	})
	if err != nil {
		writeQueryError(w, err, reqID)
		return nil
	}
	return writeQueryResult(w, "DescribeAutoScalingInstances", reqID, res)
}

func (s *Server) terminateInstanceInAutoScalingGroup(w http.ResponseWriter, f form, reqID string) error {
	if e := required(f, "instanceId", "InstanceId"); e != nil {
		writeQueryError(w, e, reqID)
		return nil
	}
	if e := required(f, "shouldDecrementDesiredCapacity", "ShouldDecrementDesiredCapacity"); e != nil {
		writeQueryError(w, e, reqID)
		return nil
	}
	decrement, _, perr := f.boolean("ShouldDecrementDesiredCapacity")
	if perr != nil {
		writeQueryError(w, validation("%v", perr), reqID)
		return nil
	}
	id := f.get("InstanceId")
	type result struct{ Activity asgActivityXML }
	var (
		res result
		err *APIError
	)
	s.world.do(func(now time.Time) {
		in := s.world.instances[id]
		if in == nil || in.group == nil {
			err = validation("Instance Id not found - No managed instance found for instance ID: %s", id)
			return
		}
		g := in.group
		if in.lifecycle == LifecycleTerminating {
			err = apiErr(http.StatusBadRequest, "ScalingActivityInProgress", "An activity is already in progress that is terminating instance %s.", id)
			return
		}
		cause := fmt.Sprintf("At %s instance %s was taken out of service in response to a user request.", isoSeconds(now), id)
		if decrement {
			if g.desired-1 < g.min {
				err = validation("Currently, desiredSize equals minSize (%d). Terminating instance without replacement will violate group's min size constraint. Either set shouldDecrementDesiredCapacity flag to false or lower group's min size.", g.min)
				return
			}
			cause = fmt.Sprintf("At %s instance %s was taken out of service in response to a user request, shrinking the capacity from %d to %d.", isoSeconds(now), id, g.desired, g.desired-1)
			s.world.setDesired(g, now, g.desired-1)
		}
		act := s.world.startTermination(in, now, cause)
		s.world.reconcile(g, now)
		res.Activity = act.xml()
	})
	if err != nil {
		writeQueryError(w, err, reqID)
		return nil
	}
	return writeQueryResult(w, "TerminateInstanceInAutoScalingGroup", reqID, res)
}

func (s *Server) setDesiredCapacity(w http.ResponseWriter, f form, reqID string) error {
	if e := required(f, "autoScalingGroupName", "AutoScalingGroupName"); e != nil {
		writeQueryError(w, e, reqID)
		return nil
	}
	if e := required(f, "desiredCapacity", "DesiredCapacity"); e != nil {
		writeQueryError(w, e, reqID)
		return nil
	}
	desired, _, perr := f.integer("DesiredCapacity")
	if _, _, berr := f.boolean("HonorCooldown"); perr == nil {
		perr = berr
	}
	if perr != nil {
		writeQueryError(w, validation("%v", perr), reqID)
		return nil
	}
	name := f.get("AutoScalingGroupName")
	var err *APIError
	s.world.do(func(now time.Time) {
		g := s.world.groups[name]
		switch {
		case g == nil:
			err = groupNotFound(name)
		case desired > g.max:
			err = validation("New SetDesiredCapacity value %d is above max value %d for the AutoScalingGroup.", desired, g.max)
		case desired < g.min:
			err = validation("New SetDesiredCapacity value %d is below min value %d for the AutoScalingGroup.", desired, g.min)
		default:
			s.world.setDesired(g, now, desired)
			s.world.reconcile(g, now)
		}
	})
	if err != nil {
		writeQueryError(w, err, reqID)
		return nil
	}
	return writeQueryResult(w, "SetDesiredCapacity", reqID, nil)
}

func (s *Server) suspendProcesses(w http.ResponseWriter, f form, reqID string) error {
	return s.setProcesses(w, f, reqID, "SuspendProcesses", true)
}

func (s *Server) resumeProcesses(w http.ResponseWriter, f form, reqID string) error {
	return s.setProcesses(w, f, reqID, "ResumeProcesses", false)
}

// setProcesses suspends or resumes the listed processes, or all of them.
func (s *Server) setProcesses(w http.ResponseWriter, f form, reqID, action string, suspend bool) error {
	if e := required(f, "autoScalingGroupName", "AutoScalingGroupName"); e != nil {
		writeQueryError(w, e, reqID)
		return nil
	}
	procs := f.list("ScalingProcesses.member")
	for _, p := range procs {
		if !slices.Contains(allProcesses, p) {
			writeQueryError(w, validation("Process names are not valid: %s", p), reqID)
			return nil
		}
	}
	if len(procs) == 0 {
		procs = allProcesses
	}
	name := f.get("AutoScalingGroupName")
	var err *APIError
	s.world.do(func(now time.Time) {
		g := s.world.groups[name]
		if g == nil {
			err = groupNotFound(name)
			return
		}
		for _, p := range procs {
			_, was := g.suspended[p]
			switch {
			case suspend && !was:
				g.suspended[p] = now
				s.world.note(g, now, EventSuspended, nil, p)
			case !suspend && was:
				delete(g.suspended, p)
				s.world.note(g, now, EventResumed, nil, p)
			}
		}
		s.world.reconcile(g, now)
	})
	if err != nil {
		writeQueryError(w, err, reqID)
		return nil
	}
	return writeQueryResult(w, action, reqID, nil)
}

func (s *Server) describeScalingActivities(w http.ResponseWriter, f form, reqID string) error {
	limit, e := maxRecords(f, 100, 100)
	if e != nil {
		writeQueryError(w, e, reqID)
		return nil
	}
	ids := f.list("ActivityIds.member")
	name := f.get("AutoScalingGroupName")
	type result struct {
		Activities memberList[asgActivityXML]
		NextToken  string `xml:",omitempty"`
	}
	var (
		res result
		err *APIError
	)
	s.world.do(func(time.Time) {
		var acts []*activity
		for _, g := range s.world.sortedGroups() {
			if name != "" && g.name != name {
				continue
			}
			for _, a := range g.activities {
				if len(ids) == 0 || slices.Contains(ids, a.id) {
					acts = append(acts, a)
				}
			}
		}
		// Newest first, as the service lists them.
		sort.Slice(acts, func(i, j int) bool { return acts[i].seq > acts[j].seq })
		key := func(a *activity) string { return fmt.Sprintf("%012d", 1_000_000_000_000-a.seq) }
		page, next, ok := paginate(acts, key, "activities", f.get("NextToken"), limit)
		if !ok {
			err = invalidNextToken()
			return
		}
		res.Activities = memberList[asgActivityXML]{}
		for _, a := range page {
			res.Activities = append(res.Activities, a.xml())
		}
		res.NextToken = next
	})
	if err != nil {
		writeQueryError(w, err, reqID)
		return nil
	}
	return writeQueryResult(w, "DescribeScalingActivities", reqID, res)
}

func (s *Server) createOrUpdateTags(w http.ResponseWriter, f form, reqID string) error {
	type tagReq struct {
		group string
		tag   groupTag
	}
	var reqs []tagReq
	for _, n := range f.indices("Tags.member") {
		p := "Tags.member." + strconv.Itoa(n) + "."
		if rt := f.get(p + "ResourceType"); rt != "" && rt != "auto-scaling-group" {
			writeQueryError(w, validation("Invalid resource type %s: only auto-scaling-group is supported", rt), reqID)
			return nil
		}
		if f.get(p+"ResourceId") == "" || f.get(p+"Key") == "" {
			writeQueryError(w, validation("1 validation error detected: Value null at 'tags.%d.member.key' failed to satisfy constraint: Member must not be null", n), reqID)
			return nil
		}
		prop, _, perr := f.boolean(p + "PropagateAtLaunch")
		if perr != nil {
			writeQueryError(w, validation("%v", perr), reqID)
			return nil
		}
		reqs = append(reqs, tagReq{group: f.get(p + "ResourceId"), tag: groupTag{key: f.get(p + "Key"), value: f.get(p + "Value"), propagate: prop}})
	}
	if len(reqs) == 0 {
		writeQueryError(w, validation("1 validation error detected: Value null at 'tags' failed to satisfy constraint: Member must not be null"), reqID)
		return nil
	}
	var err *APIError
	s.world.do(func(time.Time) {
		for _, r := range reqs {
			if s.world.groups[r.group] == nil {
				err = groupNotFound(r.group)
				return
			}
		}
		for _, r := range reqs {
			g := s.world.groups[r.group]
			i := slices.IndexFunc(g.tags, func(t groupTag) bool { return t.key == r.tag.key })
			if i >= 0 {
				g.tags[i] = r.tag
			} else {
				g.tags = append(g.tags, r.tag)
				sortTags(g.tags)
			}
		}
	})
	if err != nil {
		writeQueryError(w, err, reqID)
		return nil
	}
	return writeQueryResult(w, "CreateOrUpdateTags", reqID, nil)
}

func (s *Server) describeTags(w http.ResponseWriter, f form, reqID string) error {
	limit, e := maxRecords(f, 50, 100)
	if e != nil {
		writeQueryError(w, e, reqID)
		return nil
	}
	filters := f.filters("Filters.member", "Values.member")
	for _, flt := range filters {
		switch flt.name {
		case "auto-scaling-group", "key", "value", "propagate-at-launch":
		default:
			writeQueryError(w, validation("Filter type %s is not correct. Allowed Filter types are: auto-scaling-group key value propagate-at-launch", flt.name), reqID)
			return nil
		}
	}
	type result struct {
		Tags      memberList[asgTagDescriptionXML]
		NextToken string `xml:",omitempty"`
	}
	var (
		res result
		err *APIError
	)
	s.world.do(func(time.Time) {
		type tagOf struct {
			g *group
			t groupTag
		}
		var tags []tagOf
		for _, g := range s.world.sortedGroups() {
			for _, t := range g.tags {
				if tagMatches(g, t, filters) {
					tags = append(tags, tagOf{g, t})
				}
			}
		}
		key := func(t tagOf) string { return t.g.name + "\x00" + t.t.key }
		page, next, ok := paginate(tags, key, "tags", f.get("NextToken"), limit)
		if !ok {
			err = invalidNextToken()
			return
		}
		res.Tags = memberList[asgTagDescriptionXML]{}
		for _, t := range page {
			res.Tags = append(res.Tags, t.g.tagXML(t.t))
		}
		res.NextToken = next
	})
	if err != nil {
		writeQueryError(w, err, reqID)
		return nil
	}
	return writeQueryResult(w, "DescribeTags", reqID, res)
}

// tagMatches applies DescribeTags' filters: values OR within a filter, AND
// across filters.
func tagMatches(g *group, t groupTag, filters []filter) bool {
	for _, flt := range filters {
		var v string
		switch flt.name {
		case "auto-scaling-group":
			v = g.name
		case "key":
			v = t.key
		case "value":
			v = t.value
		case "propagate-at-launch":
			v = strconv.FormatBool(t.propagate)
		}
		if !slices.Contains(flt.values, v) {
			return false
		}
	}
	return true
}
