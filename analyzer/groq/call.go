package groq

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	openai "github.com/sashabaranov/go-openai"
)

// firstBackoff is the wait before the first retry when the server names
// none; each further retry doubles it.
const firstBackoff = 500 * time.Millisecond

// attempt is what the HTTP layer saw of one request: go-openai's errors
// carry the status but not the headers.
type attempt struct {
	sent       bool
	status     int
	retryAfter time.Duration
}

type attemptKey struct{}

// statusCatcher is the openai.HTTPDoer the client sends through: it
// records each answer's status and Retry-After in the attempt its
// request's context carries.
type statusCatcher struct {
	client *http.Client
}

func (c *statusCatcher) Do(req *http.Request) (*http.Response, error) {
	at, _ := req.Context().Value(attemptKey{}).(*attempt)
	if at != nil {
		at.sent = true
	}
	resp, err := c.client.Do(req)
	if at != nil && resp != nil {
		at.status = resp.StatusCode
		at.retryAfter = retryAfter(resp.Header, time.Now())
	}
	return resp, err
}

// retryAfter reads retry-after-ms (OpenAI's) or Retry-After, in seconds
// or as an HTTP date; 0 when there is none.
func retryAfter(h http.Header, now time.Time) time.Duration {
	if v := strings.TrimSpace(h.Get("Retry-After-Ms")); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms > 0 {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		if s <= 0 {
			return 0
		}
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// ask sends req, retrying as the package documentation says, within the
// overall timeout, and returns the answer's content.
func (a *Analyzer) ask(parent context.Context, req openai.ChatCompletionRequest) (string, error) {
	ctx, cancel := context.WithTimeout(parent, a.timeout)
	defer cancel()
	stopped := func() error {
		if err := parent.Err(); err != nil {
			return fmt.Errorf("cancelled while asking the model: %w", err)
		}
		return fmt.Errorf("the model did not answer within the %s timeout: %w", a.timeout, context.DeadlineExceeded)
	}
	for n := 1; ; n++ {
		at := &attempt{}
		start := time.Now()
		resp, err := a.client.CreateChatCompletion(context.WithValue(ctx, attemptKey{}, at), req)
		if err == nil {
			a.log.Debug("groq: answered", "attempt", n, "model", resp.Model, "took", time.Since(start))
			return content(resp)
		}
		if ctx.Err() != nil {
			return "", stopped()
		}
		desc := describe(err, at.status)
		retryable := at.sent && (at.status == 0 || at.status == http.StatusTooManyRequests || at.status >= 500)
		switch {
		case !retryable && at.status >= 200 && at.status < 300:
			return "", fmt.Errorf("unreadable answer from the model API: %s", desc)
		case !retryable:
			return "", fmt.Errorf("the model API refused the request: %s", desc)
		case n >= a.maxAttempts:
			return "", fmt.Errorf("the model API failed %d times, the last with %s", n, desc)
		}
		wait := a.backoff(n, at.retryAfter)
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait {
			return "", fmt.Errorf("the model API answered %s, and waiting %s to retry would pass the %s timeout", desc, wait.Round(time.Millisecond), a.timeout)
		}
		a.log.Info("groq: retrying", "attempt", n, "error", a.redact.redact(desc), "wait", wait)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return "", stopped()
		}
	}
}

// backoff is the wait before retry n (1 for the first): the server's
// Retry-After when it gave one, otherwise exponential with jitter; either
// is capped by maxWait.
func (a *Analyzer) backoff(n int, serverWait time.Duration) time.Duration {
	if serverWait > 0 {
		return min(serverWait, a.maxWait)
	}
	d := firstBackoff << min(n-1, 20)
	d = d/2 + rand.N(d/2+1) // jitter in [d/2, d]
	return min(d, a.maxWait)
}

// describe says what went wrong in a request, briefly: "HTTP 429 (Rate
// limit reached …)", or the transport's error.
func describe(err error, status int) string {
	var apiErr *openai.APIError
	var reqErr *openai.RequestError
	switch {
	case errors.As(err, &apiErr):
		return fmt.Sprintf("HTTP %d (%s)", apiErr.HTTPStatusCode, truncate(apiErr.Message, 160))
	case errors.As(err, &reqErr):
		return fmt.Sprintf("HTTP %d (%s)", reqErr.HTTPStatusCode, truncate(string(reqErr.Body), 160))
	case status != 0:
		return fmt.Sprintf("HTTP %d (%s)", status, truncate(err.Error(), 160))
	}
	return truncate(err.Error(), 200)
}

// content is the first choice's content, if the answer is complete.
func content(resp openai.ChatCompletionResponse) (string, error) {
	if len(resp.Choices) == 0 {
		return "", errors.New("invalid answer from the model: no choices")
	}
	c := resp.Choices[0]
	switch c.FinishReason {
	case openai.FinishReasonLength:
		return "", errors.New("invalid answer from the model: cut off at the token limit (finish_reason length)")
	case openai.FinishReasonContentFilter:
		return "", errors.New("invalid answer from the model: withheld by a content filter")
	}
	if strings.TrimSpace(c.Message.Content) == "" {
		return "", errors.New("invalid answer from the model: empty content")
	}
	return c.Message.Content, nil
}
