package awsfake

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ec2Service is Amazon EC2 over ec2Query.
var ec2Service = &service{
	name:    "ec2",
	title:   "AmazonEC2",
	version: ec2Version,
	actions: map[string]handlerFunc{
		"DescribeInstances":      (*Server).describeInstances,
		"DescribeInstanceStatus": (*Server).describeInstanceStatus,
		"TerminateInstances":     (*Server).terminateInstances,
	},
	writeError: writeEC2Error,
	invalidAction: func(action string) *APIError {
		return apiErr(http.StatusBadRequest, "InvalidAction", "The action %s is not valid for this web service.", action)
	},
	throttled: func() *APIError {
		return apiErr(http.StatusServiceUnavailable, "RequestLimitExceeded", "Request limit exceeded.")
	},
	authError: func(code, msg string) *APIError {
		if code == "SignatureDoesNotMatch" || code == "InvalidClientTokenId" {
			return apiErr(http.StatusUnauthorized, "AuthFailure", "AWS was not able to validate the provided access credentials")
		}
		return apiErr(http.StatusUnauthorized, code, "%s", msg)
	},
}

// EC2's XML shapes (ec2-2016-11-15.json).

type ec2StateXML struct {
	Code int    `xml:"code"`
	Name string `xml:"name"`
}

type ec2TagXML struct {
	Key   string `xml:"key"`
	Value string `xml:"value"`
}

type ec2PlacementXML struct {
	AvailabilityZone string `xml:"availabilityZone"`
	GroupName        string `xml:"groupName"`
	Tenancy          string `xml:"tenancy"`
}

type ec2StateReasonXML struct {
	Code    string `xml:"code"`
	Message string `xml:"message"`
}

type ec2InstanceXML struct {
	InstanceID         string              `xml:"instanceId"`
	ImageID            string              `xml:"imageId"`
	InstanceState      ec2StateXML         `xml:"instanceState"`
	PrivateDNSName     string              `xml:"privateDnsName"`
	DNSName            string              `xml:"dnsName"`
	Reason             string              `xml:"reason"`
	AmiLaunchIndex     int                 `xml:"amiLaunchIndex"`
	ProductCodes       itemList[string]    `xml:"productCodes"`
	InstanceType       string              `xml:"instanceType"`
	LaunchTime         string              `xml:"launchTime"`
	Placement          ec2PlacementXML     `xml:"placement"`
	Monitoring         ec2MonitoringXML    `xml:"monitoring"`
	SubnetID           string              `xml:"subnetId,omitempty"`
	VpcID              string              `xml:"vpcId,omitempty"`
	PrivateIPAddress   string              `xml:"privateIpAddress,omitempty"`
	SourceDestCheck    bool                `xml:"sourceDestCheck"`
	GroupSet           itemList[string]    `xml:"groupSet"`
	StateReason        *ec2StateReasonXML  `xml:"stateReason,omitempty"`
	Architecture       string              `xml:"architecture"`
	RootDeviceType     string              `xml:"rootDeviceType"`
	RootDeviceName     string              `xml:"rootDeviceName"`
	BlockDeviceMapping itemList[string]    `xml:"blockDeviceMapping"`
	VirtualizationType string              `xml:"virtualizationType"`
	ClientToken        string              `xml:"clientToken"`
	TagSet             itemList[ec2TagXML] `xml:"tagSet"`
	Hypervisor         string              `xml:"hypervisor"`
	EbsOptimized       bool                `xml:"ebsOptimized"`
	EnaSupport         bool                `xml:"enaSupport"`
}

type ec2MonitoringXML struct {
	State string `xml:"state"`
}

type ec2ReservationXML struct {
	ReservationID string                   `xml:"reservationId"`
	OwnerID       string                   `xml:"ownerId"`
	GroupSet      itemList[string]         `xml:"groupSet"`
	InstancesSet  itemList[ec2InstanceXML] `xml:"instancesSet"`
}

type ec2StatusDetailXML struct {
	Name   string `xml:"name"`
	Status string `xml:"status"`
}

type ec2StatusSummaryXML struct {
	Status  string                       `xml:"status"`
	Details itemList[ec2StatusDetailXML] `xml:"details"`
}

type ec2InstanceStatusXML struct {
	InstanceID       string              `xml:"instanceId"`
	AvailabilityZone string              `xml:"availabilityZone"`
	EventsSet        itemList[string]    `xml:"eventsSet"`
	InstanceState    ec2StateXML         `xml:"instanceState"`
	SystemStatus     ec2StatusSummaryXML `xml:"systemStatus"`
	InstanceStatus   ec2StatusSummaryXML `xml:"instanceStatus"`
}

