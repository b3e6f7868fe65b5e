//go:build unix

package e2bfake

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"slices"
	"strconv"
)

// This file checks the control plane's request bodies against the
// schemas of spec/openapi.yml, as the API's OpenAPI validator does, and
// answers 400 when they do not fit.

type jsType int

const (
	jsObject jsType = iota
	jsString
	jsInteger
	jsBoolean
	jsArray
)

// jsSchema is the part of an OpenAPI schema the fake checks.
type jsSchema struct {
	typ      jsType
	nullable bool
	min, max *int64 // inclusive bounds of an integer
	int32    bool   // format: int32
	maxLen   int    // of a string; 0: none
	props    map[string]*jsSchema
	required []string
	values   *jsSchema // additionalProperties: the schema of a map's values
	anyProps bool      // additionalProperties: {} (a free-form object)
	items    *jsSchema
}

func bound(v int64) *int64 { return &v }

var (
	jsStr       = &jsSchema{typ: jsString}
	jsBool      = &jsSchema{typ: jsBoolean}
	jsStrMap    = &jsSchema{typ: jsObject, values: jsStr}
	jsStrList   = &jsSchema{typ: jsArray, items: jsStr}
	jsTimeout   = &jsSchema{typ: jsInteger, int32: true, min: bound(0)}
	volumeMount = &jsSchema{typ: jsObject, required: []string{"name", "path"},
		props: map[string]*jsSchema{"name": jsStr, "path": jsStr}}
	networkConfig = &jsSchema{typ: jsObject, props: map[string]*jsSchema{
		"allowPublicTraffic": jsBool,
		"allowOut":           jsStrList,
		"denyOut":            jsStrList,
		"egressProxy": {typ: jsObject, nullable: true, required: []string{"address"}, props: map[string]*jsSchema{
			"address":  jsStr,
			"username": {typ: jsString, maxLen: 255},
			"password": {typ: jsString, maxLen: 255},
		}},
		"maskRequestHost": jsStr,
		"rules": {typ: jsObject, values: &jsSchema{typ: jsArray, items: &jsSchema{typ: jsObject, props: map[string]*jsSchema{
			"transform": {typ: jsObject, props: map[string]*jsSchema{"headers": jsStrMap}},
		}}}},
	}}

	newSandboxSchema = &jsSchema{typ: jsObject, required: []string{"templateID"}, props: map[string]*jsSchema{
		"templateID":            jsStr,
		"timeout":               jsTimeout,
		"autoPause":             jsBool,
		"autoPauseMemory":       jsBool,
		"autoResume":            {typ: jsObject, required: []string{"enabled"}, props: map[string]*jsSchema{"enabled": jsBool}},
		"secure":                jsBool,
		"allow_internet_access": jsBool,
		"network":               networkConfig,
		"metadata":              jsStrMap,
		"envVars":               jsStrMap,
		"mcp":                   {typ: jsObject, nullable: true, anyProps: true},
		"iam": {typ: jsObject, props: map[string]*jsSchema{
			"tokens": {typ: jsObject, values: &jsSchema{typ: jsObject, required: []string{"audience", "tokenType"},
				props: map[string]*jsSchema{"audience": jsStr, "tokenType": jsStr}}},
		}},
		"volumeMounts": {typ: jsArray, items: volumeMount},
	}}
	timeoutRequestSchema = &jsSchema{typ: jsObject, required: []string{"timeout"},
		props: map[string]*jsSchema{"timeout": jsTimeout}}
	refreshRequestSchema = &jsSchema{typ: jsObject,
		props: map[string]*jsSchema{"duration": {typ: jsInteger, min: bound(0), max: bound(3600)}}}
	pauseRequestSchema = &jsSchema{typ: jsObject, props: map[string]*jsSchema{"memory": jsBool}}
	resumeSchema       = &jsSchema{typ: jsObject, props: map[string]*jsSchema{"timeout": jsTimeout, "autoPause": jsBool}}
)

// schemaError is a value that does not fit its schema.
type schemaError struct {
	at  string // JSON pointer
	msg string
}

