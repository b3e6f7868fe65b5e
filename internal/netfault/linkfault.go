package netfault

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/chaoslab-dev/chaoslab"
)

// FromLinkFault builds the fault a chaoslab.LinkFault describes, with
// lf.Seed as its seed:
//
//   - "network_delay": params latency (duration), jitter (duration, may be
//     0 or absent), direction ("upstream", "downstream" or "both"; default
//     upstream) → Latency.
//   - "http_errors": params rate (fraction such as 0.5 or 50%), status (HTTP
//     status, default 503), abort ("true" or "false", default false) →
//     HTTPError.
//   - "http_delay": params delay (duration), jitter (duration, may be 0 or
//     absent), rate (fraction, default 1) → HTTPDelay.
//
// Both HTTP faults also take method (such as GET; default any) and
// path_prefix (such as /api/; default any), which set their HTTPMatch.
//
// The stream faults take toxicity (fraction of connections, default 1) and
// direction (default given below) besides their own params; sizes are such
// as 4096, 64KB or 1MiB:
//
//   - "bandwidth_limit": rate (size, bytes per second); direction default
//     downstream → Bandwidth.
//   - "network_loss": mode (reset or stall, default reset), after (size,
//     default 0); direction default both → Loss.
//   - "network_partition": mode (blackhole or refuse, default blackhole);
//     always both ways → Partition.
//   - "timeout": timeout (duration, 0 holds data without closing);
//     direction default both → Timeout.
//   - "limit_data": bytes (size); direction default downstream → LimitData.
//   - "slicer": size (size), variation (size, default 0), delay (duration,
//     default 0); direction default downstream → Slicer.
//
// Another kind is an error wrapping chaoslab.ErrUnsupported that names it;
// invalid parameters are errors wrapping chaoslab.ErrInvalid. Whether the
// fault fits a given proxy is checked by Proxy.Apply.
func FromLinkFault(lf chaoslab.LinkFault) (Fault, error) {
	p := lf.Params
	switch lf.Kind {
	case "network_delay":
		lat, err := duration(p, "latency", true)
		if err != nil {
			return nil, invalid(lf.Kind, err)
		}
		jit, err := duration(p, "jitter", false)
		if err != nil {
			return nil, invalid(lf.Kind, err)
		}
		dir, err := ParseDirection(p["direction"])
		if err != nil {
			return nil, invalid(lf.Kind, err)
		}
		return Latency{Latency: lat, Jitter: jit, Direction: dir, Seed: lf.Seed}, nil
	case "http_errors":
		v, ok := p["rate"]
		if !ok {
			return nil, invalid(lf.Kind, fmt.Errorf("rate: missing"))
		}
		if _, err := chaoslab.ParseFraction(v); err != nil {
			return nil, invalid(lf.Kind, fmt.Errorf("rate: %q %w", v, err))
		}
		status := 503
		if s, ok := p["status"]; ok {
			if status = p.Int("status"); status < 200 || status > 599 {
				return nil, invalid(lf.Kind, fmt.Errorf("status: %q must be an HTTP status from 200 to 599", s))
			}
		}
		abort, err := choice(p, "abort", "false", "true")
		if err != nil {
			return nil, invalid(lf.Kind, err)
		}
		m, err := httpMatch(p)
		if err != nil {
			return nil, invalid(lf.Kind, err)
		}
		return HTTPError{Rate: p.Float("rate"), Status: status, Abort: abort == 1, HTTPMatch: m, Seed: lf.Seed}, nil
	case "http_delay":
		d, err := duration(p, "delay", true)
		if err != nil {
			return nil, invalid(lf.Kind, err)
		}
		jit, err := duration(p, "jitter", false)
		if err != nil {
			return nil, invalid(lf.Kind, err)
		}
		rate := 1.0
		if v, ok := p["rate"]; ok {
			if rate, err = chaoslab.ParseFraction(v); err != nil {
				return nil, invalid(lf.Kind, fmt.Errorf("rate: %q %w", v, err))
			}
		}
		m, err := httpMatch(p)
		if err != nil {
			return nil, invalid(lf.Kind, err)
		}
		return HTTPDelay{Rate: rate, Delay: d, Jitter: jit, HTTPMatch: m, Seed: lf.Seed}, nil
	case "bandwidth_limit", "network_loss", "network_partition", "timeout", "limit_data", "slicer":
		f, err := streamFromLinkFault(lf)
		if err != nil {
			return nil, invalid(lf.Kind, err)
		}
		return f, nil
	}
	return nil, fmt.Errorf("netfault: link fault %q: %w", lf.Kind, chaoslab.ErrUnsupported)
}

