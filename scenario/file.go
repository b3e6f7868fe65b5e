package scenario

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/chaoslab-dev/chaoslab"
)

// Load reads an experiment file (YAML, or JSON, which is read as YAML) and
// validates it. See Parse.
func Load(path string) (chaoslab.Experiment, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return chaoslab.Experiment{}, fmt.Errorf("experiment file: %w", err)
	}
	return Parse(path, b)
}

// Parse decodes an experiment from YAML or JSON strictly and validates it.
// An unknown key, a value of the wrong type or an invalid field is an error
// wrapping chaoslab.ErrInvalid whose lines each name the file, the line, the
// field path and what is wrong:
//
//	exp.yaml:7: faults[0].params.latency: "-5ms" must be a positive duration such as 200ms
//	exp.yaml:3: unknown key "timout" in load; valid keys: rate, paths, method, timeout, disabled
//
// name labels the messages (a file path, or "-" for standard input).
func Parse(name string, data []byte) (chaoslab.Experiment, error) {
	var exp chaoslab.Experiment
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return exp, &FileError{Name: name, Problems: []string{"the file is empty"}}
		}
		return exp, &FileError{Name: name, Problems: []string{syntaxMessage(name, err)}}
	}
	var more yaml.Node
	if err := dec.Decode(&more); err == nil {
		return exp, &FileError{Name: name, Problems: []string{fmt.Sprintf("%s:%d: a second document; an experiment file holds one", name, more.Line)}}
	}
	if doc := document(&root); doc == nil || doc.Kind != yaml.MappingNode {
		return exp, &FileError{Name: name, Problems: []string{fmt.Sprintf("%s:1: an experiment is a mapping of keys (name, target, load, hypothesis, faults, ...)", name)}}
	}
	fe := &FileError{Name: name, Problems: unknownKeys(name, document(&root), reflect.TypeOf(exp), "")}
	// A value of the wrong type leaves its field unset and decoding goes
	// on, so the rest can still be validated.
	if err := root.Decode(&exp); err != nil {
		fe.Problems = append(fe.Problems, typeMessages(name, err)...)
	}
	var ve *chaoslab.ValidationError
	if err := exp.Validate(); errors.As(err, &ve) {
		for _, p := range ve.Problems {
			fe.Problems = append(fe.Problems, fmt.Sprintf("%s:%d: %s", name, lineOf(document(&root), p.Path), p))
		}
	}
	if len(fe.Problems) > 0 {
		return exp, fe
	}
	return exp, nil
}

// FileError lists every problem found in an experiment file. It wraps
// chaoslab.ErrInvalid.
type FileError struct {
	Name     string
	Problems []string
}

func (e *FileError) Error() string {
	return "invalid experiment file " + e.Name + ":\n  " + strings.Join(e.Problems, "\n  ")
}

// Unwrap makes errors.Is(err, chaoslab.ErrInvalid) true.
func (e *FileError) Unwrap() error { return chaoslab.ErrInvalid }

func document(n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		return n.Content[0]
	}
	return nil
}

var lineRE = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

func syntaxMessage(name string, err error) string {
	msg := err.Error()
	if m := lineRE.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("%s:%s: %s", name, m[1], m[2])
	}
	return name + ": " + strings.TrimPrefix(msg, "yaml: ")
}

func typeMessages(name string, err error) []string {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return []string{syntaxMessage(name, err)}
	}
	var out []string
	for _, e := range te.Errors {
		m := lineRE.FindStringSubmatch(e)
		if m == nil {
			out = append(out, name+": "+e)
			continue
		}
		out = append(out, fmt.Sprintf("%s:%s: %s", name, m[1], strings.ReplaceAll(m[2], "time.Duration", "a duration such as 5s")))
	}
	return out
}

// yamlKeys returns the keys a struct type accepts, in field order.
func yamlKeys(t reflect.Type) ([]string, map[string]reflect.Type) {
	var keys []string
	types := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if tag == "-" || !f.IsExported() {
			continue
		}
		if tag == "" {
			tag = strings.ToLower(f.Name)
		}
		keys = append(keys, tag)
		types[tag] = f.Type
	}
	return keys, types
}

// unknownKeys walks the document beside the type it decodes into and
// reports every key the type does not have, with its line.
func unknownKeys(name string, n *yaml.Node, t reflect.Type, path string) []string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var out []string
	switch {
	case t.Kind() == reflect.Struct && n.Kind == yaml.MappingNode:
		keys, types := yamlKeys(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			ft, ok := types[k.Value]
			if !ok {
				where := ""
				if path != "" {
					where = " in " + path
				}
				out = append(out, fmt.Sprintf("%s:%d: unknown key %q%s; valid keys: %s", name, k.Line, k.Value, where, strings.Join(keys, ", ")))
				continue
			}
			out = append(out, unknownKeys(name, v, ft, join(path, k.Value))...)
		}
	case t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode:
		for i, item := range n.Content {
			out = append(out, unknownKeys(name, item, t.Elem(), fmt.Sprintf("%s[%d]", path, i))...)
		}
	}
	return out
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

var segRE = regexp.MustCompile(`([^.\[\]]+)|\[(\d+)\]`)

// lineOf finds the line of a field path such as faults[1].params.latency,
// falling back to the nearest ancestor that exists.
func lineOf(n *yaml.Node, path string) int {
	line := n.Line
	for _, m := range segRE.FindAllStringSubmatch(path, -1) {
		switch {
		case m[1] != "" && n.Kind == yaml.MappingNode:
			i := 0
			for ; i+1 < len(n.Content) && n.Content[i].Value != m[1]; i += 2 {
			}
			if i+1 >= len(n.Content) {
				return line
			}
			line, n = n.Content[i].Line, n.Content[i+1]
		case m[2] != "" && n.Kind == yaml.SequenceNode:
			idx, _ := strconv.Atoi(m[2])
			if idx >= len(n.Content) {
				return line
			}
			n = n.Content[idx]
			line = n.Line
		default:
			return line
		}
	}
	return line
}
