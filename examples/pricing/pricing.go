// Package pricing is a small client used by chaoslab's go-test examples: it
// asks a price service for a price and falls back to the last known price
// when the service is slow or failing.
package pricing

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// Client fetches prices with a deadline and a fallback.
type Client struct {
	base    string
	timeout time.Duration
	http    *http.Client

	mu   sync.Mutex
	last map[string]float64
}

// NewClient returns a client of the price service at addr (host:port) that
// waits at most timeout for an answer.
func NewClient(addr string, timeout time.Duration) *Client {
	return &Client{base: "http://" + addr, timeout: timeout, http: &http.Client{}, last: map[string]float64{}}
}

// Price returns the price of sku and whether it is fresh (false: the last
// known price, served because the service was slow or failing).
func (c *Client) Price(ctx context.Context, sku string) (price float64, fresh bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	p, err := c.fetch(ctx, sku)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err == nil {
		c.last[sku] = p
		return p, true, nil
	}
	if old, ok := c.last[sku]; ok {
		return old, false, nil
	}
	return 0, false, fmt.Errorf("price of %s: %w", sku, err)
}

func (c *Client) fetch(ctx context.Context, sku string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/price?sku="+sku, nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("price service answered %s", resp.Status)
	}
	var body struct {
		Price float64 `json:"price"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return 0, err
	}
	return body.Price, nil
}

// Close releases idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }
