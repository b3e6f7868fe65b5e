package netfault

import (
	"fmt"
	"time"

	"github.com/chaoslab-dev/chaoslab"
)

// Slicer splits the data of each read in the affected way(s) into pieces of
// Size bytes on average, each drawn from [Size-Variation, Size+Variation]
// (at least 1), written one by one with Delay between them, as Toxiproxy's
// slicer toxic does.
type Slicer struct {
	Size, Variation int64
	Delay           time.Duration
	Share
}

// Kind returns "slicer".
func (Slicer) Kind() string { return "slicer" }

// String describes the fault, for logs.
func (s Slicer) String() string {
	return fmt.Sprintf("slicer %d±%d bytes every %v %v toxicity %g", s.Size, s.Variation, s.Delay, s.Direction, s.Toxicity)
}

func (s Slicer) activate(httpMode bool) (*active, error) {
	if err := s.check(s.Kind(), httpMode); err != nil {
		return nil, err
	}
	if s.Size <= 0 || s.Variation < 0 || s.Variation >= s.Size || s.Delay < 0 {
		return nil, fmt.Errorf("slicer: size %d must be at least 1, variation %d from 0 to below size, delay %v not negative: %w",
			s.Size, s.Variation, s.Delay, chaoslab.ErrInvalid)
	}
	return s.Share.activate(s.Kind(), slicerRule{f: s}), nil
}

type slicerRule struct {
	passRule
	f Slicer
}

func (r slicerRule) take(c *connFault, _ Direction, n int, _ bool) (int, action) {
	size := r.f.Size
	if v := r.f.Variation; v > 0 {
		c.f.mu.Lock()
		size += c.f.rng.Int64N(2*v+1) - v
		c.f.mu.Unlock()
	}
	return int(min(int64(n), max(size, 1))), actPass
}

func (r slicerRule) sent(_ *connFault, _ Direction, _ int, _ time.Time, first bool) (time.Duration, action) {
	if first {
		return 0, actPass
	}
	return r.f.Delay, actPass
}
