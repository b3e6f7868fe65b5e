package toxiproxyapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/chaoslab-dev/chaoslab"
	"github.com/chaoslab-dev/chaoslab/internal/netfault"
	"github.com/chaoslab-dev/chaoslab/scenario"
)

// Stream names. Toxiproxy's toxics act on one of the first two; chaoslab's
// scenario names may also act on both.
const (
	streamUpstream   = "upstream"
	streamDownstream = "downstream"
	streamBoth       = "both"
)

// toxicAttrs are a toxic's attributes, decoded for its type. They marshal to
// the "attributes" object of the toxic's JSON.
type toxicAttrs interface {
	// effect returns how the toxic acts on a proxy.
	effect(c toxicCommon) (effect, error)
}

// toxicCommon is what every toxic has besides its attributes.
type toxicCommon struct {
	typ      string
	dir      netfault.Direction
	toxicity float64
	seed     int64
}

// share is the netfault share of a toxic.
func (c toxicCommon) share() netfault.Share {
	return netfault.Share{Toxicity: c.toxicity, Direction: c.dir, Seed: c.seed}
}

// toxicKind is one toxic type the API accepts.
type toxicKind struct {
	// decode merges the JSON attributes raw (which may be empty) onto prev
	// (nil for a new toxic) and returns the result; prev is not changed.
	decode func(prev toxicAttrs, raw json.RawMessage) (toxicAttrs, error)
	// scenario is set for chaoslab's own scenario names.
	scenario *chaoslab.Scenario
}

// unsupportedKinds are Toxiproxy toxic types with no counterpart in
// netfault, with the reason given to clients.
var unsupportedKinds = map[string]string{
	"slow_close":  "chaoslab's fault proxy has no fault that delays the close of a connection",
	"http_errors": "it acts on HTTP requests, and the proxies of this API forward TCP",
}

// toxiproxyKinds are Toxiproxy's toxic types.
var toxiproxyKinds = map[string]toxicKind{
	"latency":    {decode: decodeAttrs[latencyAttrs]},
	"bandwidth":  {decode: decodeAttrs[bandwidthAttrs]},
	"timeout":    {decode: decodeAttrs[timeoutAttrs]},
	"reset_peer": {decode: decodeAttrs[resetPeerAttrs]},
	"slicer":     {decode: decodeAttrs[slicerAttrs]},
	"limit_data": {decode: decodeAttrs[limitDataAttrs]},
	"noop":       {decode: decodeAttrs[noopAttrs]},
}

// scenarioKinds are chaoslab's stream scenarios that the API accepts as
// toxic types.
var scenarioKinds = sync.OnceValue(func() map[string]toxicKind {
	own := []string{"network_delay", "bandwidth_limit", "network_loss", "network_partition", "timeout", "limit_data", "slicer"}
	m := map[string]toxicKind{}
	for _, s := range scenario.Builtins() {
		if slices.Contains(own, s.Name) {
			sc := s
			m[s.Name] = toxicKind{decode: decodeScenario(&sc), scenario: &sc}
		}
	}
	return m
})

// lookupKind returns the kind of a new toxic of type typ with the JSON
// attributes raw. Three names are both Toxiproxy's and chaoslab's
// (timeout, limit_data, slicer): Toxiproxy's numeric attributes are meant
// unless an attribute is a JSON string, which Toxiproxy would reject and
// chaoslab's parameters are.
func lookupKind(typ string, raw json.RawMessage) (toxicKind, bool) {
	tk, isToxiproxy := toxiproxyKinds[typ]
	sk, isScenario := scenarioKinds()[typ]
	switch {
	case isToxiproxy && isScenario:
		if hasStringAttr(raw) {
			return sk, true
		}
		return tk, true
	case isToxiproxy:
		return tk, true
	}
	return sk, isScenario
}

// hasStringAttr reports whether raw is an object with a string value.
func hasStringAttr(raw json.RawMessage) bool {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return false
	}
	for _, v := range m {
		if b := bytes.TrimSpace(v); len(b) > 0 && b[0] == '"' {
			return true
		}
	}
	return false
}

// attrPtr is a pointer to an attributes struct.
type attrPtr[T any] interface {
	*T
	toxicAttrs
}

// decodeAttrs decodes the attributes of a Toxiproxy toxic type onto a copy
// of prev, as Toxiproxy does: fields left out keep their values, unknown
// fields are ignored, and a value of the wrong JSON type is an error.
func decodeAttrs[T any, P attrPtr[T]](prev toxicAttrs, raw json.RawMessage) (toxicAttrs, error) {
	var v T
	if prev != nil {
		v = *prev.(P)
	}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, badBody(fmt.Errorf("attributes: %w", err))
		}
	}
	return P(&v), nil
}

// ms converts a number of milliseconds to a duration.
func ms(n int64) time.Duration { return time.Duration(n) * time.Millisecond }

// latencyAttrs are the attributes of Toxiproxy's latency toxic.
type latencyAttrs struct {
	Latency int64 `json:"latency"` // ms
	Jitter  int64 `json:"jitter"`  // ms
}

