package html_test

// The browser test opens published reports in a real headless Chromium,
// driven by chromedp over a pipe (no port), and checks what a person would
// see: the page loads with no console error and no request but the report
// file itself, every chart paints its lines, and the verdict in plain
// words is on the first screen. It saves each report and a full-page
// screenshot as test artifacts (go test -artifacts keeps them; see
// t.ArtifactDir).
//
// Finding the browser: $CHAOSLAB_CHROMIUM names the binary (or "skip");
// else the first of chromium, chromium-browser, google-chrome and
// google-chrome-stable on $PATH. When there is none, the test installs
// Debian's chromium package if it can (as root, with apt-get, within
// installTimeout, not in -short mode). When it still has no browser it
// skips, saying what to install, except under CI=true, where it fails: CI
// machines are root on Debian and reach its packages, so a missing browser
// there is a broken install step, not a choice (-short skips there too).
// CHAOSLAB_CHROMIUM=skip skips the test on purpose, in CI too.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/chaoslab-dev/chaoslab"
	"github.com/chaoslab-dev/chaoslab/analyzer/analyzertest"
	"github.com/chaoslab-dev/chaoslab/dashboard/html"
)

const (
	// chromiumEnv names the browser binary to use, or "skip".
	chromiumEnv = "CHAOSLAB_CHROMIUM"
	// installTimeout bounds installing Debian's chromium package.
	installTimeout = 5 * time.Minute
	// browserTimeout bounds the whole browser session: start, every page,
	// shutdown. It is generous for a loaded 2-core machine; a run takes a
	// few seconds.
	browserTimeout = 2 * time.Minute
	// viewportW and viewportH are the browser's screen, a laptop's.
	viewportW, viewportH = 1280, 900
	// minPainted is how many pixels of a chart must change when its lines
	// are hidden for the lines to count as drawn.
	minPainted = 40
)

// browserNames are the binaries looked for on $PATH, in order.
var browserNames = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"}

