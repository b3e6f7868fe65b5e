package chaoslab

import (
	"time"
)

// SchemaVersion is the version of the Result JSON layout.
const SchemaVersion = 1

// Status is how a run ended.
type Status string

// Statuses of a finished run.
const (
	StatusCompleted Status = "completed" // ran every phase
	StatusFailed    Status = "failed"    // an error stopped it
	StatusAborted   Status = "aborted"   // a stop condition or cancellation stopped it
)

// Verdict is what the run says of the hypothesis.
type Verdict string

// Verdicts.
const (
	VerdictPass         Verdict = "pass"         // the hypothesis held through the faults and the target recovered
	VerdictFail         Verdict = "fail"         // a tolerance broke under the faults, or the target did not recover
	VerdictInconclusive Verdict = "inconclusive" // the run cannot tell: no steady baseline, an error, a cancel
)

// Severity grades an analysis.
type Severity string

// Severities, lowest first.
const (
	SeverityLow      Severity = "low"
	SeverityMedium   Severity = "medium"
	SeverityHigh     Severity = "high"
	SeverityCritical Severity = "critical"
)

// Phase is a step of an experiment's life.
type Phase string

// Phases, in order. A run ends in completed, failed or aborted.
const (
	PhasePending      Phase = "pending"
	PhaseProvisioning Phase = "provisioning"
	PhaseBaseline     Phase = "baseline"
	PhaseInjecting    Phase = "injecting"
	PhaseObserving    Phase = "observing"
	PhaseRollingBack  Phase = "rolling_back"
	PhaseRecovering   Phase = "recovering"
	PhaseAnalyzing    Phase = "analyzing"
	PhasePublishing   Phase = "publishing"
	PhaseCompleted    Phase = "completed"
	PhaseFailed       Phase = "failed"
	PhaseAborted      Phase = "aborted"
)

// The measurement windows that hypothesis checks are reported for.
const (
	WindowBaseline = "baseline" // before any fault
	WindowChaos    = "chaos"    // while any fault is active
	WindowRecovery = "recovery" // the stable window after the faults were reverted
)

// Result is everything a run measured and concluded. Run returns one on
// success and on error, with what was measured so far.
type Result struct {
	SchemaVersion int       `json:"schema_version"`
	ID            string    `json:"id"`
	Name          string    `json:"name"`
	Status        Status    `json:"status"`
	Verdict       Verdict   `json:"verdict"`
	Reason        string    `json:"reason,omitempty"`
	StartedAt     time.Time `json:"started_at"`
	EndedAt       time.Time `json:"ended_at"`
	Provider      string    `json:"provider,omitempty"`
	Target        TargetRef `json:"target"`
	Seed          int64     `json:"seed"`
	// Load is the offered load.
	Load       LoadRecord    `json:"load"`
	Phases     []PhaseSpan   `json:"phases"`
	Faults     []FaultRecord `json:"faults"`
	Series     []Point       `json:"series"`
	Hypothesis []Check       `json:"hypothesis"`
	// Windows summarises each measurement window.
	Windows  []WindowStats `json:"windows"`
	Recovery Recovery      `json:"recovery"`
	// Comparisons compare each metric of the chaos and recovery windows
	// with the baseline, with confidence intervals and a verdict per
	// tolerance (see Comparison).
	Comparisons []Comparison `json:"comparisons"`
	// Score is the resilience score from 0 to 100: the share of tolerances
	// held in chaos (weight 0.6) and recovery (0.4), inconclusive ones
	// counting half, lowered linearly from 1x to 3x the stable window of
	// recovery time and 0 when the target did not recover. Nil when there
	// was no baseline to compare with.
	Score      *float64        `json:"score"`
	Abort      *Abort          `json:"abort,omitempty"`
	Logs       LogSummary      `json:"logs"`
	Analysis   Analysis        `json:"analysis"`
	Dashboards []DashboardLink `json:"dashboards"`
	Errors     []string        `json:"errors"`
}

// LoadRecord is the load a run offered.
type LoadRecord struct {
	Rate      float64  `json:"rate"`
	Paths     []string `json:"paths"`
	Method    string   `json:"method"`
	TimeoutMS float64  `json:"timeout_ms"`
	Disabled  bool     `json:"disabled,omitempty"`
}

// TargetRef identifies the provisioned target.
type TargetRef struct {
	Kind     TargetKind `json:"kind,omitempty"`
	ID       string     `json:"id,omitempty"`
	Endpoint string     `json:"endpoint,omitempty"`
}

// PhaseSpan is when one phase ran.
type PhaseSpan struct {
	Name      Phase     `json:"name"`
	StartedAt time.Time `json:"started_at"`
	EndedAt   time.Time `json:"ended_at"`
}

// FaultRecord is what happened to one fault.
type FaultRecord struct {
	Scenario   string     `json:"scenario"`
	Params     Params     `json:"params"`
	InjectedAt *time.Time `json:"injected_at"`
	RevertedAt *time.Time `json:"reverted_at"`
	Error      string     `json:"error"`
	// Detail is what the fault reported doing (see Detailer).
	Detail string `json:"detail,omitempty"`
}

