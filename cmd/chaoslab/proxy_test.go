package main

import (
	"bufio"
	"context"
	"io"
	"net"
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
		{[]string{"proxy"}, "needs --upstream"},
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
