package toxiproxyapi

import (
	"bytes"
	"io"
	"net/http"
	"testing"
	"time"
)

// The tests below check each toxic on real loopback traffic. Timing
// assertions are lower bounds, which a loaded machine cannot break, or
// upper bounds with wide margins.

func TestLatencyToxic(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	listen := a.proxy("db", echoServer(t))
	c := dial(t, listen)
	roundTrip(t, c)

	a.toxic("db", map[string]any{"type": "latency", "attributes": map[string]any{"latency": 150}})
	if d := roundTrip(t, c); d < 145*time.Millisecond {
		t.Fatalf("round trip %v under a 150 ms latency toxic", d)
	}
	// An update takes effect on the open connection, which stays open.
	a.must(http.StatusOK, "POST", "/proxies/db/toxics/latency_downstream", map[string]any{"attributes": map[string]any{"latency": 300}})
	if d := roundTrip(t, c); d < 295*time.Millisecond {
		t.Fatalf("round trip %v after the update to 300 ms", d)
	}
	a.must(http.StatusNoContent, "DELETE", "/proxies/db/toxics/latency_downstream", nil)
	if d := roundTrip(t, c); d > 250*time.Millisecond {
		t.Fatalf("round trip %v after the toxic was removed", d)
	}

	// Upstream, and a toxicity of 0, which leaves it without effect.
	a.toxic("db", map[string]any{"type": "latency", "stream": "upstream", "attributes": map[string]any{"latency": 150}})
	if d := roundTrip(t, dial(t, listen)); d < 145*time.Millisecond {
		t.Fatalf("round trip %v under an upstream latency toxic", d)
	}
	a.must(http.StatusOK, "POST", "/proxies/db/toxics/latency_upstream", map[string]any{"toxicity": 0})
	if d := roundTrip(t, c); d > 250*time.Millisecond {
		t.Fatalf("round trip %v under toxicity 0", d)
	}
}

// timedRead reads everything a new connection to addr gets and how long
// it took.
func timedRead(t *testing.T, addr string) ([]byte, time.Duration, error) {
	t.Helper()
	start := time.Now()
	c := dial(t, addr)
	data, err := readAll(c)
	return data, time.Since(start), err
}

func TestBandwidthToxic(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	listen := a.proxy("db", sourceServer(t, 10_000))

	// 20 KB/s: 10,000 bytes take about half a second.
	a.toxic("db", map[string]any{"type": "bandwidth", "attributes": map[string]any{"rate": 20}})
	data, d, err := timedRead(t, listen)
	if len(data) != 10_000 || err != nil {
		t.Fatalf("read %d bytes, %v", len(data), err)
	}
	if d < 350*time.Millisecond {
		t.Fatalf("10,000 bytes at 20 KB/s took %v", d)
	}
	a.must(http.StatusNoContent, "DELETE", "/proxies/db/toxics/bandwidth_downstream", nil)
	if data, d, err = timedRead(t, listen); len(data) != 10_000 || err != nil || d > 350*time.Millisecond {
		t.Fatalf("without the toxic: %d bytes in %v, %v", len(data), d, err)
	}

	// Rate 0 stalls until the toxic is removed.
	a.toxic("db", map[string]any{"type": "bandwidth", "attributes": map[string]any{"rate": 0}})
	c := dial(t, listen)
	expectStalled(t, c, 200*time.Millisecond)
	a.must(http.StatusNoContent, "DELETE", "/proxies/db/toxics/bandwidth_downstream", nil)
	if data, err := readAll(c); len(data) != 10_000 || err != nil {
		t.Fatalf("after the stall: %d bytes, %v", len(data), err)
	}
}

func TestTimeoutToxic(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	listen := a.proxy("db", echoServer(t))
	c := dial(t, listen)
	roundTrip(t, c)

	start := time.Now()
	a.toxic("db", map[string]any{"type": "timeout", "attributes": map[string]any{"timeout": 300}})
	c.Write([]byte("lost"))
	data, err := readAll(c)
	if d := time.Since(start); len(data) != 0 || (err != nil && !isReset(err)) || d < 300*time.Millisecond {
		t.Fatalf("under timeout 300: read %q, %v, closed after %v", data, err, d)
	}
	a.must(http.StatusNoContent, "DELETE", "/proxies/db/toxics/timeout_downstream", nil)
	roundTrip(t, dial(t, listen))

	// Timeout 0 holds the data until the toxic is removed.
	a.toxic("db", map[string]any{"type": "timeout", "attributes": map[string]any{"timeout": 0}})
	c = dial(t, listen)
	c.Write([]byte("x"))
	expectStalled(t, c, 200*time.Millisecond)
	a.must(http.StatusNoContent, "DELETE", "/proxies/db/toxics/timeout_downstream", nil)
	var b [1]byte
	if _, err := io.ReadFull(c, b[:]); err != nil {
		t.Fatalf("after timeout 0 was removed: %v", err)
	}
	roundTrip(t, c)
}

