package groq_test

import (
	"time"

	"github.com/chaoslab-dev/chaoslab"
	"github.com/chaoslab-dev/chaoslab/analyzer/groq"
)

// The analyzer reads GROQ_API_KEY (and GROQ_BASE_URL, for any
// OpenAI-compatible server); without a key it answers with the rules'
// analysis and says why.
func ExampleNew() {
	runner := chaoslab.New(
		chaoslab.WithAnalyzer(groq.New(
			groq.WithModel(groq.DefaultModel),
			groq.WithTimeout(20*time.Second),
			groq.WithRetry(3, 5*time.Second),
		)),
	)
	_ = runner
}
