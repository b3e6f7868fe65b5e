package netfault

import (
	"fmt"
	"net/http"
	"strings"
)

// HTTPMatch picks the requests an HTTP fault (HTTPError, HTTPDelay) acts
// on. Its zero value matches every request.
//
// A request that does not match is served as if the fault were not there,
// and draws nothing from the fault's random sequence: the requests that do
// match see the same sequence whatever else is sent in between.
type HTTPMatch struct {
	// Method is the request method, compared case-sensitively as HTTP
	// methods are: "GET" matches GET requests, "get" none of them. Empty
	// matches every method; otherwise it must be an HTTP token.
	Method string
	// PathPrefix is a prefix of the request's path, compared as plain
	// strings: "/api" matches "/api", "/api/orders" and "/apix", "/api/"
	// only the paths under /api/. The path is the decoded path of the
	// request target, without the query. Empty matches every path;
	// otherwise it must begin with "/".
	PathPrefix string
}

// matches reports whether the fault acts on req.
func (m HTTPMatch) matches(req *http.Request) bool {
	if m.Method != "" && req.Method != m.Method {
		return false
	}
	return m.PathPrefix == "" || (req.URL != nil && strings.HasPrefix(req.URL.Path, m.PathPrefix))
}

// check returns an error naming the field when m is invalid.
func (m HTTPMatch) check() error {
	if m.Method != "" && !isToken(m.Method) {
		return fmt.Errorf("method %q must be an HTTP method such as GET", m.Method)
	}
	if m.PathPrefix != "" && !strings.HasPrefix(m.PathPrefix, "/") {
		return fmt.Errorf("path_prefix %q must begin with /", m.PathPrefix)
	}
	return nil
}

// describe is m for logs: "" when it matches every request, else such as
// " GET /api/".
func (m HTTPMatch) describe() string {
	var b strings.Builder
	if m.Method != "" {
		b.WriteString(" " + m.Method)
	}
	if m.PathPrefix != "" {
		b.WriteString(" " + m.PathPrefix + "*")
	}
	return b.String()
}

// isToken reports whether s is an HTTP token (RFC 9110, section 5.6.2),
// which a method is.
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return s != ""
}