func (e *schemaError) Error() string { return fmt.Sprintf("Error at %q: %s", e.at, e.msg) }

func (s *jsSchema) check(v any, at string) error {
	fail := func(format string, args ...any) error {
		if at == "" {
			at = "/"
		}
		return &schemaError{at: at, msg: fmt.Sprintf(format, args...)}
	}
	if v == nil {
		if s.nullable {
			return nil
		}
		return fail("Value is not nullable")
	}
	switch s.typ {
	case jsString:
		str, ok := v.(string)
		if !ok {
			return fail("value must be a string")
		}
		if s.maxLen > 0 && len(str) > s.maxLen {
			return fail("maximum string length is %d", s.maxLen)
		}
	case jsBoolean:
		if _, ok := v.(bool); !ok {
			return fail("value must be a boolean")
		}
	case jsInteger:
		n, ok := v.(json.Number)
		if !ok {
			return fail("value must be an integer")
		}
		i, err := strconv.ParseInt(n.String(), 10, 64)
		if err != nil {
			f, ferr := n.Float64()
			if ferr != nil || f != math.Trunc(f) || math.Abs(f) > math.MaxInt64 {
				return fail("value must be an integer")
			}
			i = int64(f)
		}
		if s.int32 && (i < math.MinInt32 || i > math.MaxInt32) {
			return fail("number must be an int32")
		}
		if s.min != nil && i < *s.min {
			return fail("number must be at least %d", *s.min)
		}
		if s.max != nil && i > *s.max {
			return fail("number must be at most %d", *s.max)
		}
	case jsArray:
		list, ok := v.([]any)
		if !ok {
			return fail("value must be an array")
		}
		for i, it := range list {
			if err := s.items.check(it, at+"/"+strconv.Itoa(i)); err != nil {
				return err
			}
		}
	case jsObject:
		obj, ok := v.(map[string]any)
		if !ok {
			return fail("value must be an object")
		}
		for _, name := range s.required {
			if _, ok := obj[name]; !ok {
				return fail("property %q is missing", name)
			}
		}
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			sub := s.props[k]
			switch {
			case sub != nil:
			case s.values != nil:
				sub = s.values
			case s.anyProps:
				continue
			default:
				return fail("property %q is unsupported", k)
			}
			if err := sub.check(obj[k], at+"/"+k); err != nil {
				return err
			}
		}
	}
	return nil
}

// errNoBody is a request without the body its operation requires.
var errNoBody = errors.New("request body has an error: value is required but missing")

// readBody reads a JSON request body and checks it against schema (named
// for messages). A missing optional body reads as an empty object.
func readBody(r *http.Request, name string, schema *jsSchema, required bool) (map[string]any, error) {
	data, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("request body has an error: %w", err)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		if required {
			return nil, errNoBody
		}
		return map[string]any{}, nil
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return nil, fmt.Errorf("header Content-Type has unexpected value %q", r.Header.Get("Content-Type"))
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("request body has an error: failed to decode request body: %w", err)
	}
	if dec.More() {
		return nil, errors.New("request body has an error: failed to decode request body: trailing data after the JSON value")
	}
	if err := schema.check(v, ""); err != nil {
		return nil, fmt.Errorf("request body has an error: doesn't match schema #/components/schemas/%s: %w", name, err)
	}
	obj, _ := v.(map[string]any)
	return obj, nil
}

// intField reads an integer field checked by a schema.
func intField(obj map[string]any, name string) (int64, bool) {
	n, ok := obj[name].(json.Number)
	if !ok {
		return 0, false
	}
	if i, err := strconv.ParseInt(n.String(), 10, 64); err == nil {
		return i, true
	}
	f, _ := n.Float64()
	return int64(f), true
}

func boolField(obj map[string]any, name string) (value, set bool) {
	b, ok := obj[name].(bool)
	return b, ok
}

func strMapField(obj map[string]any, name string) map[string]string {
	m, ok := obj[name].(map[string]any)
	if !ok {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k], _ = v.(string)
	}
	return out
}
