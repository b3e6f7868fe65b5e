package stats

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestScoreExamples(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		name string
		in   ScoreInput
		want float64
	}{
		{"perfect", ScoreInput{ChaosPass: 3, RecoveryPass: 3, Recovered: true, RecoverySeconds: 2, BudgetSeconds: 5}, 100},
		{"no tolerances, recovered", ScoreInput{Recovered: true}, 100},
		{"never recovered", ScoreInput{ChaosPass: 3, RecoveryPass: 3}, 0},
		{"NaN recovery time", ScoreInput{ChaosPass: 3, Recovered: true, RecoverySeconds: nan, BudgetSeconds: 5}, 0},
		// held(chaos) = 2/4, held(recovery) = 1: 100·(0.6·0.5 + 0.4) = 70.
		{"half broken in chaos", ScoreInput{ChaosPass: 2, ChaosFail: 2, RecoveryPass: 4, Recovered: true}, 70},
		// held(chaos) = (1 + 0.5)/2 = 0.75: 100·(0.45 + 0.4) = 85.
		{"inconclusive counts half", ScoreInput{ChaosPass: 1, ChaosInconclusive: 1, RecoveryPass: 2, Recovered: true}, 85},
		{"all broken", ScoreInput{ChaosFail: 2, RecoveryFail: 2, Recovered: true}, 0},
		// r = 2: time factor (3 − 2)/2 = 0.5.
		{"twice the budget", ScoreInput{ChaosPass: 1, RecoveryPass: 1, Recovered: true, RecoverySeconds: 10, BudgetSeconds: 5}, 50},
		{"thrice the budget", ScoreInput{ChaosPass: 1, RecoveryPass: 1, Recovered: true, RecoverySeconds: 15, BudgetSeconds: 5}, 0},
		{"on the budget", ScoreInput{ChaosPass: 1, Recovered: true, RecoverySeconds: 5, BudgetSeconds: 5}, 100},
		{"no budget", ScoreInput{ChaosPass: 1, Recovered: true, RecoverySeconds: 500}, 100},
		{"infinite budget", ScoreInput{ChaosPass: 1, Recovered: true, RecoverySeconds: 500, BudgetSeconds: math.Inf(1)}, 100},
		{"infinite recovery", ScoreInput{ChaosPass: 1, Recovered: true, RecoverySeconds: math.Inf(1), BudgetSeconds: 5}, 0},
		{"negative time", ScoreInput{ChaosPass: 1, Recovered: true, RecoverySeconds: -3, BudgetSeconds: 5}, 100},
		{"negative counts", ScoreInput{ChaosPass: -4, ChaosFail: -1, RecoveryPass: 1, Recovered: true}, 100},
	}
	for _, tc := range tests {
		checkNear(t, tc.name, Score(tc.in), tc.want, 1e-9)
	}
}

// randomInput draws a ScoreInput over the whole range, odd values included.
func randomInput(r *rand.Rand) ScoreInput {
	count := func() int { return r.IntN(8) - 1 } // -1 .. 6
	secs := []float64{0, 1, 4.9, 5, 7.5, 12, 15, 100, -1, math.NaN(), math.Inf(1)}
	budget := []float64{0, 5, 10, -2, math.NaN(), math.Inf(1)}
	return ScoreInput{
		ChaosPass: count(), ChaosFail: count(), ChaosInconclusive: count(),
		RecoveryPass: count(), RecoveryFail: count(), RecoveryInconclusive: count(),
		Recovered:       r.IntN(5) != 0,
		RecoverySeconds: secs[r.IntN(len(secs))] * (0.5 + r.Float64()),
		BudgetSeconds:   budget[r.IntN(len(budget))],
	}
}

func TestScoreProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 42))
	const eps = 1e-9
	for range 20000 {
		in := randomInput(r)
		s := Score(in)
		if !(s >= 0 && s <= 100) {
			t.Fatalf("Score(%+v) = %v, outside [0, 100]", in, s)
		}
		if !in.Recovered && s != 0 {
			t.Fatalf("not recovered but Score(%+v) = %v", in, s)
		}

		// Holding more tolerances never lowers the score: fail → pass,
		// fail → inconclusive, inconclusive → pass, or one more pass, in
		// either phase.
		for _, better := range improvements(in) {
			if Score(better) < s-eps {
				t.Fatalf("holding more lowered the score: %+v → %v, %+v → %v", in, s, better, Score(better))
			}
		}

		// A longer recovery never raises it; recovering beats not.
		longer := in
		longer.RecoverySeconds = math.Max(in.RecoverySeconds, 0) + r.Float64()*20
		if !math.IsNaN(in.RecoverySeconds) && Score(longer) > s+eps {
			t.Fatalf("longer recovery raised the score: %+v → %v, %+v → %v", in, s, longer, Score(longer))
		}
		never := in
		never.Recovered = false
		if Score(never) > s {
			t.Fatalf("never recovering scored higher than %+v", in)
		}
	}
}

// improvements returns in with one tolerance held better, in every way
// that can be. Negative counts, which count as 0, are made 0 first.
func improvements(in ScoreInput) []ScoreInput {
	for _, c := range []*int{&in.ChaosPass, &in.ChaosFail, &in.ChaosInconclusive, &in.RecoveryPass, &in.RecoveryFail, &in.RecoveryInconclusive} {
		*c = max(*c, 0)
	}
	var out []ScoreInput
	add := func(f func(*ScoreInput)) {
		c := in
		f(&c)
		out = append(out, c)
	}
	if in.ChaosFail > 0 {
		add(func(c *ScoreInput) { c.ChaosFail--; c.ChaosPass++ })
		add(func(c *ScoreInput) { c.ChaosFail--; c.ChaosInconclusive++ })
	}
	if in.ChaosInconclusive > 0 {
		add(func(c *ScoreInput) { c.ChaosInconclusive--; c.ChaosPass++ })
	}
	if in.RecoveryFail > 0 {
		add(func(c *ScoreInput) { c.RecoveryFail--; c.RecoveryPass++ })
		add(func(c *ScoreInput) { c.RecoveryFail--; c.RecoveryInconclusive++ })
	}
	if in.RecoveryInconclusive > 0 {
		add(func(c *ScoreInput) { c.RecoveryInconclusive--; c.RecoveryPass++ })
	}
	add(func(c *ScoreInput) { c.ChaosPass++ })
	add(func(c *ScoreInput) { c.RecoveryPass++ })
	return out
}
