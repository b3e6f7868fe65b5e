//go:build unix

package e2bfake

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// This file reads requests in the proto3 JSON mapping (what connect-go's
// JSON codec, protojson, accepts) against a small schema of each message,
// and formats the answers the way protojson writes them.

// pbKind is the type of a message field.
type pbKind int

const (
	pbString    pbKind = iota // string
	pbBool                    // bool
	pbUint32                  // uint32
	pbBytes                   // bytes: base64, standard or URL alphabet, padded or not
	pbEnum                    // enum: its value name, or its number
	pbMessage                 // a nested message
	pbStrings                 // repeated string
	pbStringMap               // map<string, string>
)

// pbField describes one field of a message.
type pbField struct {
	name  string // JSON name (lowerCamelCase)
	proto string // the .proto name, which protojson accepts too
	kind  pbKind
	msg   *pbSchema        // for pbMessage
	enum  map[string]int32 // for pbEnum: value names to numbers
	oneof string           // the oneof the field belongs to, if any
}

// pbSchema describes a message.
type pbSchema struct {
	name   string // full name, such as process.StartRequest
	fields []pbField
}

// pbMsg is a decoded message: its fields that were set, by JSON name.
// Reading a field that was not set gives its zero value; a nil pbMsg reads
// as an empty message.
type pbMsg map[string]any

func (m pbMsg) has(name string) bool { _, ok := m[name]; return ok }

func (m pbMsg) str(name string) string { s, _ := m[name].(string); return s }

func (m pbMsg) optStr(name string) *string {
	s, ok := m[name].(string)
	if !ok {
		return nil
	}
	return &s
}

func (m pbMsg) optBool(name string) *bool {
	b, ok := m[name].(bool)
	if !ok {
		return nil
	}
	return &b
}

func (m pbMsg) u32(name string) uint32 { u, _ := m[name].(uint32); return u }

func (m pbMsg) bytes(name string) []byte { b, _ := m[name].([]byte); return b }

func (m pbMsg) enum(name string) int32 { e, _ := m[name].(int32); return e }

func (m pbMsg) msg(name string) pbMsg { sub, _ := m[name].(pbMsg); return sub }

func (m pbMsg) strs(name string) []string { l, _ := m[name].([]string); return l }

func (m pbMsg) strMap(name string) map[string]string {
	mm, _ := m[name].(map[string]string)
	return mm
}

// pbDecodeError is a request that protojson would not read.
type pbDecodeError struct{ msg string }

func (e *pbDecodeError) Error() string { return "unmarshal message: proto: " + e.msg }

func pbErrorf(format string, args ...any) error {
	return &pbDecodeError{msg: fmt.Sprintf(format, args...)}
}

// decodePB reads data, a message of schema s in the proto3 JSON mapping.
// It is stricter than protojson in one way: unknown fields and unknown enum
// value names are rejected, where connect-go's codec discards them.
func decodePB(data []byte, s *pbSchema) (pbMsg, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil, &pbDecodeError{msg: "zero-length payload is not a valid JSON object"}
	}
	if !json.Valid(data) {
		return nil, pbErrorf("syntax error in %s: invalid JSON", s.name)
	}
	return decodePBObject(json.RawMessage(data), s)
}