func TestResetPeerToxic(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	listen := a.proxy("db", echoServer(t))

	a.toxic("db", map[string]any{"type": "reset_peer"})
	expectReset(t, listen)
	a.must(http.StatusNoContent, "DELETE", "/proxies/db/toxics/reset_peer_downstream", nil)
	roundTrip(t, dial(t, listen))

	// With a timeout, data stops, then the connection is reset.
	c := dial(t, listen)
	roundTrip(t, c)
	start := time.Now()
	a.toxic("db", map[string]any{"type": "reset_peer", "stream": "upstream", "attributes": map[string]any{"timeout": 300}})
	c.Write([]byte("x"))
	data, err := readAll(c)
	if d := time.Since(start); len(data) != 0 || !isReset(err) || d < 300*time.Millisecond {
		t.Fatalf("reset_peer 300: read %q, %v after %v; want a reset after 300 ms", data, err, d)
	}
	// Connections that come later are reset too.
	expectReset(t, listen)
	a.must(http.StatusNoContent, "DELETE", "/proxies/db/toxics/reset_peer_upstream", nil)
	roundTrip(t, dial(t, listen))
}

func TestSlicerToxic(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	listen := a.proxy("db", sourceServer(t, 2000))

	// 20 pieces of 100 bytes, 2 ms apart: at least 38 ms.
	a.toxic("db", map[string]any{"type": "slicer", "attributes": map[string]any{"average_size": 100, "size_variation": 0, "delay": 2000}})
	start := time.Now()
	c := dial(t, listen)
	reads, total := 0, 0
	buf := make([]byte, 64<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			reads++
			total += n
		}
		if err != nil {
			break
		}
	}
	if d := time.Since(start); total != 2000 || reads < 2 || d < 38*time.Millisecond {
		t.Fatalf("slicer: %d bytes in %d reads over %v", total, reads, d)
	}
	a.must(http.StatusNoContent, "DELETE", "/proxies/db/toxics/slicer_downstream", nil)
	if data, _, err := timedRead(t, listen); len(data) != 2000 || err != nil {
		t.Fatalf("without the toxic: %d bytes, %v", len(data), err)
	}
}

func TestLimitDataToxic(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	listen := a.proxy("db", sourceServer(t, 10_000))

	a.toxic("db", map[string]any{"type": "limit_data", "attributes": map[string]any{"bytes": 1000}})
	if data, _, err := timedRead(t, listen); len(data) != 1000 || (err != nil && !isReset(err)) {
		t.Fatalf("limit_data 1000: %d bytes, %v", len(data), err)
	}
	a.must(http.StatusOK, "POST", "/proxies/db/toxics/limit_data_downstream", map[string]any{"attributes": map[string]any{"bytes": 0}})
	if data, _, err := timedRead(t, listen); len(data) != 0 || (err != nil && !isReset(err)) {
		t.Fatalf("limit_data 0: %d bytes, %v", len(data), err)
	}
	a.must(http.StatusNoContent, "DELETE", "/proxies/db/toxics/limit_data_downstream", nil)
	if data, _, err := timedRead(t, listen); len(data) != 10_000 || err != nil {
		t.Fatalf("without the toxic: %d bytes, %v", len(data), err)
	}
}

func TestToxicityZeroSparesConnections(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	listen := a.proxy("db", sourceServer(t, 100))
	a.toxic("db", map[string]any{"type": "limit_data", "toxicity": 0, "attributes": map[string]any{"bytes": 10}})
	if data, _, err := timedRead(t, listen); len(data) != 100 || err != nil {
		t.Fatalf("limit_data at toxicity 0: %d bytes, %v", len(data), err)
	}
}

func TestScenarioToxicEffects(t *testing.T) {
	t.Parallel()
	a := newAPI(t)
	listen := a.proxy("db", echoServer(t))

	a.toxic("db", map[string]any{"type": "network_delay", "attributes": map[string]any{"latency": "150ms"}})
	if d := roundTrip(t, dial(t, listen)); d < 145*time.Millisecond {
		t.Fatalf("round trip %v under network_delay 150ms", d)
	}
	a.must(http.StatusNoContent, "DELETE", "/proxies/db/toxics/network_delay_upstream", nil)

	a.toxic("db", map[string]any{"type": "network_partition", "attributes": map[string]any{"mode": "refuse"}})
	expectReset(t, listen)
	a.must(http.StatusNoContent, "DELETE", "/proxies/db/toxics/network_partition_both", nil)

	a.toxic("db", map[string]any{"type": "limit_data", "attributes": map[string]any{"bytes": "3"}})
	c := dial(t, listen)
	c.Write([]byte("hello"))
	if data, _ := readAll(c); !bytes.Equal(data, []byte("hel")) {
		t.Fatalf("limit_data 3: echoed %q", data)
	}
	a.must(http.StatusNoContent, "DELETE", "/proxies/db/toxics/limit_data_downstream", nil)
	roundTrip(t, dial(t, listen))
}