// httpMatch reads the method and path_prefix parameters of an HTTP fault.
func httpMatch(p chaoslab.Params) (HTTPMatch, error) {
	m := HTTPMatch{Method: p["method"], PathPrefix: p["path_prefix"]}
	return m, m.check()
}

// duration reads a duration parameter of 0 or more.
func duration(p chaoslab.Params, name string, required bool) (time.Duration, error) {
	v, ok := p[name]
	if !ok || v == "" {
		if required {
			return 0, fmt.Errorf("%s: missing", name)
		}
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%s: %q must be a duration of 0 or more, such as 200ms", name, v)
	}
	return d, nil
}

func invalid(kind string, err error) error {
	return fmt.Errorf("netfault: link fault %s: %w: %w", kind, err, chaoslab.ErrInvalid)
}

// streamFromLinkFault builds the stream fault lf describes.
func streamFromLinkFault(lf chaoslab.LinkFault) (Fault, error) {
	p := lf.Params
	sh := Share{Toxicity: 1, Direction: Both, Seed: lf.Seed}
	switch lf.Kind {
	case "bandwidth_limit", "limit_data", "slicer":
		sh.Direction = Downstream
	}
	if v, ok := p["toxicity"]; ok {
		f, err := chaoslab.ParseFraction(v)
		if err != nil {
			return nil, fmt.Errorf("toxicity: %q %w", v, err)
		}
		sh.Toxicity = f
	}
	if v := p["direction"]; v != "" {
		d, err := ParseDirection(v)
		if err != nil {
			return nil, err
		}
		sh.Direction = d
	}
	switch lf.Kind {
	case "bandwidth_limit":
		rate, err := size(p, "rate", true)
		return Bandwidth{Rate: rate, Share: sh}, err
	case "network_loss":
		after, err := size(p, "after", false)
		if err != nil {
			return nil, err
		}
		m, err := choice(p, "mode", "reset", "stall")
		return Loss{Mode: LossMode(m), After: after, Share: sh}, err
	case "network_partition":
		m, err := choice(p, "mode", "blackhole", "refuse")
		return Partition{Mode: PartitionMode(m), Share: sh}, err
	case "timeout":
		if _, ok := p["timeout"]; !ok {
			return nil, fmt.Errorf("timeout: missing")
		}
		d, err := duration(p, "timeout", false)
		return Timeout{Timeout: d, Share: sh}, err
	case "limit_data":
		n, err := size(p, "bytes", true)
		return LimitData{Bytes: n, Share: sh}, err
	default: // slicer
		n, err := size(p, "size", true)
		if err != nil {
			return nil, err
		}
		v, err := size(p, "variation", false)
		if err != nil {
			return nil, err
		}
		d, err := duration(p, "delay", false)
		return Slicer{Size: n, Variation: v, Delay: d, Share: sh}, err
	}
}

// size reads a byte-size parameter of at least 1; an absent optional one
// is 0.
func size(p chaoslab.Params, name string, required bool) (int64, error) {
	v, ok := p[name]
	if !ok || v == "" {
		if required {
			return 0, fmt.Errorf("%s: missing", name)
		}
		return 0, nil
	}
	n, err := chaoslab.ParseSize(v)
	if err != nil {
		return 0, fmt.Errorf("%s: %q %w", name, v, err)
	}
	return n, nil
}

// choice reads a parameter that is one of choices, the first by default,
// and returns its index.
func choice(p chaoslab.Params, name string, choices ...string) (int, error) {
	v := p[name]
	if v == "" {
		return 0, nil
	}
	if i := slices.Index(choices, v); i >= 0 {
		return i, nil
	}
	return 0, fmt.Errorf("%s: %q must be one of %s", name, v, strings.Join(choices, ", "))
}
