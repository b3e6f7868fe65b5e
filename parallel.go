package chaoslab

import (
	"context"
	"errors"
	"fmt"

	"golang.org/x/sync/errgroup"
)

// RunAll runs the experiments, at most limit at a time (limit < 1 means
// one at a time), each as Run would, with its own target from the
// Runner's provider. It returns once every started run has ended, with
// results[i] the result of exps[i] (never nil) and the runs' errors
// joined, each naming its experiment.
//
// One run failing does not stop the others; cancelling ctx stops them all
// (runs not yet started end at once with ctx's error), and every run still
// reverts its faults and closes its target.
func (r *Runner) RunAll(ctx context.Context, exps []Experiment, limit int) ([]*Result, error) {
	results := make([]*Result, len(exps))
	errs := make([]error, len(exps))
	var g errgroup.Group
	g.SetLimit(max(limit, 1))
	for i, exp := range exps {
		g.Go(func() error {
			res, err := r.Run(ctx, exp)
			results[i] = res
			if err != nil {
				errs[i] = fmt.Errorf("experiment %d (%s): %w", i, exp.Name, err)
			}
			return nil
		})
	}
	_ = g.Wait() // the goroutines report through errs
	return results, errors.Join(errs...)
}