func decodePBObject(raw json.RawMessage, s *pbSchema) (pbMsg, error) {
	if len(raw) == 0 || raw[0] != '{' {
		return nil, pbErrorf("%s: unexpected token %s, want an object", s.name, abbrev(raw))
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil {
		return nil, pbErrorf("%s: %v", s.name, err)
	}
	out := pbMsg{}
	seen := map[string]string{}   // field name -> key used
	oneofs := map[string]string{} // oneof -> field set
	for key, val := range obj {
		f := s.field(key)
		if f == nil {
			return nil, pbErrorf("%s: unknown field %q", s.name, key)
		}
		if prev, dup := seen[f.name]; dup {
			return nil, pbErrorf("%s: duplicate field %q (also given as %q)", s.name, key, prev)
		}
		seen[f.name] = key
		if string(val) == "null" {
			continue // null reads as the field's default: unset
		}
		if f.oneof != "" {
			if other, set := oneofs[f.oneof]; set {
				return nil, pbErrorf("%s: error parsing %q, oneof %s.%s is already set by %q", s.name, key, s.name, f.oneof, other)
			}
			oneofs[f.oneof] = f.name
		}
		v, err := decodePBValue(val, f, s)
		if err != nil {
			return nil, err
		}
		out[f.name] = v
	}
	return out, nil
}

func (s *pbSchema) field(key string) *pbField {
	for i := range s.fields {
		if s.fields[i].name == key || s.fields[i].proto == key {
			return &s.fields[i]
		}
	}
	return nil
}

func decodePBValue(raw json.RawMessage, f *pbField, s *pbSchema) (any, error) {
	where := s.name + "." + f.proto
	switch f.kind {
	case pbString:
		return pbStringValue(raw, where)
	case pbBool:
		switch string(raw) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
		return nil, pbErrorf("invalid value for bool field %s: %s", where, abbrev(raw))
	case pbUint32:
		u, err := pbUnsigned(raw, math.MaxUint32)
		if err != nil {
			return nil, pbErrorf("invalid value for uint32 field %s: %s", where, abbrev(raw))
		}
		return uint32(u), nil
	case pbBytes:
		str, err := pbStringValue(raw, where)
		if err != nil {
			return nil, pbErrorf("invalid value for bytes field %s: %s", where, abbrev(raw))
		}
		b, ok := pbBase64(str)
		if !ok {
			return nil, pbErrorf("invalid value for bytes field %s: %s", where, abbrev(raw))
		}
		return b, nil
	case pbEnum:
		if len(raw) > 0 && raw[0] == '"' {
			var name string
			if err := json.Unmarshal(raw, &name); err != nil {
				return nil, pbErrorf("invalid value for enum field %s: %s", where, abbrev(raw))
			}
			n, ok := f.enum[name]
			if !ok {
				return nil, pbErrorf("invalid value for enum field %s: %s", where, abbrev(raw))
			}
			return n, nil
		}
		n, err := strconv.ParseInt(string(raw), 10, 32)
		if err != nil {
			return nil, pbErrorf("invalid value for enum field %s: %s", where, abbrev(raw))
		}
		return int32(n), nil
	case pbMessage:
		return decodePBObject(raw, f.msg)
	case pbStrings:
		if len(raw) == 0 || raw[0] != '[' {
			return nil, pbErrorf("invalid value for repeated string field %s: %s", where, abbrev(raw))
		}
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, pbErrorf("invalid value for repeated string field %s: %v", where, err)
		}
		list := make([]string, 0, len(items))
		for _, it := range items {
			str, err := pbStringValue(it, where)
			if err != nil {
				return nil, err
			}
			list = append(list, str)
		}
		return list, nil
	case pbStringMap:
		if len(raw) == 0 || raw[0] != '{' {
			return nil, pbErrorf("invalid value for map field %s: %s", where, abbrev(raw))
		}
		var items map[string]json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, pbErrorf("invalid value for map field %s: %v", where, err)
		}
		m := make(map[string]string, len(items))
		for k, it := range items {
			str, err := pbStringValue(it, where+"["+strconv.Quote(k)+"]")
			if err != nil {
				return nil, err
			}
			m[k] = str
		}
		return m, nil
	}
	return nil, pbErrorf("field %s has an unknown kind", where)
}

func pbStringValue(raw json.RawMessage, where string) (string, error) {
	if len(raw) == 0 || raw[0] != '"' {
		return "", pbErrorf("invalid value for string field %s: %s", where, abbrev(raw))
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", pbErrorf("invalid value for string field %s: %s", where, abbrev(raw))
	}
	return s, nil
}

// pbUnsigned reads an unsigned integer as protojson does: a JSON number or
// a string holding one, in exponent form too, as long as it is integral.
func pbUnsigned(raw json.RawMessage, limit uint64) (uint64, error) {
	s := string(raw)
	if len(raw) > 0 && raw[0] == '"' {
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, err
		}
		if s != strings.TrimSpace(s) {
			return 0, fmt.Errorf("spaces around %q", s)
		}
	}
	if u, err := strconv.ParseUint(s, 10, 64); err == nil {
		if u > limit {
			return 0, fmt.Errorf("%d out of range", u)
		}
		return u, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) || f != math.Trunc(f) || f < 0 || f > float64(limit) {
		return 0, fmt.Errorf("not an unsigned integer: %q", s)
	}
	return uint64(f), nil
}

// pbBase64 decodes bytes as protojson does: standard or URL alphabet,
// with or without padding.
func pbBase64(s string) ([]byte, bool) {
	enc := base64.StdEncoding
	if strings.ContainsAny(s, "-_") {
		enc = base64.URLEncoding
	}
	if len(s)%4 != 0 {
		enc = enc.WithPadding(base64.NoPadding)
	}
	b, err := enc.DecodeString(s)
	return b, err == nil
}

func abbrev(raw json.RawMessage) string {
	const max = 40
	s := string(raw)
	if len(s) > max {
		s = s[:max] + "…"
	}
	return s
}

// pbTime is a google.protobuf.Timestamp in the proto3 JSON mapping: UTC,
// RFC 3339, with 0, 3, 6 or 9 fractional digits.
type pbTime time.Time

// MarshalJSON writes the timestamp as protojson does.
func (t pbTime) MarshalJSON() ([]byte, error) {
	u := time.Time(t).UTC()
	s := u.Format("2006-01-02T15:04:05")
	switch n := u.Nanosecond(); {
	case n == 0:
	case n%1_000_000 == 0:
		s += fmt.Sprintf(".%03d", n/1_000_000)
	case n%1_000 == 0:
		s += fmt.Sprintf(".%06d", n/1_000)
	default:
		s += fmt.Sprintf(".%09d", n)
	}
	return json.Marshal(s + "Z")
}