func (a *latencyAttrs) effect(c toxicCommon) (effect, error) {
	if err := wholeToxicity(c); err != nil {
		return nil, err
	}
	if a.Latency < 0 || a.Jitter < 0 {
		return nil, badRequest("latency: latency %d and jitter %d must not be negative", a.Latency, a.Jitter)
	}
	if c.toxicity == 0 {
		return noEffect{}, nil
	}
	return faultEffect{netfault.Latency{Latency: ms(a.Latency), Jitter: ms(a.Jitter), Direction: c.dir, Seed: c.seed}}, nil
}

// wholeToxicity checks the toxicity of a toxic made of netfault.Latency,
// which acts on every connection or none.
func wholeToxicity(c toxicCommon) error {
	if c.toxicity != 0 && c.toxicity != 1 {
		return badRequest("%s: toxicity %g is not supported: chaoslab's latency fault acts on every connection; "+
			"use toxicity 1 (or 0, which keeps the toxic without effect)", c.typ, c.toxicity)
	}
	return nil
}

// bandwidthAttrs are the attributes of Toxiproxy's bandwidth toxic.
type bandwidthAttrs struct {
	Rate int64 `json:"rate"` // KB/s (1 KB = 1000 bytes, as Toxiproxy counts)
}

func (a *bandwidthAttrs) effect(c toxicCommon) (effect, error) {
	switch {
	case a.Rate < 0:
		return nil, badRequest("bandwidth: rate %d must not be negative", a.Rate)
	case a.Rate == 0:
		// Toxiproxy holds the data of a rate-0 toxic until it is
		// removed, which is a stall.
		return faultEffect{netfault.Loss{Mode: netfault.LossStall, Share: c.share()}}, nil
	case a.Rate > math.MaxInt64/1000:
		return nil, badRequest("bandwidth: rate %d is too large", a.Rate)
	}
	return faultEffect{netfault.Bandwidth{Rate: a.Rate * 1000, Share: c.share()}}, nil
}

// timeoutAttrs are the attributes of Toxiproxy's timeout toxic.
type timeoutAttrs struct {
	Timeout int64 `json:"timeout"` // ms; 0 never closes
}

func (a *timeoutAttrs) effect(c toxicCommon) (effect, error) {
	if a.Timeout < 0 {
		return nil, badRequest("timeout: timeout %d must not be negative", a.Timeout)
	}
	return faultEffect{netfault.Timeout{Timeout: ms(a.Timeout), Share: c.share()}}, nil
}

// resetPeerAttrs are the attributes of Toxiproxy's reset_peer toxic.
type resetPeerAttrs struct {
	Timeout int64 `json:"timeout"` // ms before the reset
}

func (a *resetPeerAttrs) effect(c toxicCommon) (effect, error) {
	if a.Timeout < 0 {
		return nil, badRequest("reset_peer: timeout %d must not be negative", a.Timeout)
	}
	reset := netfault.Loss{Mode: netfault.LossReset, Share: c.share()}
	if a.Timeout == 0 {
		return faultEffect{reset}, nil
	}
	return delayedReset{hold: netfault.Timeout{Share: c.share()}, reset: reset, after: ms(a.Timeout)}, nil
}

// slicerAttrs are the attributes of Toxiproxy's slicer toxic.
type slicerAttrs struct {
	AverageSize   int64 `json:"average_size"`   // bytes
	SizeVariation int64 `json:"size_variation"` // bytes
	Delay         int64 `json:"delay"`          // µs
}

func (a *slicerAttrs) effect(c toxicCommon) (effect, error) {
	if a.AverageSize < 1 || a.SizeVariation < 0 || a.SizeVariation >= a.AverageSize || a.Delay < 0 {
		return nil, badRequest("slicer: average_size %d must be at least 1, size_variation %d from 0 to below average_size, delay %d not negative",
			a.AverageSize, a.SizeVariation, a.Delay)
	}
	return faultEffect{netfault.Slicer{Size: a.AverageSize, Variation: a.SizeVariation,
		Delay: time.Duration(a.Delay) * time.Microsecond, Share: c.share()}}, nil
}

// limitDataAttrs are the attributes of Toxiproxy's limit_data toxic.
type limitDataAttrs struct {
	Bytes int64 `json:"bytes"`
}

func (a *limitDataAttrs) effect(c toxicCommon) (effect, error) {
	switch {
	case a.Bytes < 0:
		return nil, badRequest("limit_data: bytes %d must not be negative", a.Bytes)
	case a.Bytes == 0:
		// Nothing may pass: close at once (netfault's LimitData needs
		// at least one byte).
		return faultEffect{netfault.Timeout{Timeout: time.Nanosecond, Share: c.share()}}, nil
	}
	return faultEffect{netfault.LimitData{Bytes: a.Bytes, Share: c.share()}}, nil
}

// noopAttrs are the (no) attributes of Toxiproxy's noop toxic.
type noopAttrs struct{}