// Point is one measurement interval.
type Point struct {
	// T is the end of the interval.
	T time.Time `json:"t"`
	// Window is the measurement window the interval belongs to: baseline
	// (before the first fault), chaos (from the first injection to the end
	// of rollback) or recovery. Each request counts in the interval it was
	// scheduled in; one in flight when the faults began counts in chaos.
	Window   string    `json:"window,omitempty"`
	Requests int64     `json:"requests"`
	Errors   int64     `json:"errors"`
	RPS      float64   `json:"rps"`
	ErrRate  float64   `json:"error_rate"`
	Latency  Latencies `json:"latency_ms"`
	// CPUPercent and MemoryMB are the target process's use.
	CPUPercent float64 `json:"cpu_percent"`
	MemoryMB   float64 `json:"memory_mb"`
	// HostCPUPercent, HostMemoryMB and DiskUsedMB are the machine's.
	HostCPUPercent float64 `json:"host_cpu_percent"`
	HostMemoryMB   float64 `json:"host_memory_mb"`
	DiskUsedMB     float64 `json:"disk_used_mb"`
	// DesiredCapacity and HealthyCapacity are a fleet's instances: those
	// it should run and those in service and healthy (see Fleet).
	DesiredCapacity int `json:"desired_capacity,omitempty"`
	HealthyCapacity int `json:"healthy_capacity,omitempty"`
	// Probes lists the probes that failed in the interval.
	ProbeFailures []string `json:"probe_failures,omitempty"`
	// LogErrors counts error lines the target logged in the interval.
	LogErrors int `json:"log_errors"`
}

// Latencies are latency percentiles in milliseconds, from HDR histograms.
type Latencies struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
}

// Check is one tolerance checked over one window.
type Check struct {
	Window   string  `json:"phase"`
	Metric   string  `json:"metric"`
	Limit    float64 `json:"limit"`
	Observed float64 `json:"observed"`
	OK       bool    `json:"ok"`
	// Detail explains a probe failure.
	Detail string `json:"detail,omitempty"`
}

// WindowStats summarises one measurement window over all its requests.
type WindowStats struct {
	Name      string    `json:"name"`
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
	Requests  int64     `json:"requests"`
	Errors    int64     `json:"errors"`
	RPS       float64   `json:"rps"`
	ErrRate   float64   `json:"error_rate"`
	Latency   Latencies `json:"latency_ms"`
	CPUPeak   float64   `json:"cpu_peak"`
	MemoryMax float64   `json:"memory_peak_mb"`
}

// Recovery is how the target came back after the faults were reverted.
type Recovery struct {
	Recovered bool `json:"recovered"`
	// Seconds from the last revert until the hypothesis held again for the
	// stable window; nil when it never did.
	Seconds      *float64 `json:"recovery_time_seconds"`
	StableWindow float64  `json:"stable_window_seconds"`
}

// Abort says why a run stopped early.
type Abort struct {
	Reason    string         `json:"reason"`
	Condition *StopCondition `json:"condition,omitempty"`
	At        time.Time      `json:"at"`
}

// LogSummary is what the target logged.
type LogSummary struct {
	Lines      int      `json:"lines"`
	ErrorCount int      `json:"error_count"`
	Last       []string `json:"last"`
}

// Analysis explains a result.
type Analysis struct {
	Summary         string          `json:"summary"`
	Metrics         AnalysisMetrics `json:"metrics"`
	Severity        Severity        `json:"severity"`
	Recommendations []string        `json:"recommendations"`
	// Source names the analyzer that wrote it ("rules", "groq").
	Source         string `json:"source"`
	FallbackReason string `json:"fallback_reason,omitempty"`
}

// AnalysisMetrics are the headline numbers of an analysis.
type AnalysisMetrics struct {
	// CPUPeak is the target's peak CPU use in percent.
	CPUPeak float64 `json:"cpu_peak"`
	// MemoryPeak is the target's peak resident memory in MB.
	MemoryPeak float64 `json:"memory_peak"`
	// ErrorCount is the number of failed requests.
	ErrorCount int64 `json:"error_count"`
	// RecoveryTimeSeconds is nil when the target did not recover.
	RecoveryTimeSeconds *float64 `json:"recovery_time_seconds"`
}

// DashboardLink is where a Dashboarder published a result.
type DashboardLink struct {
	Kind string `json:"kind"`
	URL  string `json:"url"`
}

// Window returns the stats of the named window and whether it was measured.
func (r *Result) Window(name string) (WindowStats, bool) {
	for _, w := range r.Windows {
		if w.Name == name {
			return w, true
		}
	}
	return WindowStats{}, false
}

// Failed returns the hypothesis checks that did not hold.
func (r *Result) Failed() []Check {
	var out []Check
	for _, c := range r.Hypothesis {
		if !c.OK {
			out = append(out, c)
		}
	}
	return out
}

// HeadlineMetrics returns the numbers every analysis reports for r: the
// peaks of the series' cpu_percent and memory_mb, the sum of its errors and
// a copy of the recovery time.
func (r *Result) HeadlineMetrics() AnalysisMetrics {
	var m AnalysisMetrics
	for _, p := range r.Series {
		m.CPUPeak = max(m.CPUPeak, p.CPUPercent)
		m.MemoryPeak = max(m.MemoryPeak, p.MemoryMB)
		m.ErrorCount += p.Errors
	}
	if s := r.Recovery.Seconds; s != nil {
		v := *s
		m.RecoveryTimeSeconds = &v
	}
	return m
}