func lookChromium() string {
	for _, name := range browserNames {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// findChromium returns the browser to test with, installing it when it
// can; it skips or fails the test when there is none (see the file
// comment).
func findChromium(t *testing.T) string {
	t.Helper()
	if v := os.Getenv(chromiumEnv); v != "" {
		if v == "skip" {
			t.Skipf("%s=skip: the report is not tested in a browser", chromiumEnv)
		}
		p, err := exec.LookPath(v)
		if err != nil {
			t.Fatalf("%s=%q: %v", chromiumEnv, v, err)
		}
		return p
	}
	if p := lookChromium(); p != "" {
		return p
	}
	why := installChromium(t)
	if p := lookChromium(); p != "" {
		return p
	}
	if why == "" {
		why = "Debian's chromium package is installed, yet none is on $PATH"
	}
	msg := fmt.Sprintf("NO BROWSER: the HTML report is not tested in a browser: no %s on $PATH (%s). "+
		"Install Debian's chromium package (as root: apt-get install -y chromium) or set %s to a Chrome or Chromium binary.",
		strings.Join(browserNames, ", "), why, chromiumEnv)
	if os.Getenv("CI") == "true" && !testing.Short() {
		t.Fatalf("%s Under CI=true this fails; set %s=skip to skip the test on purpose.", msg, chromiumEnv)
	}
	t.Skip(msg)
	return ""
}

// installChromium installs Debian's chromium package when the test may
// and can: not in -short mode, as root, with apt-get. It logs apt-get's
// output and returns why the browser is still missing, or "" when it
// installed it.
func installChromium(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		return "not installed in -short mode"
	}
	if os.Geteuid() != 0 {
		return "not root, so it was not installed"
	}
	apt, err := exec.LookPath("apt-get")
	if err != nil {
		return "no apt-get to install it with"
	}
	ctx, cancel := context.WithTimeout(t.Context(), installTimeout)
	defer cancel()
	run := func(args ...string) error {
		start := time.Now()
		args = append([]string{"-o", "DPkg::Lock::Timeout=120"}, args...)
		cmd := exec.CommandContext(ctx, apt, args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		// apt-get runs dpkg and its scripts: stop them all, gently, when
		// the time is up.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
		cmd.WaitDelay = 30 * time.Second
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		t.Logf("apt-get %s: %v after %s; last lines:\n%s", strings.Join(args, " "), errOrOK(err),
			time.Since(start).Round(time.Millisecond), lastLines(out.String(), 15))
		return err
	}
	t.Logf("no browser found: installing Debian's chromium package (within %s)", installTimeout)
	if err = run("install", "-y", "chromium"); err == nil {
		return ""
	}
	// The package lists may be missing or stale.
	if err = run("update"); err == nil {
		if err = run("install", "-y", "chromium"); err == nil {
			return ""
		}
	}
	return "apt-get install chromium failed: " + err.Error()
}

func errOrOK(err error) string {
	if err == nil {
		return "ok"
	}
	return err.Error()
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// browser is one headless Chromium with one tab, and what the tab
// reported since the last take.
type browser struct {
	tab     context.Context
	profile string

	mu       sync.Mutex
	console  []string // console calls, exceptions and log entries
	requests []string // URLs the page requested
}

// startBrowser starts the browser at bin with a fresh profile. The
// test's cleanup stops it and checks that none of its processes is left.
func startBrowser(t *testing.T, bin string) *browser {
	t.Helper()
	b := &browser{profile: filepath.Join(t.TempDir(), "profile")}
	var output syncBuffer
	ctx, cancelTimeout := context.WithTimeout(context.Background(), browserTimeout)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(bin),
		chromedp.UserDataDir(b.profile),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("headless", "new"),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("mute-audio", true),
		chromedp.NoSandbox, // root in a container
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-pings", true),
		chromedp.Flag("force-color-profile", "srgb"),
		chromedp.Flag("force-device-scale-factor", "1"),
		chromedp.WindowSize(viewportW, viewportH),
		chromedp.CombinedOutput(&output),
		// Its own process group, to kill the whole tree; and killed by the
		// kernel should this test process die first.
		chromedp.ModifyCmdFunc(func(cmd *exec.Cmd) {
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		}),
	)
	tab, cancelTab := chromedp.NewContext(allocCtx, chromedp.WithListener(b.listen))
	b.tab = tab
	var pid int
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc() // kills the browser and waits for it
		cancelTimeout()
		if pid > 0 {
			_ = syscall.Kill(-pid, syscall.SIGKILL) // the rest of its group
		}
		if before := procsUsing(b.profile); len(before) > 0 {
			t.Logf("killing %d browser processes that outlived it", len(before))
		}
		if left := reap(b.profile, 10*time.Second); len(left) > 0 {
			t.Errorf("browser processes left running: %v", left)
		}
		if t.Failed() {
			t.Logf("browser output:\n%s", lastLines(output.String(), 40))
		}
	})
	start := time.Now()
	if err := chromedp.Do(tab, chromedp.EmulateViewport(viewportW, viewportH)); err != nil {
		t.Fatalf("starting %s: %v\n%s", bin, err, lastLines(output.String(), 40))
	}
	if c := chromedp.FromContext(tab); c != nil && c.Browser != nil && c.Browser.Process() != nil {
		pid = c.Browser.Process().Pid
	}
	t.Logf("started %s (pid %d) in %s", bin, pid, time.Since(start).Round(time.Millisecond))
	return b
}

