package groq

import (
	"regexp"
	"slices"
	"strings"
	"unicode"
)

// Redacted replaces every secret the analyzer finds in what it sends.
const Redacted = "[REDACTED]"

// secret is a credential's form: what matches re is replaced by repl, in
// which ${1} keeps the name of the secret ("password=", "Authorization:
// Bearer ") and Redacted stands for the value.
type secret struct {
	re   *regexp.Regexp
	repl string
}

// secrets are the forms redact masks.
var secrets = []secret{
	// PEM private keys, whole blocks, or from BEGIN to the end of a cut
	// text.
	{regexp.MustCompile(`(?s)-----BEGIN[A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----.*?(-----END[A-Z0-9 ]*PRIVATE KEY( BLOCK)?-----|$)`), Redacted},
	// Authorization headers and bearer or basic credentials.
	{regexp.MustCompile(`(?i)(\b(?:proxy-)?authorization["']?\s*[:=]\s*["']?(?:bearer|basic|token|digest|apikey)?\s*)[^\s"',;]+`), "${1}" + Redacted},
	{regexp.MustCompile(`(?i)(\b(?:bearer|basic)\s+)[A-Za-z0-9\-._~+/]{8,}=*`), "${1}" + Redacted},
	// user:password@ in URLs.
	{regexp.MustCompile(`(?i)(\b[a-z][a-z0-9+.\-]*://[^\s:/@"']+:)[^\s@/"']+@`), "${1}" + Redacted + "@"},
	// name=value and "name": "value" pairs whose name says secret.
	{regexp.MustCompile(`(?i)(\b[\w.\-]*(?:password|passwd|passphrase|pwd|secret|token|api[_\-]?key|apikey|access[_\-]?key|private[_\-]?key|credentials?|session[_\-]?id|cookie|auth)\b["']?\s*[:=]\s*)("[^"]*"|'[^']*'|[^\s,;&"'})\]]+)`), "${1}" + Redacted},
	// JSON Web Tokens.
	{regexp.MustCompile(`\beyJ[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]*`), Redacted},
	// Key formats: OpenAI and Anthropic (sk-…), Groq (gsk_…), Stripe
	// (sk_live_…, rk_test_…), AWS access key IDs (AKIA…, ASIA…), GitHub
	// (ghp_…, github_pat_…), Slack (xoxb-…), Google (AIza…), GitLab
	// (glpat-…), npm (npm_…).
	{regexp.MustCompile(`\b(?:sk-[A-Za-z0-9_\-]{8,}|gsk_[A-Za-z0-9]{8,}|[rs]k_(?:live|test)_[A-Za-z0-9]{8,}|(?:AKIA|ASIA)[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|xox[abposr]-[A-Za-z0-9\-]{8,}|AIza[0-9A-Za-z_\-]{30,}|glpat-[A-Za-z0-9_\-]{16,}|npm_[A-Za-z0-9]{30,})`), Redacted},
}

// opaque matches long runs of token characters; redact masks those that
// look random (see looksRandom).
var opaque = regexp.MustCompile(`[A-Za-z0-9+/_\-]{32,}={0,2}`)

// redactor masks secrets in text: the literal secrets it was given (the
// API key) and anything of a credential's form.
type redactor struct {
	literals []string
}

func newRedactor(literals ...string) *redactor {
	var r redactor
	for _, l := range literals {
		if len(l) >= 4 && !slices.Contains(r.literals, l) {
			r.literals = append(r.literals, l)
		}
	}
	// Longest first, so that a secret containing another is masked whole.
	slices.SortFunc(r.literals, func(a, b string) int { return len(b) - len(a) })
	return &r
}

// redact returns s with every secret replaced by Redacted.
func (r *redactor) redact(s string) string {
	for _, l := range r.literals {
		s = strings.ReplaceAll(s, l, Redacted)
	}
	for _, sec := range secrets {
		s = sec.re.ReplaceAllString(s, sec.repl)
	}
	return opaque.ReplaceAllStringFunc(s, func(m string) string {
		if looksRandom(m) {
			return Redacted
		}
		return m
	})
}

// contains reports whether s still holds one of the literal secrets.
func (r *redactor) contains(s string) bool {
	for _, l := range r.literals {
		if strings.Contains(s, l) {
			return true
		}
	}
	return false
}

// looksRandom reports whether a long token mixes upper case, lower case
// and digits, as keys and tokens do; hex digests, UUIDs and words do not.
func looksRandom(s string) bool {
	var upper, lower, digit bool
	for _, c := range s {
		switch {
		case unicode.IsUpper(c):
			upper = true
		case unicode.IsLower(c):
			lower = true
		case unicode.IsDigit(c):
			digit = true
		}
	}
	return upper && lower && digit
}
