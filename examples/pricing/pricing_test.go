package pricing_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chaoslab-dev/chaoslab"
	"github.com/chaoslab-dev/chaoslab/chaostest"
	"github.com/chaoslab-dev/chaoslab/examples/pricing"
)

func priceService(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]float64{"price": 9.99})
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// The client falls back to the last known price when its price service is
// slower than its 100 ms budget: a fault proxy between them, in three lines.
func TestFallsBackWhenThePriceServiceIsSlow(t *testing.T) {
	p := chaostest.Proxy(t, priceService(t))
	client := pricing.NewClient(p.Addr(), 100*time.Millisecond)
	defer client.Close()

	if _, fresh, err := client.Price(t.Context(), "sku-1"); err != nil || !fresh {
		t.Fatalf("before the fault: fresh=%v err=%v", fresh, err)
	}
	p.Inject(t, "network_delay", "latency=300ms")
	start := time.Now()
	price, fresh, err := client.Price(t.Context(), "sku-1")
	if err != nil || fresh || price != 9.99 {
		t.Fatalf("under 300 ms of latency: price=%v fresh=%v err=%v, want the cached 9.99", price, fresh, err)
	}
	if took := time.Since(start); took > 250*time.Millisecond {
		t.Errorf("the fallback took %v; the client's budget is 100 ms", took)
	}
}

// The client fails only for prices it has never seen when the service
// answers 503.
func TestFailsOnlyWithoutACachedPrice(t *testing.T) {
	p := chaostest.Proxy(t, priceService(t), chaostest.HTTP())
	client := pricing.NewClient(p.Addr(), time.Second)
	defer client.Close()

	if _, _, err := client.Price(t.Context(), "sku-1"); err != nil {
		t.Fatal(err)
	}
	p.Inject(t, "http_errors", "rate=1", "status=503")
	if _, fresh, err := client.Price(t.Context(), "sku-1"); err != nil || fresh {
		t.Errorf("cached sku: fresh=%v err=%v, want the cached price", fresh, err)
	}
	if _, _, err := client.Price(t.Context(), "sku-2"); err == nil {
		t.Error("uncached sku: want an error while the service answers 503")
	}
}

// A whole experiment in a test: the demo service keeps p99 under 500 ms and
// errors under 1 % while its dependency is 100 ms slow.
func TestDemoServiceToleratesASlowDependency(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo service for about 8 s")
	}
	chaostest.Run(t, chaoslab.Experiment{
		Target:       chaoslab.TargetSpec{Kind: chaoslab.TargetDemo},
		Hypothesis:   chaoslab.Hypothesis{MaxP99: 500 * time.Millisecond, MaxErrorRate: 0.01},
		Faults:       []chaoslab.Fault{{Scenario: "network_delay", Params: chaoslab.Params{"latency": "100ms"}}},
		Baseline:     2 * time.Second,
		Duration:     3 * time.Second,
		StableWindow: 2 * time.Second,
	})
}