// reap kills the processes that run with profile as their user data
// directory, until none is left or the time is up, and returns those still
// running then.
func reap(profile string, within time.Duration) []string {
	deadline := time.Now().Add(within)
	for {
		left := procsUsing(profile)
		if len(left) == 0 || time.Now().After(deadline) {
			var out []string
			for pid, cmd := range left {
				out = append(out, strconv.Itoa(pid)+" "+cmd)
			}
			return out
		}
		for pid := range left {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(50 * time.Millisecond) // polling /proc, not synchronising
	}
}

// procsUsing returns the live processes whose command line names profile
// as the user data directory, with their program.
func procsUsing(profile string) map[int]string {
	want := []byte("--user-data-dir=" + profile)
	entries, _ := os.ReadDir("/proc")
	out := map[int]string{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := bytes.Split(cmdline, []byte{0})
		for _, a := range args {
			if bytes.Equal(a, want) {
				out[pid] = string(args[0])
				break
			}
		}
	}
	return out
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// listen records the tab's console and network events. It runs in the
// tab's read loop, in order, before the replies that follow the events.
func (b *browser) listen(ev any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		var args []string
		for _, a := range ev.Args {
			args = append(args, remoteText(a))
		}
		b.console = append(b.console, "console."+string(ev.Type)+": "+strings.Join(args, " "))
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		text := d.Text
		if d.Exception != nil {
			text += " " + remoteText(d.Exception)
		}
		b.console = append(b.console, "exception: "+text)
	case *log.EventEntryAdded:
		e := ev.Entry
		b.console = append(b.console, fmt.Sprintf("log.%s (%s): %s %s", e.Level, e.Source, e.Text, e.URL))
	case *network.EventRequestWillBeSent:
		b.requests = append(b.requests, ev.Request.URL)
	}
}

func remoteText(o *runtime.RemoteObject) string {
	if o.Description != "" {
		return o.Description
	}
	if len(o.Value) > 0 {
		var s string
		if json.Unmarshal(o.Value, &s) == nil {
			return s
		}
		return string(o.Value)
	}
	return string(o.Type)
}

// take returns what the tab reported since the last take, and forgets it.
func (b *browser) take() (console, requests []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	console, requests = b.console, b.requests
	b.console, b.requests = nil, nil
	return console, requests
}

// quiet are the console entries that are no problem; everything else is:
// the report has no script, so nothing should write to the console.
var quiet = regexp.MustCompile(`^(console\.(log|debug|info)|log\.(verbose|info))\b`)

// pageFacts is what the page says of itself after it loaded.
type pageFacts struct {
	Title      string      `json:"title"`
	ReadyState string      `json:"readyState"`
	DocW       float64     `json:"docW"`
	InnerH     float64     `json:"innerH"`
	Charts     []chartFact `json:"charts"`
	Top        []boxFact   `json:"top"`
	Score      bool        `json:"score"`
}

type chartFact struct {
	Title  string       `json:"title"`
	Box    [4]float64   `json:"box"` // x, y, width, height in the page
	Series []seriesFact `json:"series"`
}

type seriesFact struct {
	Class       string  `json:"cls"`
	D           string  `json:"d"`
	Length      float64 `json:"length"`
	Stroke      string  `json:"stroke"`
	StrokeWidth float64 `json:"strokeWidth"`
	Visible     bool    `json:"visible"`
}

type boxFact struct {
	ID     string  `json:"id"`
	Top    float64 `json:"top"`
	Bottom float64 `json:"bottom"`
	Text   string  `json:"text"`
}

const factsJS = `(() => {
  const sx = window.scrollX, sy = window.scrollY;
  const box = e => { const r = e.getBoundingClientRect(); return [r.left + sx, r.top + sy, r.width, r.height]; };
  return JSON.stringify({
    title: document.title,
    readyState: document.readyState,
    docW: document.documentElement.scrollWidth,
    innerH: window.innerHeight,
    score: document.getElementById("score") !== null,
    charts: [...document.querySelectorAll("svg.chart")].map(svg => ({
      title: svg.getAttribute("aria-label") || "",
      box: box(svg),
      series: [...svg.querySelectorAll("path.series")].map(p => {
        const cs = getComputedStyle(p);
        return {cls: p.getAttribute("class") || "", d: p.getAttribute("d") || "", length: p.getTotalLength(),
          stroke: cs.stroke, strokeWidth: parseFloat(cs.strokeWidth) || 0,
          visible: cs.visibility === "visible" && cs.display !== "none" && parseFloat(cs.opacity) > 0};
      }),
    })),
    top: ["verdict", "headline", "details"].map(id => {
      const e = document.getElementById(id);
      if (!e) return {id: id, top: -1, bottom: -1, text: ""};
      const b = box(e);
      return {id: id, top: b[1], bottom: b[1] + b[3], text: e.innerText};
    }),
  });
})()`

const hideSeriesJS = `document.querySelectorAll("svg.chart path.series").forEach(p => { p.style.visibility = "hidden"; }); true`

// visit is one look at a page: its facts, its console and requests, its
// full-page screenshot, and screenshots of its charts with and without
// their lines.
type visit struct {
	facts          pageFacts
	console        []string
	requests       []string
	png            []byte      // the full page
	clip           image.Point // where the chart shots start in the page
	lines, noLines image.Image // the charts with and without their lines
}

// open loads url in the tab and looks at it.
func (b *browser) open(t *testing.T, url string) visit {
	t.Helper()
	b.take() // forget what came before
	ctx, cancel := context.WithTimeout(b.tab, 30*time.Second)
	defer cancel()
	var v visit
	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil {
		t.Fatalf("loading %s: %v", url, err)
	}
	// Navigate returned on the load event; layout and paint follow.
	state, err := chromedp.Run(ctx, chromedp.Poll[string](`document.readyState === "complete" && document.readyState`))
	if err != nil || state != "complete" {
		t.Fatalf("%s did not finish loading: %q, %v", url, state, err)
	}
	js, err := chromedp.Run(ctx, chromedp.Evaluate[string](factsJS))
	if err != nil {
		t.Fatalf("reading the page: %v", err)
	}
	if err := json.Unmarshal([]byte(js), &v.facts); err != nil {
		t.Fatalf("decoding the page facts: %v\n%s", err, js)
	}
	if v.png, err = chromedp.Run(ctx, chromedp.FullScreenshot(100)); err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	// The charts' region, shot with the lines and then without: only it
	// is decoded, which keeps the test quick under -race.
	if area := chartsArea(v.facts.Charts); !area.Empty() {
		v.clip = area.Min
		if v.lines, err = shoot(ctx, area); err != nil {
			t.Fatalf("screenshot of the charts: %v", err)
		}
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](hideSeriesJS)); err != nil {
			t.Fatalf("hiding the charts' lines: %v", err)
		}
		if v.noLines, err = shoot(ctx, area); err != nil {
			t.Fatalf("screenshot of the charts without lines: %v", err)
		}
	}
	// A round trip after the last action: every event the page caused is
	// in by its reply.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`true`)); err != nil {
		t.Fatal(err)
	}
	v.console, v.requests = b.take()
	return v
}

