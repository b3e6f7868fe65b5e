package e2b

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"
)

// Sandbox is a sandbox this provider made, as E2B lists it.
type Sandbox struct {
	ID         string
	TemplateID string
	State      string // "running" or "paused"
	StartedAt  time.Time
	EndAt      time.Time // when it expires unless renewed
	// From its metadata: the run and target it was made for, and the host
	// and process that made it (PID 0 when unknown).
	RunID    string
	TargetID string
	Host     string
	PID      int
}

// Sandboxes lists the sandboxes of this provider's team that chaoslab
// made (those with the metadata chaoslab=e2b-provider), running or paused.
func (p *Provider) Sandboxes(ctx context.Context) ([]Sandbox, error) {
	if p.cfg.apiKey == "" {
		return nil, ErrNoAPIKey
	}
	listed, err := p.api().list(ctx, map[string]string{MetaManaged: managedValue})
	if err != nil {
		return nil, fmt.Errorf("e2b: %w", err)
	}
	out := make([]Sandbox, 0, len(listed))
	for _, l := range listed {
		if l.Metadata[MetaManaged] != managedValue {
			continue // the API filters; this is for one that does not
		}
		pid, _ := strconv.Atoi(l.Metadata[MetaPID])
		out = append(out, Sandbox{
			ID: l.SandboxID, TemplateID: l.TemplateID, State: l.State, StartedAt: l.StartedAt, EndAt: l.EndAt,
			RunID: l.Metadata[MetaRun], TargetID: l.Metadata[MetaTarget], Host: l.Metadata[MetaHost], PID: pid,
		})
	}
	return out, nil
}

// Cleanup kills the sandboxes chaoslab made whose run is gone, as gone
// says, and returns the ids of those it killed (one already gone counts).
// A nil gone is OwnerGone. It goes on past a failed kill and returns the
// errors joined.
func (p *Provider) Cleanup(ctx context.Context, gone func(Sandbox) bool) ([]string, error) {
	if gone == nil {
		gone = OwnerGone
	}
	boxes, err := p.Sandboxes(ctx)
	if err != nil {
		return nil, err
	}
	api := p.api()
	var killed []string
	var errs []error
	for _, s := range boxes {
		if !gone(s) {
			continue
		}
		if err := api.kill(ctx, s.ID); err != nil {
			errs = append(errs, err)
			continue
		}
		p.cfg.logger.Info("e2b: killed an orphaned sandbox", "sandbox", s.ID, "run", s.RunID, "target", s.TargetID)
		killed = append(killed, s.ID)
	}
	if err := errors.Join(errs...); err != nil {
		return killed, fmt.Errorf("e2b: cleanup: %w", err)
	}
	return killed, nil
}

// OwnerGone reports whether the process that made s is gone: s names this
// host and a pid that no longer runs here. A sandbox made elsewhere, or
// whose maker is unknown, is not reported gone.
func OwnerGone(s Sandbox) bool {
	host, err := os.Hostname()
	if err != nil || s.Host != host || s.PID <= 0 {
		return false
	}
	if s.PID == os.Getpid() {
		return false
	}
	return processGone(s.PID)
}