type ec2StateChangeXML struct {
	InstanceID    string      `xml:"instanceId"`
	CurrentState  ec2StateXML `xml:"currentState"`
	PreviousState ec2StateXML `xml:"previousState"`
}

func stateXML(s ec2State) ec2StateXML { return ec2StateXML{Code: s.code, Name: s.name} }

func (in *instance) xml() ec2InstanceXML {
	x := ec2InstanceXML{
		InstanceID:         in.id,
		ImageID:            stableID("ami", in.instanceType),
		InstanceState:      stateXML(in.state),
		Reason:             in.reason,
		InstanceType:       in.instanceType,
		LaunchTime:         timestamp(in.launchedAt),
		Placement:          ec2PlacementXML{AvailabilityZone: in.az, Tenancy: "default"},
		Monitoring:         ec2MonitoringXML{State: "disabled"},
		SubnetID:           in.subnet,
		VpcID:              in.vpc,
		PrivateIPAddress:   in.privateIP,
		SourceDestCheck:    true,
		Architecture:       "x86_64",
		RootDeviceType:     "ebs",
		RootDeviceName:     "/dev/xvda",
		VirtualizationType: "hvm",
		ClientToken:        in.clientToken,
		Hypervisor:         "xen",
		EnaSupport:         true,
	}
	if in.privateIP != "" {
		x.PrivateDNSName = "ip-" + strings.ReplaceAll(in.privateIP, ".", "-") + ".ec2.internal"
	}
	if in.stateReasonCode != "" {
		x.StateReason = &ec2StateReasonXML{Code: in.stateReasonCode, Message: in.stateReason}
	}
	for _, t := range in.tags {
		x.TagSet = append(x.TagSet, ec2TagXML{Key: t[0], Value: t[1]})
	}
	return x
}

var instanceIDPattern = regexp.MustCompile(`^i-([0-9a-f]{8}|[0-9a-f]{17})$`)

// checkIDs reports the first malformed id, then every unknown one.
func (w *world) checkIDs(ids []string) *APIError {
	for _, id := range ids {
		if !instanceIDPattern.MatchString(id) {
			return apiErr(http.StatusBadRequest, "InvalidInstanceID.Malformed", "Invalid id: %q", id)
		}
	}
	var missing []string
	for _, id := range ids {
		if w.instances[id] == nil {
			missing = append(missing, id)
		}
	}
	switch len(missing) {
	case 0:
		return nil
	case 1:
		return apiErr(http.StatusBadRequest, "InvalidInstanceID.NotFound", "The instance ID '%s' does not exist", missing[0])
	}
	return apiErr(http.StatusBadRequest, "InvalidInstanceID.NotFound", "The instance IDs '%s' do not exist", strings.Join(missing, ", "))
}

func dryRunError(f form) (*APIError, bool) {
	dry, _, err := f.boolean("DryRun")
	if err != nil {
		return invalidParam("%v", err), true
	}
	if dry {
		return apiErr(http.StatusPreconditionFailed, "DryRunOperation", "Request would have succeeded, but DryRun flag is set."), true
	}
	return nil, false
}

// maxResults reads MaxResults (5 to 1000), which cannot go with ids.
func maxResults(f form, ids []string) (limit int, present bool, e *APIError) {
	n, ok, err := f.integer("MaxResults")
	switch {
	case err != nil:
		return 0, false, invalidParam("%v", err)
	case !ok:
		return 0, false, nil
	case len(ids) > 0:
		return 0, false, apiErr(http.StatusBadRequest, "InvalidParameterCombination", "The parameter instancesSet cannot be used with the parameter maxResults")
	case n < 5 || n > 1000:
		return 0, false, invalidParam("Value ( %d ) for parameter maxResults is invalid. Expecting a value between 5 and 1000.", n)
	}
	return n, true, nil
}

// ec2Filter matches one instance against one filter, or says the filter
// name is unknown.
type ec2Filter func(in *instance, name string) (values []string, known bool)

