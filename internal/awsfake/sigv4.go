package awsfake

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

const sigV4Algorithm = "AWS4-HMAC-SHA256"

// authorization is a parsed SigV4 Authorization header.
type authorization struct {
	accessKey, date, region, service string
	signedHeaders                    []string
	signature                        string
}

var (
	scopeDate  = regexp.MustCompile(`^\d{8}$`)
	amzDate    = regexp.MustCompile(`^\d{8}T\d{6}Z$`)
	hexSig     = regexp.MustCompile(`^[0-9a-f]{64}$`)
	headerName = regexp.MustCompile(`^[a-z0-9-]+$`)
)

// parseAuthorization parses "AWS4-HMAC-SHA256 Credential=AKID/20240101/
// us-east-1/ec2/aws4_request, SignedHeaders=host;x-amz-date,
// Signature=<64 hex>".
func parseAuthorization(h string) (authorization, error) {
	var a authorization
	rest, ok := strings.CutPrefix(h, sigV4Algorithm+" ")
	if !ok {
		return a, errors.New("Authorization header is not " + sigV4Algorithm)
	}
	fields := map[string]string{}
	for part := range strings.SplitSeq(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return a, fmt.Errorf("malformed Authorization component %q", part)
		}
		fields[k] = v
	}
	cred := strings.Split(fields["Credential"], "/")
	if len(cred) != 5 || cred[0] == "" || !scopeDate.MatchString(cred[1]) || cred[2] == "" || cred[3] == "" || cred[4] != "aws4_request" {
		return a, errors.New("Authorization header requires a Credential of the form AKID/yyyymmdd/region/service/aws4_request")
	}
	a.accessKey, a.date, a.region, a.service = cred[0], cred[1], cred[2], cred[3]
	if fields["SignedHeaders"] == "" {
		return a, errors.New("Authorization header requires a SignedHeaders component")
	}
	a.signedHeaders = strings.Split(fields["SignedHeaders"], ";")
	for _, n := range a.signedHeaders {
		if !headerName.MatchString(n) {
			return a, fmt.Errorf("bad signed header name %q", n)
		}
	}
	if !sort.StringsAreSorted(a.signedHeaders) {
		return a, errors.New("SignedHeaders are not sorted")
	}
	if !hexSig.MatchString(fields["Signature"]) {
		return a, errors.New("Authorization header requires a Signature of 64 hex digits")
	}
	a.signature = fields["Signature"]
	return a, nil
}

// authenticate checks a request's SigV4 signature: its form always, its
// value when the server has credentials.
func (s *Server) authenticate(r *http.Request, body []byte, svc *service) *APIError {
	h := r.Header.Get("Authorization")
	if h == "" {
		return svc.authError("MissingAuthenticationToken", "Request is missing Authentication Token")
	}
	a, err := parseAuthorization(h)
	if err != nil {
		return apiErr(http.StatusBadRequest, "IncompleteSignature", "%v", err)
	}
	date := r.Header.Get("X-Amz-Date")
	if !amzDate.MatchString(date) {
		return apiErr(http.StatusBadRequest, "IncompleteSignature", "Authorization header requires an X-Amz-Date header of the form yyyymmddThhmmssZ")
	}
	if date[:8] != a.date {
		return svc.authError("SignatureDoesNotMatch", "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP")
	}
	if !slices.Contains(a.signedHeaders, "host") || !slices.Contains(a.signedHeaders, "x-amz-date") {
		return apiErr(http.StatusBadRequest, "IncompleteSignature", "'Host' and 'X-Amz-Date' must be signed")
	}
	if s.cfg.secretKey == "" {
		return nil
	}
	if a.accessKey != s.cfg.accessKey {
		return svc.authError("InvalidClientTokenId", "The security token included in the request is invalid.")
	}
	if want := signature(s.cfg.secretKey, a, canonicalRequest(r, a.signedHeaders, body), date); !hmac.Equal([]byte(want), []byte(a.signature)) {
		return svc.authError("SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
	}
	return nil
}

// canonicalRequest rebuilds SigV4's canonical request from what arrived.
func canonicalRequest(r *http.Request, signed []string, body []byte) string {
	var b strings.Builder
	b.WriteString(r.Method + "\n")
	path := r.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	b.WriteString(uriEncode(path, false) + "\n")
	b.WriteString(canonicalQuery(r.URL.Query()) + "\n")
	for _, name := range signed {
		var v string
		switch name {
		case "host":
			v = r.Host
		case "content-length":
			v = strconv.FormatInt(r.ContentLength, 10)
		default:
			v = strings.Join(r.Header.Values(name), ",")
		}
		b.WriteString(name + ":" + strings.Join(strings.Fields(v), " ") + "\n")
	}
	b.WriteString("\n" + strings.Join(signed, ";") + "\n")
	payload := r.Header.Get("X-Amz-Content-Sha256")
	if payload == "" {
		sum := sha256.Sum256(body)
		payload = hex.EncodeToString(sum[:])
	}
	b.WriteString(payload)
	return b.String()
}

// signature computes the SigV4 signature of a canonical request.
func signature(secret string, a authorization, canonical, date string) string {
	scope := strings.Join([]string{a.date, a.region, a.service, "aws4_request"}, "/")
	sum := sha256.Sum256([]byte(canonical))
	toSign := strings.Join([]string{sigV4Algorithm, date, scope, hex.EncodeToString(sum[:])}, "\n")
	key := []byte("AWS4" + secret)
	for _, part := range []string{a.date, a.region, a.service, "aws4_request"} {
		key = hmacSHA256(key, part)
	}
	return hex.EncodeToString(hmacSHA256(key, toSign))
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// canonicalQuery sorts and encodes query parameters the SigV4 way.
func canonicalQuery(q url.Values) string {
	var pairs []string
	for k, vs := range q {
		for _, v := range vs {
			pairs = append(pairs, uriEncode(k, true)+"="+uriEncode(v, true))
		}
	}
	sort.Strings(pairs)
	return strings.Join(pairs, "&")
}

// uriEncode percent-encodes everything but RFC 3986's unreserved
// characters, and '/' unless encodeSlash.
func uriEncode(s string, encodeSlash bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_', c == '.', c == '~':
			b.WriteByte(c)
		case c == '/' && !encodeSlash:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}