// chartsArea is the part of the page, in CSS pixels, that holds every
// chart.
func chartsArea(charts []chartFact) image.Rectangle {
	var r image.Rectangle
	for _, c := range charts {
		r = r.Union(c.rect())
	}
	return r
}

// rect is the chart's box in the page, in whole CSS pixels.
func (c chartFact) rect() image.Rectangle {
	x, y, w, h := c.Box[0], c.Box[1], c.Box[2], c.Box[3]
	return image.Rect(int(math.Floor(x)), int(math.Floor(y)), int(math.Ceil(x+w)), int(math.Ceil(y+h)))
}

// shoot takes a PNG screenshot of the area of the page and decodes it.
func shoot(ctx context.Context, area image.Rectangle) (image.Image, error) {
	yes := true
	shot, err := chromedp.Call(ctx, page.CaptureScreenshot, page.CaptureScreenshotParams{
		Format:                page.CaptureScreenshotFormatPng,
		Clip:                  &page.Viewport{X: float64(area.Min.X), Y: float64(area.Min.Y), Width: float64(area.Dx()), Height: float64(area.Dy()), Scale: 1},
		FromSurface:           &yes,
		CaptureBeyondViewport: &yes,
	})
	if err != nil {
		return nil, err
	}
	return png.Decode(bytes.NewReader(shot.Data))
}

// problems lists what is wrong with a visit of the page at docURL: console
// errors, requests for anything but the document, and charts that did not
// draw. A chart drew when its SVG has a visible box, at least one line
// (path.series) with well-formed path data of non-zero length and a
// visible stroke, and hiding its lines changes at least minPainted pixels
// inside its box: the lines were painted.
func (v visit) problems(docURL string) []string {
	var out []string
	for _, c := range v.console {
		if !quiet.MatchString(c) {
			out = append(out, "console: "+c)
		}
	}
	for _, r := range v.requests {
		if r != docURL {
			out = append(out, "request: "+r)
		}
	}
	if v.facts.ReadyState != "complete" {
		out = append(out, "page not loaded: "+v.facts.ReadyState)
	}
	for i, c := range v.facts.Charts {
		name := fmt.Sprintf("chart %d %q", i+1, c.Title)
		if w, h := c.Box[2], c.Box[3]; w < 100 || h < 50 {
			out = append(out, fmt.Sprintf("%s: box %.0f×%.0f px, too small to see", name, w, h))
			continue
		}
		lines := 0
		for _, s := range c.Series {
			switch {
			case !pathData.MatchString(s.D):
				out = append(out, fmt.Sprintf("%s: line %q has malformed path data %.60q", name, s.Class, s.D))
			case !s.Visible || s.Stroke == "" || s.Stroke == "none" || s.StrokeWidth <= 0:
				out = append(out, fmt.Sprintf("%s: line %q is invisible (stroke %q, width %v)", name, s.Class, s.Stroke, s.StrokeWidth))
			case s.Length > 0 || strings.Contains(s.D, "h0"):
				lines++
			}
		}
		if lines == 0 {
			out = append(out, name+": no line to draw")
			continue
		}
		if v.lines == nil || v.noLines == nil {
			out = append(out, name+": not shot")
			continue
		}
		if n := v.painted(c); n < minPainted {
			out = append(out, fmt.Sprintf("%s: its lines painted %d pixels, want at least %d", name, n, minPainted))
		}
	}
	return out
}

