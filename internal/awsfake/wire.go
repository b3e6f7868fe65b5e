package awsfake

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// XML namespaces and API versions of the two services.
const (
	asgVersion   = "2011-01-01"
	asgNamespace = "http://autoscaling.amazonaws.com/doc/2011-01-01/"
	ec2Version   = "2016-11-15"
	ec2Namespace = "http://ec2.amazonaws.com/doc/2016-11-15/"
)

// APIError is an error as the services send it: an HTTP status, a code and
// a message. The fake writes it in the error XML of the service called.
type APIError struct {
	Status  int    // HTTP status, e.g. 400
	Code    string // e.g. "ValidationError"
	Message string
}

// Error implements error.
func (e *APIError) Error() string { return fmt.Sprintf("%s (%d): %s", e.Code, e.Status, e.Message) }

func apiErr(status int, code, format string, args ...any) *APIError {
	return &APIError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// validation is Auto Scaling's ValidationError.
func validation(format string, args ...any) *APIError {
	return apiErr(http.StatusBadRequest, "ValidationError", format, args...)
}

// invalidParam is EC2's InvalidParameterValue.
func invalidParam(format string, args ...any) *APIError {
	return apiErr(http.StatusBadRequest, "InvalidParameterValue", format, args...)
}

// form is a decoded query request.
type form url.Values

func (f form) get(key string) string { return url.Values(f).Get(key) }

func (f form) has(key string) bool {
	_, ok := f[key]
	return ok
}

// indices returns, in numeric order, the N of every key prefix.N or
// prefix.N.rest.
func (f form) indices(prefix string) []int {
	seen := map[int]bool{}
	for k := range f {
		rest, ok := strings.CutPrefix(k, prefix+".")
		if !ok {
			continue
		}
		num, _, _ := strings.Cut(rest, ".")
		n, err := strconv.Atoi(num)
		if err != nil || n < 1 {
			continue
		}
		seen[n] = true
	}
	out := make([]int, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Ints(out)
	return out
}

// list returns the values of prefix.1, prefix.2, … in order: the caller
// passes "Names.member" for awsQuery and "InstanceId" for ec2Query.
func (f form) list(prefix string) []string {
	var out []string
	for _, n := range f.indices(prefix) {
		if v, ok := f[prefix+"."+strconv.Itoa(n)]; ok && len(v) > 0 {
			out = append(out, v[0])
		}
	}
	return out
}

// filter is one Name with its Values, in either protocol.
type filter struct {
	name   string
	values []string
}

// filters reads the filters under prefix: "Filters.member" with
// "Values.member" (awsQuery) or "Filter" with "Value" (ec2Query).
func (f form) filters(prefix, values string) []filter {
	var out []filter
	for _, n := range f.indices(prefix) {
		p := prefix + "." + strconv.Itoa(n)
		out = append(out, filter{name: f.get(p + ".Name"), values: f.list(p + "." + values)})
	}
	return out
}

// boolean reads an optional boolean: it reports whether key was present.
func (f form) boolean(key string) (v, present bool, err error) {
	if !f.has(key) {
		return false, false, nil
	}
	switch strings.ToLower(f.get(key)) {
	case "true":
		return true, true, nil
	case "false":
		return false, true, nil
	}
	return false, true, fmt.Errorf("value %q for %s is not a boolean", f.get(key), key)
}

// integer reads an optional integer: it reports whether key was present.
func (f form) integer(key string) (v int, present bool, err error) {
	if !f.has(key) {
		return 0, false, nil
	}
	n, err := strconv.Atoi(f.get(key))
	if err != nil {
		return 0, true, fmt.Errorf("value %q for %s is not an integer", f.get(key), key)
	}
	return n, true, nil
}

// memberList is an awsQuery list: <Name><member>…</member></Name>, written
// as an empty element when empty.
type memberList[T any] []T

// MarshalXML implements xml.Marshaler.
func (l memberList[T]) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	return encodeList(e, start, "member", l)
}

// itemList is an ec2Query list: <name><item>…</item></name>.
type itemList[T any] []T

// MarshalXML implements xml.Marshaler.
func (l itemList[T]) MarshalXML(e *xml.Encoder, start xml.StartElement) error {
	return encodeList(e, start, "item", l)
}

func encodeList[T any](e *xml.Encoder, start xml.StartElement, member string, l []T) error {
	if err := e.EncodeToken(start); err != nil {
		return err
	}
	for i := range l {
		if err := e.EncodeElement(l[i], xml.StartElement{Name: xml.Name{Local: member}}); err != nil {
			return err
		}
	}
	return e.EncodeToken(start.End())
}

// timestamp formats t the way both services do: ISO 8601, UTC, milliseconds.
func timestamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// writeXML writes an XML document with status.
func writeXML(w http.ResponseWriter, status int, contentType string, body []byte) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// writeQueryResult writes an awsQuery success response for action; result
// is nil for operations whose output is smithy.api#Unit.
func writeQueryResult(w http.ResponseWriter, action, reqID string, result any) error {
	var buf bytes.Buffer
	enc := xml.NewEncoder(&buf)
	root := xml.StartElement{
		Name: xml.Name{Local: action + "Response"},
		Attr: []xml.Attr{{Name: xml.Name{Local: "xmlns"}, Value: asgNamespace}},
	}
	if err := enc.EncodeToken(root); err != nil {
		return err
	}
	if result != nil {
		if err := enc.EncodeElement(result, xml.StartElement{Name: xml.Name{Local: action + "Result"}}); err != nil {
			return err
		}
	}
	meta := struct {
		RequestID string `xml:"RequestId"`
	}{reqID}
	if err := enc.EncodeElement(meta, xml.StartElement{Name: xml.Name{Local: "ResponseMetadata"}}); err != nil {
		return err
	}
	if err := enc.EncodeToken(root.End()); err != nil {
		return err
	}
	if err := enc.Flush(); err != nil {
		return err
	}
	w.Header().Set("X-Amzn-Requestid", reqID)
	writeXML(w, http.StatusOK, "text/xml", buf.Bytes())
	return nil
}

// writeQueryError writes an awsQuery error response.
func writeQueryError(w http.ResponseWriter, e *APIError, reqID string) {
	typ := "Sender"
	if e.Status >= 500 {
		typ = "Receiver"
	}
	doc := struct {
		XMLName xml.Name `xml:"ErrorResponse"`
		NS      string   `xml:"xmlns,attr"`
		Error   struct {
			Type    string
			Code    string
			Message string
		}
		RequestID string `xml:"RequestId"`
	}{NS: asgNamespace, RequestID: reqID}
	doc.Error.Type, doc.Error.Code, doc.Error.Message = typ, e.Code, e.Message
	body, _ := xml.Marshal(doc) // a fixed shape of strings: cannot fail
	w.Header().Set("X-Amzn-Requestid", reqID)
	writeXML(w, e.Status, "text/xml", body)
}

// writeEC2Result writes an ec2Query success response: result's fields sit
// directly under the root element, requestId first.
func writeEC2Result(w http.ResponseWriter, action string, result any) error {
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	root := xml.StartElement{
		Name: xml.Name{Local: action + "Response"},
		Attr: []xml.Attr{{Name: xml.Name{Local: "xmlns"}, Value: ec2Namespace}},
	}
	enc := xml.NewEncoder(&buf)
	if err := enc.EncodeElement(result, root); err != nil {
		return err
	}
	if err := enc.Flush(); err != nil {
		return err
	}
	writeXML(w, http.StatusOK, "text/xml;charset=UTF-8", buf.Bytes())
	return nil
}

// writeEC2Error writes an ec2Query error response.
func writeEC2Error(w http.ResponseWriter, e *APIError, reqID string) {
	type xmlErr struct {
		Code    string
		Message string
	}
	doc := struct {
		XMLName   xml.Name `xml:"Response"`
		Errors    []xmlErr `xml:"Errors>Error"`
		RequestID string   `xml:"RequestID"`
	}{Errors: []xmlErr{{e.Code, e.Message}}, RequestID: reqID}
	body, _ := xml.Marshal(doc) // a fixed shape of strings: cannot fail
	writeXML(w, e.Status, "text/xml;charset=UTF-8", append([]byte(xml.Header), body...))
}

// paginate returns the page of items (sorted by key, ascending, keys
// unique) that follows token, at most max long, and the token of the next
// page ("" on the last). kind keeps one listing's tokens out of another's.
func paginate[T any](items []T, key func(T) string, kind, token string, limit int) (page []T, next string, ok bool) {
	start := 0
	if token != "" {
		raw, err := base64.RawURLEncoding.DecodeString(token)
		if err != nil {
			return nil, "", false
		}
		k, after, found := strings.Cut(string(raw), "\x00")
		if !found || k != kind {
			return nil, "", false
		}
		start = sort.Search(len(items), func(i int) bool { return key(items[i]) > after })
	}
	end := min(start+limit, len(items))
	page = items[start:end]
	if end < len(items) && len(page) > 0 {
		next = base64.RawURLEncoding.EncodeToString([]byte(kind + "\x00" + key(page[len(page)-1])))
	}
	return page, next, true
}
