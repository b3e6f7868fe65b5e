package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func echo(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { defer c.Close(); _, _ = io.Copy(c, c) })
		}
	})
	return ln.Addr().String()
}

func TestProxyCommandAppliesFaultsUntilInterrupted(t *testing.T) {
	pr, pw := io.Pipe()
	var stderr syncBuffer
	c := &cli{stdout: pw, stderr: &stderr, stdin: strings.NewReader("")}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	code := make(chan int, 1)
	go func() {
		code <- c.main(ctx, []string{"proxy", "--upstream", echo(t), "--fault", "network_delay:latency=100ms"})
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	require.NoError(t, err, stderr.String())
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	m := regexp.MustCompile(`listening on (127\.0\.0\.1:\d+), forwarding to .*; network_delay \(latency=100ms\)`).FindStringSubmatch(line)
	require.NotNil(t, m, line)

	conn, err := net.Dial("tcp", m[1])
	require.NoError(t, err)
	defer conn.Close()
	r := bufio.NewReader(conn)
	start := time.Now()
	_, err = conn.Write([]byte("ping\n"))
	require.NoError(t, err)
	got, err := r.ReadString('\n')
	require.NoError(t, err)
	assert.Equal(t, "ping\n", got)
	assert.GreaterOrEqual(t, time.Since(start), 95*time.Millisecond, "the delay applies")

	cancel()
	assert.Equal(t, exitPass, <-code, stderr.String())
	_, err = r.ReadString('\n')
	assert.Error(t, err, "the proxy closed its connections")
}

func TestProxyCommandBadInput(t *testing.T) {
	up := echo(t)
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"proxy"}, "needs --upstream HOST:PORT, or --api ADDR"},
		{[]string{"proxy", "--api", "127.0.0.1:0", "--fault", "network_delay"}, "--fault configure the --upstream proxy"},
		{[]string{"proxy", "--api", "127.0.0.1:0", "--http", "--listen", "127.0.0.1:0"}, "--http, --listen configure"},
		{[]string{"proxy", "--api", "nonsense"}, "--api:"},
		{[]string{"proxy", "--upstream", up, "--fault", "network_dleay"}, `"network_dleay" is not a scenario`},
		{[]string{"proxy", "--upstream", up, "--fault", "network_delay:latency=-1s"}, "must be a positive duration"},
		{[]string{"proxy", "--upstream", up, "--fault", "http_errors:rate=1"}, "HTTP"},
		{[]string{"proxy", "--upstream", up, "--fault", "network_delay:link=db"}, "link="},
		{[]string{"proxy", "--upstream", up, "--listen", "nonsense"}, "proxy:"},
	}
	for _, tc := range cases {
		code, _, stderr := runCLI(t, tc.args...)
		assert.Equal(t, exitError, code, tc.args)
		assert.Contains(t, stderr, tc.want, tc.args)
	}
}

// startProxyCommand runs `chaoslab proxy args...` until the returned cancel
// is called, and returns the first n lines it prints and its exit code.
func startProxyCommand(t *testing.T, n int, args ...string) (lines []string, cancel func(), code <-chan int, stderr *syncBuffer) {
	t.Helper()
	pr, pw := io.Pipe()
	stderr = &syncBuffer{}
	c := &cli{stdout: pw, stderr: stderr, stdin: strings.NewReader("")}
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	done := make(chan int, 1)
	go func() {
		done <- c.main(ctx, append([]string{"proxy"}, args...))
		pw.Close()
	}()
	r := bufio.NewReader(pr)
	for range n {
		line, err := r.ReadString('\n')
		require.NoError(t, err, stderr.String())
		lines = append(lines, line)
	}
	go func() { _, _ = io.Copy(io.Discard, r) }()
	return lines, cancel, done, stderr
}

var apiLine = regexp.MustCompile(`^chaoslab proxy API listening on (127\.0\.0\.1:\d+)\n$`)

// apiCall sends a JSON request to the API at addr and decodes the answer.
func apiCall(t *testing.T, method, url string, body any) (int, map[string]any) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(t, err)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, url, r)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var m map[string]any
	if resp.StatusCode != http.StatusNoContent {
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&m))
	}
	return resp.StatusCode, m
}

func TestProxyCommandServesToxiproxyAPI(t *testing.T) {
	lines, cancel, code, stderr := startProxyCommand(t, 1, "--api", "127.0.0.1:0")
	m := apiLine.FindStringSubmatch(lines[0])
	require.NotNil(t, m, lines[0])
	base := "http://" + m[1]

	status, v := apiCall(t, "GET", base+"/version", nil)
	require.Equal(t, http.StatusOK, status)
	assert.Contains(t, v["version"], "chaoslab")

	status, v = apiCall(t, "POST", base+"/proxies", map[string]any{"name": "echo", "listen": "127.0.0.1:0", "upstream": echo(t)})
	require.Equal(t, http.StatusCreated, status, v)
	listen := v["listen"].(string)
	status, v = apiCall(t, "POST", base+"/proxies/echo/toxics", map[string]any{"type": "latency", "attributes": map[string]any{"latency": 100}})
	require.Equal(t, http.StatusOK, status, v)

	conn, err := net.Dial("tcp", listen)
	require.NoError(t, err)
	defer conn.Close()
	r := bufio.NewReader(conn)
	start := time.Now()
	_, err = conn.Write([]byte("ping\n"))
	require.NoError(t, err)
	got, err := r.ReadString('\n')
	require.NoError(t, err)
	assert.Equal(t, "ping\n", got)
	assert.GreaterOrEqual(t, time.Since(start), 95*time.Millisecond, "the latency toxic applies")

	cancel()
	assert.Equal(t, exitPass, <-code, stderr.String())
	_, err = r.ReadString('\n')
	assert.Error(t, err, "the API's proxies closed their connections")
	_, err = net.Dial("tcp", m[1])
	assert.Error(t, err, "the API stopped listening")
	_, err = net.Dial("tcp", listen)
	assert.Error(t, err, "the API's proxy stopped listening")
}

func TestProxyCommandWithUpstreamAndAPI(t *testing.T) {
	lines, cancel, code, stderr := startProxyCommand(t, 2, "--upstream", echo(t), "--api", ":0")
	m := regexp.MustCompile(`listening on (127\.0\.0\.1:\d+), forwarding to`).FindStringSubmatch(lines[0])
	require.NotNil(t, m, lines[0])
	a := apiLine.FindStringSubmatch(lines[1])
	require.NotNil(t, a, "the API listens on loopback unless told otherwise: %s", lines[1])

	conn, err := net.Dial("tcp", m[1])
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.Write([]byte("x"))
	require.NoError(t, err)
	b := make([]byte, 1)
	_, err = io.ReadFull(conn, b)
	require.NoError(t, err)

	status, v := apiCall(t, "GET", "http://"+a[1]+"/proxies", nil)
	require.Equal(t, http.StatusOK, status)
	assert.Empty(t, v, "the command-line proxy is not one of the API's")

	cancel()
	assert.Equal(t, exitPass, <-code, stderr.String())
	_, err = conn.Read(b)
	assert.Error(t, err, "the command-line proxy closed its connections")
}
