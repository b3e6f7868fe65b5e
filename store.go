package chaoslab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
)

// FileStore keeps one JSON file per run in a directory: DIR/<run id>.json.
// It is the default Store; the zero value is not usable, use NewFileStore.
type FileStore struct {
	dir string
}

// NewFileStore returns a store in dir, created on first Save. It does no I/O.
func NewFileStore(dir string) *FileStore { return &FileStore{dir: dir} }

var runIDRE = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

func (s *FileStore) path(id string) (string, error) {
	if !runIDRE.MatchString(id) {
		return "", fmt.Errorf("file store: run id %q: %w (letters, digits, dot, dash, underscore only)", id, ErrInvalid)
	}
	return filepath.Join(s.dir, id+".json"), nil
}

// Save writes r atomically to DIR/<r.ID>.json.
func (s *FileStore) Save(ctx context.Context, r *Result) error {
	p, err := s.path(r.ID)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return fmt.Errorf("file store: %w", err)
	}
	return WriteResultFile(p, r)
}

// Load reads the result saved under id.
func (s *FileStore) Load(ctx context.Context, id string) (*Result, error) {
	p, err := s.path(id)
	if err != nil {
		return nil, err
	}
	r, err := ReadResultFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("file store: run %s: %w", id, ErrNotFound)
	}
	return r, err
}

// List returns every stored result, oldest first. Files that are not
// results are skipped; unreadable ones are reported together.
func (s *FileStore) List(ctx context.Context) ([]*Result, error) {
	paths, err := filepath.Glob(filepath.Join(s.dir, "*.json"))
	if err != nil {
		return nil, fmt.Errorf("file store: %w", err)
	}
	var out []*Result
	var errs []error
	for _, p := range paths {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		r, err := ReadResultFile(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, r)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].StartedAt.Before(out[j].StartedAt) })
	return out, errors.Join(errs...)
}

// WriteResultFile writes r as indented JSON to path atomically.
func WriteResultFile(path string, r *Result) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode result: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".result-*.json")
	if err != nil {
		return fmt.Errorf("write result: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("write result: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write result: %w", err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("write result: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write result: %w", err)
	}
	return nil
}

// ReadResultFile reads a result written by WriteResultFile.
func ReadResultFile(path string) (*Result, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read result: %w", err)
	}
	var r Result
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("read result %s: %w", path, err)
	}
	if r.SchemaVersion == 0 || r.ID == "" {
		return nil, fmt.Errorf("read result %s: not a chaoslab result (no schema_version or id)", path)
	}
	return &r, nil
}