// painted counts the pixels of the chart that its lines painted.
func (v visit) painted(c chartFact) int {
	if v.lines == nil || v.noLines == nil {
		return 0
	}
	return changed(v.lines, v.noLines, c.rect().Sub(v.clip))
}

// pathData is the path data the charts write: moves, lines, and h0 for a
// lone point.
var pathData = regexp.MustCompile(`^(?:[ML]-?[0-9]+(?:\.[0-9]+)? -?[0-9]+(?:\.[0-9]+)?|h0)+$`)

// changed counts the pixels in r that differ between a and b, both
// screenshots of the same area.
func changed(a, b image.Image, r image.Rectangle) int {
	r = r.Intersect(a.Bounds()).Intersect(b.Bounds())
	n := 0
	const tolerance = 16 // of 255, per channel
	ra, okA := a.(*image.RGBA)
	rb, okB := b.(*image.RGBA)
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if okA && okB { // the usual case, quick
				i, j := ra.PixOffset(x, y), rb.PixOffset(x, y)
				if diff(uint32(ra.Pix[i]), uint32(rb.Pix[j])) > tolerance || diff(uint32(ra.Pix[i+1]), uint32(rb.Pix[j+1])) > tolerance ||
					diff(uint32(ra.Pix[i+2]), uint32(rb.Pix[j+2])) > tolerance {
					n++
				}
				continue
			}
			r1, g1, b1, _ := a.At(x, y).RGBA()
			r2, g2, b2, _ := b.At(x, y).RGBA()
			if diff(r1, r2) > tolerance<<8 || diff(g1, g2) > tolerance<<8 || diff(b1, b2) > tolerance<<8 {
				n++
			}
		}
	}
	return n
}

func diff(a, b uint32) uint32 {
	if a > b {
		return a - b
	}
	return b - a
}

// fleet is a run against a fleet without load: health probes only, and
// the fleet's capacity as its only series (instance_termination takes one
// of three instances; the group replaces it).
func fleet() *chaoslab.Result {
	r := analyzertest.Pass()
	r.Name = "web-fleet-termination"
	r.Load = chaoslab.LoadRecord{Disabled: true}
	r.Target = chaoslab.TargetRef{Kind: chaoslab.TargetFleet, ID: "asg-web"}
	for i := range r.Series {
		p := &r.Series[i]
		p.Requests, p.Errors, p.RPS, p.ErrRate, p.Latency = 0, 0, 0, 0, chaoslab.Latencies{}
		p.CPUPercent, p.MemoryMB, p.HostCPUPercent, p.HostMemoryMB, p.DiskUsedMB = 0, 0, 0, 0, 0
		p.DesiredCapacity, p.HealthyCapacity = 3, 3
		if i >= 6 && i < 10 {
			p.HealthyCapacity = 2
		}
	}
	for i := range r.Windows {
		w := &r.Windows[i]
		w.Requests, w.Errors, w.RPS, w.ErrRate, w.Latency, w.CPUPeak, w.MemoryMax = 0, 0, 0, 0, chaoslab.Latencies{}, 0, 0
	}
	r.Hypothesis = []chaoslab.Check{{Window: chaoslab.WindowChaos, Metric: "probe:health", OK: true}}
	r.Faults[0].Scenario = "instance_termination"
	r.Faults[0].Params = chaoslab.Params{"count": "1"}
	r.Reason = "the hypothesis held before, during and after the faults"
	return r
}

