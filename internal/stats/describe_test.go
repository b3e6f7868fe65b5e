package stats

import (
	"math"
	"slices"
	"testing"
)

func TestMeanMedianQuantile(t *testing.T) {
	nan := math.NaN()
	one2ten := []float64{10, 9, 8, 7, 6, 5, 4, 3, 2, 1}
	tests := []struct {
		name string
		got  float64
		want float64
	}{
		{"mean", Mean([]float64{1, 2, 3, 4}), 2.5},
		{"mean ignores non-finite", Mean([]float64{1, nan, 3, math.Inf(1)}), 2},
		{"mean empty", Mean(nil), nan},
		{"mean all NaN", Mean([]float64{nan}), nan},
		{"median odd", Median([]float64{3, 1, 2}), 2},
		{"median even", Median([]float64{4, 1, 3, 2}), 2.5},
		{"median empty", Median(nil), nan},
		// R: quantile(1:10, c(0, .1, .25, .9, 1)) = 1.00 1.90 3.25 9.10 10.00
		{"q0", Quantile(one2ten, 0), 1},
		{"q.1", Quantile(one2ten, 0.1), 1.9},
		{"q.25", Quantile(one2ten, 0.25), 3.25},
		{"q.9", Quantile(one2ten, 0.9), 9.1},
		{"q1", Quantile(one2ten, 1), 10},
		{"q single", Quantile([]float64{7}, 0.99), 7},
		{"q below 0", Quantile(one2ten, -0.1), nan},
		{"q above 1", Quantile(one2ten, 1.1), nan},
		{"q NaN", Quantile(one2ten, nan), nan},
		// R: mad(c(1, 2, 3, 4, 100), constant = 1) = 1
		{"mad", MAD([]float64{1, 2, 3, 4, 100}), 1},
		{"mad empty", MAD(nil), nan},
	}
	for _, tc := range tests {
		checkNear(t, tc.name, tc.got, tc.want, 1e-12)
	}
}

func TestQuantileDoesNotModify(t *testing.T) {
	xs := []float64{3, 1, 2}
	_ = Quantile(xs, 0.5)
	_ = MAD(xs)
	if !slices.Equal(xs, []float64{3, 1, 2}) {
		t.Fatalf("input modified: %v", xs)
	}
}
