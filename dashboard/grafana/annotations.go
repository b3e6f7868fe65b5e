package grafana

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/grafana/grafana-openapi-client-go/client/annotations"
	"github.com/grafana/grafana-openapi-client-go/models"

	"github.com/chaoslab-dev/chaoslab"
)

// dataKey is the key of chaoslab's part of an annotation's data.
const dataKey = "chaoslab"

// faultWindow is the annotation of one fault.
type faultWindow struct {
	index      int
	start, end time.Time
	tags       []string
	text       string
	data       map[string]any
}

// faultWindows returns the annotations of r's faults: one per fault that
// was injected, from its injection to its revert (to the run's end when it
// was never reverted).
func faultWindows(r *chaoslab.Result, name string, userTags []string) []faultWindow {
	var out []faultWindow
	for i, f := range r.Faults {
		if f.InjectedAt == nil || f.InjectedAt.IsZero() {
			continue
		}
		start := *f.InjectedAt
		end := start
		switch {
		case f.RevertedAt != nil && !f.RevertedAt.Before(start):
			end = *f.RevertedAt
		case f.RevertedAt == nil && r.EndedAt.After(start):
			end = r.EndedAt
		}
		tags := []string{TagChaoslab, TagRunPrefix + r.ID, TagScenarioPrefix + f.Scenario, TagExperimentPrefix + name}
		for _, t := range userTags {
			if !slices.Contains(tags, t) {
				tags = append(tags, t)
			}
		}
		var text strings.Builder
		fmt.Fprintf(&text, "chaoslab fault %s", f.Scenario)
		if len(f.Params) > 0 {
			fmt.Fprintf(&text, " (%s)", formatParams(f.Params))
		}
		fmt.Fprintf(&text, "\nrun %s of experiment %s", r.ID, name)
		fmt.Fprintf(&text, "\ninjected %s", start.UTC().Format(time.RFC3339Nano))
		if f.RevertedAt != nil {
			fmt.Fprintf(&text, ", reverted %s", f.RevertedAt.UTC().Format(time.RFC3339Nano))
		} else {
			text.WriteString(", never reverted")
		}
		if f.Detail != "" {
			fmt.Fprintf(&text, "\n%s", f.Detail)
		}
		if f.Error != "" {
			fmt.Fprintf(&text, "\nerror: %s", f.Error)
		}
		params := map[string]any{}
		for k, v := range f.Params {
			params[k] = v
		}
		out = append(out, faultWindow{
			index: i, start: start, end: end, tags: tags, text: text.String(),
			data: map[string]any{dataKey: map[string]any{
				"run": r.ID, "experiment": name, "fault": i, "scenario": f.Scenario, "params": params,
			}},
		})
	}
	return out
}

// faultIndex reads back which fault of run an annotation is; ok is false
// for an annotation Publish did not make for run.
func faultIndex(a *models.Annotation, run string) (int, bool) {
	data, ok := a.Data.(map[string]any)
	if !ok {
		return 0, false
	}
	ours, ok := data[dataKey].(map[string]any)
	if !ok || ours["run"] != run {
		return 0, false
	}
	switch v := ours["fault"].(type) {
	case float64:
		return int(v), v >= 0 && v == float64(int(v))
	case string:
		n, err := strconv.Atoi(v)
		return n, err == nil && n >= 0
	}
	return 0, false
}

// syncAnnotations makes the run's annotations in Grafana those of its
// fault windows: it updates the ones an earlier Publish of the same run
// made, adds the missing ones and deletes the rest of its own (those whose
// data says Publish made them for this run; annotations of anyone else,
// even with the same tags, are left alone). It returns how many the run
// has.
func (p *Publisher) syncAnnotations(ctx context.Context, api *apiClient, r *chaoslab.Result, name string) (int, error) {
	windows := faultWindows(r, name, p.tags)
	limit := int64(1000)
	kind := "annotation"
	found, err := api.Annotations.GetAnnotations(annotations.NewGetAnnotationsParamsWithContext(ctx).
		WithTags([]string{TagChaoslab, TagRunPrefix + r.ID}).WithType(&kind).WithLimit(&limit))
	if err != nil {
		return 0, fmt.Errorf("find the run's annotations: %w", err)
	}
	existing := map[int]*models.Annotation{}
	var stale []*models.Annotation
	for _, a := range found.Payload {
		if a == nil {
			continue
		}
		i, ok := faultIndex(a, r.ID)
		if !ok {
			continue
		}
		if existing[i] != nil {
			stale = append(stale, a)
			continue
		}
		existing[i] = a
	}
	for _, w := range windows {
		if a := existing[w.index]; a != nil {
			delete(existing, w.index)
			_, err := api.Annotations.UpdateAnnotation(strconv.FormatInt(a.ID, 10), &models.UpdateAnnotationsCmd{
				Time: w.start.UnixMilli(), TimeEnd: w.end.UnixMilli(), Tags: w.tags, Text: w.text, Data: w.data,
			}, withContext(ctx))
			if err != nil {
				return 0, fmt.Errorf("update annotation %d: %w", a.ID, err)
			}
			continue
		}
		text := w.text
		_, err := api.Annotations.PostAnnotation(&models.PostAnnotationsCmd{
			Time: w.start.UnixMilli(), TimeEnd: w.end.UnixMilli(), Tags: w.tags, Text: &text, Data: w.data,
		}, withContext(ctx))
		if err != nil {
			return 0, fmt.Errorf("post annotation: %w", err)
		}
	}
	for _, a := range existing {
		stale = append(stale, a)
	}
	for _, a := range stale {
		if _, err := api.Annotations.DeleteAnnotationByID(strconv.FormatInt(a.ID, 10), withContext(ctx)); err != nil {
			return 0, fmt.Errorf("delete stale annotation %d: %w", a.ID, err)
		}
	}
	return len(windows), nil
}
