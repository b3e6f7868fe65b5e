package netfault

import (
	"fmt"
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
//     status, default 503) → HTTPError.
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
		return HTTPError{Rate: p.Float("rate"), Status: status, Seed: lf.Seed}, nil
	}
	return nil, fmt.Errorf("netfault: link fault %q: %w", lf.Kind, chaoslab.ErrUnsupported)
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