func instanceFilterValues(in *instance, name string) ([]string, bool) {
	switch name {
	case "instance-id":
		return []string{in.id}, true
	case "instance-state-name":
		return []string{in.state.name}, true
	case "instance-state-code":
		return []string{strconv.Itoa(in.state.code)}, true
	case "availability-zone":
		return []string{in.az}, true
	case "instance-type":
		return []string{in.instanceType}, true
	case "reservation-id":
		return []string{in.reservation}, true
	case "tag-key":
		var keys []string
		for _, t := range in.tags {
			keys = append(keys, t[0])
		}
		return keys, true
	case "tag-value":
		var vals []string
		for _, t := range in.tags {
			vals = append(vals, t[1])
		}
		return vals, true
	}
	if key, ok := strings.CutPrefix(name, "tag:"); ok {
		for _, t := range in.tags {
			if t[0] == key {
				return []string{t[1]}, true
			}
		}
		return nil, true
	}
	return nil, false
}

func statusFilterValues(in *instance, name string) ([]string, bool) {
	switch name {
	case "instance-state-name", "instance-state-code", "availability-zone":
		return instanceFilterValues(in, name)
	case "instance-status.status", "system-status.status":
		return []string{statusOf(in)}, true
	case "instance-status.reachability", "system-status.reachability":
		if in.state == stateRunning {
			return []string{"passed"}, true
		}
		return nil, true
	}
	return nil, false
}

// statusOf is an instance's status-check summary.
func statusOf(in *instance) string {
	if in.state == stateRunning {
		return "ok"
	}
	return "not-applicable"
}

// checkFilters rejects unknown filter names.
func checkFilters(filters []filter, values ec2Filter) *APIError {
	probe := &instance{}
	for _, flt := range filters {
		if _, known := values(probe, flt.name); !known {
			return invalidParam("The filter '%s' is invalid", flt.name)
		}
	}
	return nil
}