func TestBrowser(t *testing.T) {
	bin := findChromium(t)
	began := time.Now()
	b := startBrowser(t, bin)

	// The checks catch what they look for: a page with a console error,
	// an exception, a failed file request and a chart with no line.
	t.Run("catches problems", func(t *testing.T) {
		dir := t.TempDir()
		page := filepath.Join(dir, "bad.html")
		doc := `<!DOCTYPE html><html><head><title>bad</title><link rel="stylesheet" href="missing.css"/></head><body>
<svg class="chart" viewBox="0 0 560 240" style="width:560px;height:240px"><path class="series" d=""/></svg>
<svg class="chart" viewBox="0 0 560 240" style="width:560px;height:240px"><path class="series" style="stroke:#00f;stroke-width:2;fill:none" d="M10 10L500 200"/></svg>
<svg class="chart" viewBox="0 0 560 240" style="width:560px;height:240px"><path class="series" style="stroke:#00f;stroke-width:2;fill:none" d="M2000 10L2100 200"/></svg>
<script>console.error("boom"); throw new Error("kaput");</script></body></html>`
		if err := os.WriteFile(page, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		url := "file://" + page
		got := strings.Join(b.open(t, url).problems(url), "\n")
		t.Logf("found:\n%s", got)
		for _, want := range []string{"console.error: boom", "exception: ", "kaput", "request: file://" + filepath.Join(dir, "missing.css"),
			`chart 1 "": no line to draw`, `chart 3 "": its lines painted 0 pixels`} {
			if !strings.Contains(got, want) {
				t.Errorf("the checks missed %q; they found:\n%s", want, got)
			}
		}
		if strings.Contains(got, "chart 2") {
			t.Errorf("a chart that drew counts as a problem:\n%s", got)
		}
	})

	tests := []struct {
		name   string
		r      *chaoslab.Result
		charts int
		words  []string // in the headline
	}{
		{"pass", analysed(t, analyzertest.Pass()), 5, []string{"kept its promises", "back to normal"}},
		{"fail_recovered", analysed(t, analyzertest.NetworkDelay()), 5, []string{"broke its promise", "200 ms delay", "216 ms", "100 ms limit", "recovered 1.2 s after the fault ended"}},
		{"fail_process_kill", analysed(t, analyzertest.ProcessKill()), 5, []string{"broke its promise", "kill of its process", "recovered 2.4 s"}},
		{"no_load_fleet", analysed(t, fleet()), 1, []string{"kept its promises", "loss of one of its instances"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.ArtifactDir()
			d := html.New(dir, html.WithFileName(tt.name+".html"))
			link, err := d.Publish(t.Context(), tt.r)
			if err != nil {
				t.Fatal(err)
			}
			v := b.open(t, link.URL)
			shot := filepath.Join(dir, tt.name+".png")
			if err := os.WriteFile(shot, v.png, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("report %s, screenshot %s", d.Path(), shot)

			for _, p := range v.problems(link.URL) {
				t.Error(p)
			}
			var drew []string
			for _, c := range v.facts.Charts {
				drew = append(drew, fmt.Sprintf("%s %d px", c.Title, v.painted(c)))
			}
			t.Logf("charts drew: %s", strings.Join(drew, ", "))
			if want := tt.r.Name + " · chaoslab report"; !strings.HasSuffix(v.facts.Title, want) {
				t.Errorf("title %q, want it to end with %q", v.facts.Title, want)
			}
			if len(v.facts.Charts) != tt.charts {
				t.Errorf("%d charts in the page, want %d", len(v.facts.Charts), tt.charts)
			}
			// The verdict in plain words is on the first screen, above the
			// details for engineers.
			top := map[string]boxFact{}
			for _, f := range v.facts.Top {
				top[f.ID] = f
			}
			for _, id := range []string{"verdict", "headline"} {
				if f := top[id]; f.Top < 0 || f.Bottom > v.facts.InnerH || f.Bottom <= f.Top {
					t.Errorf("#%s is not on the first screen (%.0f to %.0f px of %.0f)", id, f.Top, f.Bottom, v.facts.InnerH)
				}
			}
			if top["details"].Top < top["headline"].Bottom {
				t.Error("the details for engineers are not below the headline")
			}
			for _, w := range tt.words {
				if !strings.Contains(top["headline"].Text, w) {
					t.Errorf("headline %q lacks %q", top["headline"].Text, w)
				}
			}
			if v.facts.Score {
				t.Error("the page shows a score, but results have none yet")
			}
		})
	}
	t.Logf("browser test took %s", time.Since(began).Round(time.Millisecond))
}
