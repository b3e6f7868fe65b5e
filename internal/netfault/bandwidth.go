package netfault

import (
	"fmt"
	"time"

	"github.com/chaoslab-dev/chaoslab"
)

// Bandwidth limits each affected connection to Rate bytes per second in
// each affected way: bytes beyond the rate wait before they are forwarded
// (the reading side then slows the sender through TCP's flow control). A
// rate of 0 or less is invalid: it would be a stall, which Loss in stall
// mode expresses.
type Bandwidth struct {
	Rate int64
	Share
}

// Kind returns "bandwidth_limit".
func (Bandwidth) Kind() string { return "bandwidth_limit" }

// String describes the fault, for logs.
func (b Bandwidth) String() string {
	return fmt.Sprintf("bandwidth_limit %d B/s %v toxicity %g", b.Rate, b.Direction, b.Toxicity)
}

func (b Bandwidth) activate(httpMode bool) (*active, error) {
	if err := b.check(b.Kind(), httpMode); err != nil {
		return nil, err
	}
	if b.Rate <= 0 {
		return nil, fmt.Errorf("bandwidth_limit: rate %d must be at least 1 byte per second: %w", b.Rate, chaoslab.ErrInvalid)
	}
	return b.Share.activate(b.Kind(), bandwidthRule{rate: b.Rate}), nil
}

type bandwidthRule struct {
	passRule
	rate int64
}

// take sends at most a hundredth of a second's worth at a time, so the
// pace stays even.
func (r bandwidthRule) take(_ *connFault, _ Direction, n int, _ bool) (int, action) {
	return int(min(int64(n), max(r.rate/100, 1))), actPass
}

func (r bandwidthRule) sent(c *connFault, dir Direction, n int, now time.Time, _ bool) (time.Duration, action) {
	start := c.next[dir]
	if start.Before(now) {
		start = now
	}
	c.next[dir] = start.Add(time.Duration(float64(n) / float64(r.rate) * float64(time.Second)))
	return start.Sub(now), actPass
}