// matchFilters applies EC2 filters: any value of a filter, all filters.
func matchFilters(in *instance, filters []filter, values ec2Filter) bool {
	for _, flt := range filters {
		have, _ := values(in, flt.name)
		ok := false
		for _, h := range have {
			for _, want := range flt.values {
				if glob(want, h) {
					ok = true
				}
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// glob matches s against an EC2 filter value: * is any run, ? any one
// character, \ escapes.
func glob(pattern, s string) bool {
	if pattern == "" {
		return s == ""
	}
	switch pattern[0] {
	case '*':
		for i := 0; i <= len(s); i++ {
			if glob(pattern[1:], s[i:]) {
				return true
			}
		}
		return false
	case '?':
		return s != "" && glob(pattern[1:], s[1:])
	case '\\':
		if len(pattern) > 1 {
			return s != "" && s[0] == pattern[1] && glob(pattern[2:], s[1:])
		}
	}
	return s != "" && s[0] == pattern[0] && glob(pattern[1:], s[1:])
}

func seqKey(in *instance) string { return fmt.Sprintf("%012d", in.seq) }

// selectInstances returns the instances named by ids (all when none) that
// pass the filters, in launch order, or the error EC2 gives.
func (w *world) selectInstances(ids []string, filters []filter, values ec2Filter, keep func(*instance) bool) ([]*instance, *APIError) {
	if e := w.checkIDs(ids); e != nil {
		return nil, e
	}
	var out []*instance
	for _, in := range w.sortedInstances() {
		if len(ids) > 0 && !slices.Contains(ids, in.id) {
			continue
		}
		if keep(in) && matchFilters(in, filters, values) {
			out = append(out, in)
		}
	}
	return out, nil
}

func (s *Server) describeInstances(w http.ResponseWriter, f form, reqID string) error {
	ids := f.list("InstanceId")
	filters := f.filters("Filter", "Value")
	limit, paged, e := maxResults(f, ids)
	if e == nil {
		e = checkFilters(filters, instanceFilterValues)
	}
	if e != nil {
		writeEC2Error(w, e, reqID)
		return nil
	}
	type result struct {
		RequestID      string                      `xml:"requestId"`
		ReservationSet itemList[ec2ReservationXML] `xml:"reservationSet"`
		NextToken      string                      `xml:"nextToken,omitempty"`
	}
	res := result{RequestID: reqID, ReservationSet: itemList[ec2ReservationXML]{}}
	var err *APIError
	s.world.do(func(time.Time) {
		ins, e := s.world.selectInstances(ids, filters, instanceFilterValues, func(*instance) bool { return true })
		if e != nil {
			err = e
			return
		}
		if dry, ok := dryRunError(f); ok {
			err = dry
			return
		}
		if !paged {
			limit = len(ins) + 1
		}
		page, next, ok := paginate(ins, seqKey, "reservations", f.get("NextToken"), limit)
		if !ok {
			err = apiErr(http.StatusBadRequest, "InvalidPaginationToken", "Invalid pagination token")
			return
		}
		for _, in := range page {
			res.ReservationSet = append(res.ReservationSet, ec2ReservationXML{
				ReservationID: in.reservation, OwnerID: accountID,
				GroupSet: itemList[string]{}, InstancesSet: itemList[ec2InstanceXML]{in.xml()},
			})
		}
		res.NextToken = next
	})
	if err != nil {
		writeEC2Error(w, err, reqID)
		return nil
	}
	return writeEC2Result(w, "DescribeInstances", res)
}

func (s *Server) describeInstanceStatus(w http.ResponseWriter, f form, reqID string) error {
	ids := f.list("InstanceId")
	filters := f.filters("Filter", "Value")
	all, _, perr := f.boolean("IncludeAllInstances")
	limit, paged, e := maxResults(f, ids)
	if e == nil && perr != nil {
		e = invalidParam("%v", perr)
	}
	if e == nil {
		e = checkFilters(filters, statusFilterValues)
	}
	if e != nil {
		writeEC2Error(w, e, reqID)
		return nil
	}
	type result struct {
		RequestID         string                         `xml:"requestId"`
		InstanceStatusSet itemList[ec2InstanceStatusXML] `xml:"instanceStatusSet"`
		NextToken         string                         `xml:"nextToken,omitempty"`
	}
	res := result{RequestID: reqID, InstanceStatusSet: itemList[ec2InstanceStatusXML]{}}
	var err *APIError
	s.world.do(func(time.Time) {
		keep := func(in *instance) bool { return all || in.state == stateRunning }
		ins, e := s.world.selectInstances(ids, filters, statusFilterValues, keep)
		if e != nil {
			err = e
			return
		}
		if dry, ok := dryRunError(f); ok {
			err = dry
			return
		}
		if !paged {
			limit = len(ins) + 1
		}
		page, next, ok := paginate(ins, seqKey, "statuses", f.get("NextToken"), limit)
		if !ok {
			err = apiErr(http.StatusBadRequest, "InvalidPaginationToken", "Invalid pagination token")
			return
		}
		for _, in := range page {
			sum := ec2StatusSummaryXML{Status: statusOf(in), Details: itemList[ec2StatusDetailXML]{}}
			if in.state == stateRunning {
				sum.Details = append(sum.Details, ec2StatusDetailXML{Name: "reachability", Status: "passed"})
			}
			res.InstanceStatusSet = append(res.InstanceStatusSet, ec2InstanceStatusXML{
				InstanceID: in.id, AvailabilityZone: in.az, EventsSet: itemList[string]{},
				InstanceState: stateXML(in.state), SystemStatus: sum, InstanceStatus: sum,
			})
		}
		res.NextToken = next
	})
	if err != nil {
		writeEC2Error(w, err, reqID)
		return nil
	}
	return writeEC2Result(w, "DescribeInstanceStatus", res)
}

func (s *Server) terminateInstances(w http.ResponseWriter, f form, reqID string) error {
	ids := f.list("InstanceId")
	if len(ids) == 0 {
		writeEC2Error(w, apiErr(http.StatusBadRequest, "MissingParameter", "The request must contain the parameter InstanceId"), reqID)
		return nil
	}
	type result struct {
		RequestID    string                      `xml:"requestId"`
		InstancesSet itemList[ec2StateChangeXML] `xml:"instancesSet"`
	}
	res := result{RequestID: reqID, InstancesSet: itemList[ec2StateChangeXML]{}}
	var err *APIError
	s.world.do(func(now time.Time) {
		if e := s.world.checkIDs(ids); e != nil {
			err = e
			return
		}
		if dry, ok := dryRunError(f); ok {
			err = dry
			return
		}
		seen := map[string]bool{}
		for _, id := range ids {
			if seen[id] {
				continue
			}
			seen[id] = true
			in := s.world.instances[id]
			prev := in.state
			if prev == statePending || prev == stateRunning {
				s.world.ec2Terminate(in, now)
			}
			res.InstancesSet = append(res.InstancesSet, ec2StateChangeXML{
				InstanceID: id, CurrentState: stateXML(in.state), PreviousState: stateXML(prev),
			})
		}
	})
	if err != nil {
		writeEC2Error(w, err, reqID)
		return nil
	}
	return writeEC2Result(w, "TerminateInstances", res)
}

// ec2Terminate shuts an instance down through EC2; its group's controller
// notices at once.
func (w *world) ec2Terminate(in *instance, now time.Time) {
	d := w.terminate
	if in.group != nil {
		d = in.group.terminateFor
	}
	w.shutdown(in, now, d)
	if in.group != nil {
		w.reconcile(in.group, now)
	}
}
