package stats

import "math"

// Weights and constants of [Score].
const (
	// ChaosWeight is the share of the score earned by the tolerances held
	// while the fault was active.
	ChaosWeight = 0.6
	// RecoveryWeight is the share earned by the tolerances held after the
	// fault was removed.
	RecoveryWeight = 1 - ChaosWeight
	// InconclusiveCredit is the credit an inconclusive tolerance earns,
	// against 1 for a pass and 0 for a fail: the data could not tell, so it
	// counts as an even chance.
	InconclusiveCredit = 0.5
	// RecoveryCutoff is the multiple of the recovery budget at which the
	// time penalty takes the whole score.
	RecoveryCutoff = 3
)

// ScoreInput is what [Score] condenses: counts of tolerance outcomes per
// phase (after [Attribute]) and the recovery. Negative counts count as 0.
type ScoreInput struct {
	// ChaosPass, ChaosFail and ChaosInconclusive count the tolerances by
	// their outcome in the chaos phase.
	ChaosPass, ChaosFail, ChaosInconclusive int
	// RecoveryPass, RecoveryFail and RecoveryInconclusive count them in the
	// recovery phase.
	RecoveryPass, RecoveryFail, RecoveryInconclusive int
	// Recovered reports whether the steady state came back after the fault
	// was removed.
	Recovered bool
	// RecoverySeconds is the time from the fault's removal to the steady
	// state; negative counts as 0, NaN as not recovered.
	RecoverySeconds float64
	// BudgetSeconds is the recovery time accepted without penalty, e.g. the
	// stable window the recovery is judged over; 0, negative or non-finite
	// means no time penalty.
	BudgetSeconds float64
}

// Score returns the resilience score of a run, from 0 (worst) to 100:
//
//	held(phase) = (pass + ½·inconclusive) / (pass + fail + inconclusive)
//	              (1 for a phase without tolerances)
//	base        = 100 · (0.6·held(chaos) + 0.4·held(recovery))
//	r           = RecoverySeconds / BudgetSeconds
//	time        = 1 for r ≤ 1, (3 − r)/2 for 1 < r < 3, 0 for r ≥ 3
//	Score       = base · time, and 0 if the system never recovered.
//
// So a run that holds every tolerance and recovers within its budget scores
// 100; each broken tolerance costs its phase's share; an inconclusive one
// half of that; recovering late costs linearly, down to nothing at three
// times the budget; not recovering costs everything. The score is always in
// [0, 100], never rises when a tolerance goes from pass to inconclusive to
// fail or when recovery takes longer, and never falls when a passing
// tolerance is added. See [ChaosWeight], [InconclusiveCredit] and
// [RecoveryCutoff].
func Score(in ScoreInput) float64 {
	if !in.Recovered || math.IsNaN(in.RecoverySeconds) {
		return 0
	}
	base := 100 * (ChaosWeight*held(in.ChaosPass, in.ChaosFail, in.ChaosInconclusive) +
		RecoveryWeight*held(in.RecoveryPass, in.RecoveryFail, in.RecoveryInconclusive))
	s := base * timeFactor(in.RecoverySeconds, in.BudgetSeconds)
	return math.Max(0, math.Min(100, s))
}

// held is the credited share of a phase's tolerances.
func held(pass, fail, inconclusive int) float64 {
	pass, fail, inconclusive = max(pass, 0), max(fail, 0), max(inconclusive, 0)
	total := float64(pass) + float64(fail) + float64(inconclusive)
	if total == 0 {
		return 1
	}
	return (float64(pass) + InconclusiveCredit*float64(inconclusive)) / total
}

// timeFactor is the recovery-time multiplier of Score.
func timeFactor(secs, budget float64) float64 {
	if !(budget > 0) || math.IsInf(budget, 0) {
		return 1
	}
	r := math.Max(0, secs) / budget
	switch {
	case r <= 1:
		return 1
	case r >= RecoveryCutoff:
		return 0
	}
	return (RecoveryCutoff - r) / (RecoveryCutoff - 1)
}
