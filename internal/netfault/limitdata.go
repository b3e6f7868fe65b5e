package netfault

import (
	"fmt"
	"time"

	"github.com/chaoslab-dev/chaoslab"
)

// LimitData closes an affected connection once Bytes bytes have gone in the
// affected way(s), counted from when the fault first met the connection
// (both ways together for Both); the connection carries exactly Bytes bytes
// in those ways. Bytes a latency fault still holds when the limit is reached
// are dropped with the connection.
type LimitData struct {
	Bytes int64
	Share
}

// Kind returns "limit_data".
func (LimitData) Kind() string { return "limit_data" }

// String describes the fault, for logs.
func (l LimitData) String() string {
	return fmt.Sprintf("limit_data %d bytes %v toxicity %g", l.Bytes, l.Direction, l.Toxicity)
}

func (l LimitData) activate(httpMode bool) (*active, error) {
	if err := l.check(l.Kind(), httpMode); err != nil {
		return nil, err
	}
	if l.Bytes <= 0 {
		return nil, fmt.Errorf("limit_data: bytes %d must be at least 1: %w", l.Bytes, chaoslab.ErrInvalid)
	}
	return l.Share.activate(l.Kind(), limitRule{limit: l.Bytes}), nil
}

type limitRule struct {
	passRule
	limit int64
}

func (r limitRule) take(c *connFault, _ Direction, n int, _ bool) (int, action) {
	if left := r.limit - c.count; left > 0 {
		return int(min(int64(n), left)), actPass
	}
	return 0, actClose
}

func (r limitRule) sent(c *connFault, _ Direction, n int, _ time.Time, _ bool) (time.Duration, action) {
	if c.count += int64(n); c.count >= r.limit {
		return 0, actClose
	}
	return 0, actPass
}
