// Package html is chaoslab's default Dashboarder: it publishes a result as
// one self-contained HTML report on disk. The report works offline and can
// be mailed or archived as a single file: inline CSS, charts drawn as inline
// SVG in Go, no script, font, style sheet or image fetched from anywhere.
//
// Its top speaks to a manager: a big PASS, FAIL or INCONCLUSIVE badge and
// a headline in plain words, saying what was done to the service, whether
// it kept its promises (the hypothesis), what broke and how fast it came
// back; the resilience score goes next to it once results carry one. Below
// come the details for engineers: the verdict in the analyzers' terms, the
// experiment, target, scenarios and recovery time; the analysis; charts
// over time of throughput, error rate, latency (p50 and p99), CPU, memory
// and a fleet's capacity with the fault windows shaded and phase
// boundaries marked (readings the target did not take, and missing time,
// are gaps; a chart with nothing measured is left out); and tables of the
// hypothesis checks, faults, phases, the target's last log lines and the
// run's errors.
package html

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/chaoslab-dev/chaoslab"
)

// DefaultFileName is the report's file name in the Dashboard's directory.
const DefaultFileName = "report.html"

// Kind is the DashboardLink.Kind of the links Publish returns.
const Kind = "html"

// Dashboard writes reports to a directory. Make it with New; it is safe for
// concurrent use.
type Dashboard struct {
	dir      string
	name     string
	logLines int
}

// Option configures a Dashboard.
type Option func(*Dashboard)

// WithFileName sets the report's file name (default report.html). It must be
// a plain file name, without directories; Publish reports one that is not.
func WithFileName(name string) Option {
	return func(d *Dashboard) { d.name = name }
}

// WithLogLines sets how many of the target's last log lines the report shows
// (default DefaultLogLines); a negative n shows all the result holds.
func WithLogLines(n int) Option {
	return func(d *Dashboard) { d.logLines = n }
}

// New returns a Dashboard that writes into dir, which Publish creates if
// needed. It does no I/O.
func New(dir string, opts ...Option) *Dashboard {
	d := &Dashboard{dir: dir, name: DefaultFileName, logLines: DefaultLogLines}
	for _, o := range opts {
		o(d)
	}
	return d
}

var _ chaoslab.Dashboarder = (*Dashboard)(nil)

// Path returns where Publish writes the report.
func (d *Dashboard) Path() string { return filepath.Join(d.dir, d.name) }

// Publish renders r and writes it to the report file atomically: readers
// see the old report or the new one, never a part. Publishing again, for
// the same run or another, replaces the file. It returns a file:// link to
// the report's absolute path.
func (d *Dashboard) Publish(ctx context.Context, r *chaoslab.Result) (chaoslab.DashboardLink, error) {
	if err := ctx.Err(); err != nil {
		return chaoslab.DashboardLink{}, fmt.Errorf("html: publish: %w", err)
	}
	if r == nil {
		return chaoslab.DashboardLink{}, errors.New("html: publish: nil result")
	}
	if d.name == "" || d.name != filepath.Base(d.name) || strings.ContainsAny(d.name, `/\`) || d.name == "." || d.name == ".." {
		return chaoslab.DashboardLink{}, fmt.Errorf("html: publish: file name %q must be a plain file name", d.name)
	}
	abs, err := filepath.Abs(d.Path())
	if err != nil {
		return chaoslab.DashboardLink{}, fmt.Errorf("html: publish: %w", err)
	}
	var buf bytes.Buffer
	if err := render(&buf, r, d.logLines); err != nil {
		return chaoslab.DashboardLink{}, err
	}
	if err := writeAtomic(abs, buf.Bytes()); err != nil {
		return chaoslab.DashboardLink{}, fmt.Errorf("html: publish: %w", err)
	}
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs)}
	if !strings.HasPrefix(u.Path, "/") { // a Windows drive path
		u.Path = "/" + u.Path
	}
	return chaoslab.DashboardLink{Kind: Kind, URL: u.String()}, nil
}

// writeAtomic writes data to a temporary file next to path and renames it
// over path; it leaves no temporary file behind.
func writeAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