func (*noopAttrs) effect(toxicCommon) (effect, error) { return noEffect{}, nil }

// scenarioAttrs are the attributes of a toxic named after one of
// chaoslab's scenarios: its parameters, as strings.
type scenarioAttrs struct {
	s      *chaoslab.Scenario
	params chaoslab.Params // as given
	shown  chaoslab.Params // with the stream, toxicity and defaults filled in
}

// MarshalJSON shows the parameters the fault runs with.
func (a *scenarioAttrs) MarshalJSON() ([]byte, error) { return json.Marshal(a.shown) }

// decodeScenario returns the decoder of a scenario's attributes: a JSON
// object of parameter names to strings (numbers and booleans are taken as
// their text), merged onto the previous ones.
func decodeScenario(s *chaoslab.Scenario) func(toxicAttrs, json.RawMessage) (toxicAttrs, error) {
	return func(prev toxicAttrs, raw json.RawMessage) (toxicAttrs, error) {
		a := &scenarioAttrs{s: s, params: chaoslab.Params{}}
		if prev != nil {
			a.params = prev.(*scenarioAttrs).params.Clone()
		}
		if len(raw) == 0 {
			return a, nil
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, badBody(fmt.Errorf("attributes: %w", err))
		}
		for k, v := range m {
			text, err := attrText(v)
			if err != nil {
				return nil, badBody(fmt.Errorf("attributes: %s: %w", k, err))
			}
			a.params[k] = text
		}
		return a, nil
	}
}

// attrText returns a scalar JSON value as text.
func attrText(v json.RawMessage) (string, error) {
	var x any
	d := json.NewDecoder(strings.NewReader(string(v)))
	d.UseNumber()
	if err := d.Decode(&x); err != nil {
		return "", err
	}
	switch x := x.(type) {
	case string:
		return x, nil
	case json.Number:
		return x.String(), nil
	case bool:
		return strconv.FormatBool(x), nil
	}
	return "", fmt.Errorf("%s must be a string, number or boolean", v)
}

func (a *scenarioAttrs) effect(c toxicCommon) (effect, error) {
	s := a.s
	p := a.params.Clone()
	for _, k := range slices.Sorted(maps.Keys(p)) {
		spec, ok := s.Param(k)
		if !ok || k == "link" {
			var valid []string
			for _, sp := range s.Params {
				if sp.Name != "link" {
					valid = append(valid, sp.Name)
				}
			}
			return nil, badRequest("%s: %q is not an attribute of %s; valid attributes: %s", s.Name, k, s.Name, strings.Join(valid, ", "))
		}
		if err := spec.Check(p[k]); err != nil {
			return nil, badRequest("%s: %s: %q %v", s.Name, k, p[k], err)
		}
	}
	if _, ok := s.Param("direction"); ok && p["direction"] == "" {
		p["direction"] = c.dir.String()
	}
	_, hasToxicity := s.Param("toxicity")
	switch {
	case hasToxicity && p["toxicity"] == "":
		p["toxicity"] = strconv.FormatFloat(c.toxicity, 'g', -1, 64)
	case !hasToxicity:
		if err := wholeToxicity(c); err != nil {
			return nil, err
		}
	}
	p = s.WithDefaults(p)
	for _, spec := range s.Params {
		if _, ok := p[spec.Name]; !ok && spec.Default == "" && !spec.Optional && spec.Name != "link" {
			return nil, badRequest("%s: attribute %q is required", s.Name, spec.Name)
		}
	}
	a.shown = p
	f, err := netfault.FromLinkFault(chaoslab.LinkFault{Kind: s.Name, Params: p, Seed: c.seed})
	if err != nil {
		return nil, faultError(err)
	}
	if !hasToxicity && c.toxicity == 0 {
		return noEffect{}, nil
	}
	return faultEffect{f}, nil
}

// streamOf returns the stream a toxic of kind k acts on, given the stream
// its JSON named ("" if none) and its decoded attributes.
func streamOf(k toxicKind, given string, attrs toxicAttrs) (string, error) {
	s := strings.ToLower(given)
	if k.scenario == nil {
		switch s {
		case "":
			return streamDownstream, nil
		case streamUpstream, streamDownstream:
			return s, nil
		}
		return "", errInvalidStream
	}
	spec, ok := k.scenario.Param("direction")
	if !ok {
		return streamBoth, nil // network_partition
	}
	if d := attrs.(*scenarioAttrs).params["direction"]; d != "" {
		s = d
	}
	switch s {
	case "":
		return spec.Default, nil
	case streamUpstream, streamDownstream, streamBoth:
		return s, nil
	}
	return "", badRequest("stream %q is invalid: it can be upstream, downstream or both", given)
}

// faultError turns an error of netfault into an API error: invalid or
// unsupported faults are the client's mistake.
func faultError(err error) error {
	if errors.Is(err, chaoslab.ErrInvalid) || errors.Is(err, chaoslab.ErrUnsupported) {
		return &apiError{Message: err.Error(), Status: http.StatusBadRequest}
	}
	return err
}
