// Package ready waits for a service to answer over HTTP, the way providers
// decide that a target is ready.
package ready

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/chaoslab-dev/chaoslab"
)

// Poll sends GET url, without following redirects and without a proxy,
// until it answers 2xx or 3xx (Poll returns nil), ctx is done (ctx's
// error), stop returns an error (returned as is; stop may be nil), or
// timeout passes (an error wrapping chaoslab.ErrNotReady that names the last
// answer). An invalid url is an error wrapping chaoslab.ErrInvalid. Each GET
// is bounded by attempt, the wait between them grows from 20 ms to 250 ms.
func Poll(ctx context.Context, url string, timeout, attempt time.Duration, stop func() error) error {
	client := &http.Client{
		Transport:     &http.Transport{DisableKeepAlives: true, Proxy: nil},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(timeout)
	wait := 20 * time.Millisecond
	var last error
	for {
		actx, cancel := context.WithTimeout(ctx, min(attempt, max(time.Until(deadline), time.Millisecond)))
		req, err := http.NewRequestWithContext(actx, http.MethodGet, url, nil)
		if err != nil {
			cancel()
			return fmt.Errorf("ready URL %q: %v: %w", url, err, chaoslab.ErrInvalid)
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode >= 200 && resp.StatusCode < 400 {
				cancel()
				return nil
			}
			err = fmt.Errorf("answered %s", resp.Status)
		}
		cancel()
		last = err
		if err := ctx.Err(); err != nil {
			return err
		}
		if stop != nil {
			if err := stop(); err != nil {
				return err
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: %s did not answer 2xx or 3xx within %s (last: %v)", chaoslab.ErrNotReady, url, timeout, last)
		}
		timer := time.NewTimer(min(wait, time.Until(deadline)))
		select {
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-timer.C:
		}
		wait = min(2*wait, 250*time.Millisecond)
	}
}
