//go:build unix

package e2bfake_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chaoslab-dev/chaoslab/internal/e2bfake"
)

// upload posts content to /files as a multipart form, as the SDKs do.
func (f *fake) upload(sb sandbox, query url.Values, filename string, content []byte) (int, []byte) {
	f.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	part, err := mw.CreateFormFile("file", filename)
	if err != nil {
		f.t.Fatal(err)
	}
	part.Write(content)
	mw.Close()
	req := f.envdRequest(sb, e2bfake.EnvdPort, "POST", "/files?"+query.Encode(), &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	status, _, data := f.do(req)
	return status, data
}

func (f *fake) download(sb sandbox, query url.Values) (int, []byte) {
	f.t.Helper()
	status, _, data := f.do(f.envdRequest(sb, e2bfake.EnvdPort, "GET", "/files?"+query.Encode(), nil))
	return status, data
}

func TestFiles(t *testing.T) {
	f := start(t)
	sb := f.create(nil)
	dir, _ := f.srv.Dir(sb.SandboxID)

	status, data := f.upload(sb, url.Values{"path": {"/home/user/dir/a.txt"}, "username": {"user"}}, "a.txt", []byte("hello"))
	if status != http.StatusOK || string(data) != `[{"path":"/home/user/dir/a.txt","name":"a.txt","type":"file"}]` {
		t.Fatalf("upload: %d %s", status, data)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "home/user/dir/a.txt")); err != nil || string(got) != "hello" {
		t.Errorf("in the sandbox directory: %q, %v", got, err)
	}
	// Relative paths are under the user's home; the file name gives the
	// path when there is no path parameter.
	if status, data := f.upload(sb, url.Values{}, "b.txt", []byte("bee")); status != http.StatusOK || !strings.Contains(string(data), `"path":"/home/user/b.txt"`) {
		t.Errorf("upload by file name: %d %s", status, data)
	}
	req := f.envdRequest(sb, e2bfake.EnvdPort, "POST", "/files?path=raw.bin", strings.NewReader("raw"))
	req.Header.Set("Content-Type", "application/octet-stream")
	if status, _, data := f.do(req); status != http.StatusOK || !strings.Contains(string(data), `"/home/user/raw.bin"`) {
		t.Errorf("octet-stream upload: %d %s", status, data)
	}

	for path, want := range map[string]string{"/home/user/dir/a.txt": "hello", "dir/a.txt": "hello", "~/b.txt": "bee", "raw.bin": "raw"} {
		if status, data := f.download(sb, url.Values{"path": {path}}); status != http.StatusOK || string(data) != want {
			t.Errorf("download %s: %d %q", path, status, data)
		}
	}
	status, data = f.download(sb, url.Values{"path": {"/home/user/none"}})
	var e struct {
		Message string `json:"message"`
		Code    int    `json:"code"`
	}
	mustUnmarshal(t, data, &e)
	if status != http.StatusNotFound || e.Code != 404 || e.Message != "path '/home/user/none' does not exist" {
		t.Errorf("missing file: %d %s", status, data)
	}
	if status, data := f.download(sb, url.Values{"path": {"/home/user/dir"}}); status != http.StatusBadRequest {
		t.Errorf("directory: %d %s", status, data)
	}
	if status, data := f.download(sb, url.Values{"path": {"a"}, "username": {"nobody"}}); status != http.StatusUnauthorized {
		t.Errorf("unknown user: %d %s", status, data)
	}
	if status, data := f.download(sb, url.Values{"path": {"../../../../etc/passwd"}}); status != http.StatusNotFound {
		t.Errorf("a path escaping the sandbox: %d %s", status, data)
	}

	// A command sees the uploaded file in its working directory.
	if r := f.startCmd(sb, "cat dir/a.txt b.txt", nil).collect(); string(r.stdout) != "hellobee" {
		t.Errorf("cat: %q %q", r.stdout, r.stderr)
	}
}

func TestFilesystemService(t *testing.T) {
	f := start(t)
	sb := f.create(nil)
	f.upload(sb, url.Values{"path": {"/home/user/d/f.txt"}}, "f.txt", []byte("12345"))

	status, data := f.unary(sb, "filesystem.Filesystem/Stat", map[string]any{"path": "/home/user/d/f.txt"})
	var stat struct {
		Entry map[string]json.RawMessage `json:"entry"`
	}
	mustUnmarshal(t, data, &stat)
	// size is an int64: a string in proto JSON.
	if status != http.StatusOK || string(stat.Entry["size"]) != `"5"` || string(stat.Entry["type"]) != `"FILE_TYPE_FILE"` ||
		string(stat.Entry["path"]) != `"/home/user/d/f.txt"` || string(stat.Entry["name"]) != `"f.txt"` || stat.Entry["modifiedTime"] == nil {
		t.Errorf("stat: %d %s", status, data)
	}
	status, data = f.unary(sb, "filesystem.Filesystem/Stat", map[string]any{"path": "/home/user/none"})
	var e connectErr
	mustUnmarshal(t, data, &e)
	if status != http.StatusNotFound || e.Code != "not_found" || strings.Contains(e.Message, os.TempDir()) {
		t.Errorf("stat of nothing: %d %s", status, data)
	}

	status, data = f.unary(sb, "filesystem.Filesystem/MakeDir", map[string]any{"path": "d/e/g"})
	if status != http.StatusOK || !strings.Contains(string(data), `"type":"FILE_TYPE_DIRECTORY"`) || !strings.Contains(string(data), `"path":"/home/user/d/e/g"`) {
		t.Errorf("make dir: %d %s", status, data)
	}
	status, data = f.unary(sb, "filesystem.Filesystem/MakeDir", map[string]any{"path": "d/e/g"})
	if mustUnmarshal(t, data, &e); status != http.StatusConflict || e.Code != "already_exists" {
		t.Errorf("make dir again: %d %s", status, data)
	}

	status, data = f.unary(sb, "filesystem.Filesystem/ListDir", map[string]any{"path": "/home/user/d"})
	var list struct {
		Entries []struct {
			Path string `json:"path"`
			Type string `json:"type"`
		} `json:"entries"`
	}
	mustUnmarshal(t, data, &list)
	if status != http.StatusOK || len(list.Entries) != 2 {
		t.Errorf("list depth 1: %d %s", status, data)
	}
	status, data = f.unary(sb, "filesystem.Filesystem/ListDir", map[string]any{"path": "/home/user/d", "depth": 3})
	list.Entries = nil
	mustUnmarshal(t, data, &list)
	if status != http.StatusOK || len(list.Entries) != 3 {
		t.Errorf("list depth 3: %d %s", status, data)
	}
	status, data = f.unary(sb, "filesystem.Filesystem/ListDir", map[string]any{"path": "/home/user/d/f.txt"})
	if mustUnmarshal(t, data, &e); status != http.StatusBadRequest || e.Code != "invalid_argument" {
		t.Errorf("list a file: %d %s", status, data)
	}
	status, data = f.unary(sb, "filesystem.Filesystem/ListDir", `{"path":"/home/user","depth":-1}`)
	if mustUnmarshal(t, data, &e); status != http.StatusBadRequest || e.Code != "invalid_argument" {
		t.Errorf("negative depth: %d %s", status, data)
	}

	status, data = f.unary(sb, "filesystem.Filesystem/Move", map[string]any{"source": "d/f.txt", "destination": "/home/user/x/y.txt"})
	if status != http.StatusOK || !strings.Contains(string(data), `"path":"/home/user/x/y.txt"`) {
		t.Errorf("move: %d %s", status, data)
	}
	if status, data := f.download(sb, url.Values{"path": {"x/y.txt"}}); status != http.StatusOK || string(data) != "12345" {
		t.Errorf("moved file: %d %s", status, data)
	}
	status, data = f.unary(sb, "filesystem.Filesystem/Move", map[string]any{"source": "d/f.txt", "destination": "z"})
	if mustUnmarshal(t, data, &e); status != http.StatusNotFound || e.Code != "not_found" {
		t.Errorf("move nothing: %d %s", status, data)
	}

	for range 2 { // removing nothing succeeds, as in envd
		if status, data := f.unary(sb, "filesystem.Filesystem/Remove", map[string]any{"path": "/home/user/x"}); status != http.StatusOK || string(data) != "{}" {
			t.Errorf("remove: %d %s", status, data)
		}
	}
	if status, _ := f.download(sb, url.Values{"path": {"x/y.txt"}}); status != http.StatusNotFound {
		t.Errorf("removed file: %d", status)
	}
	if status, _ := f.unary(sb, "filesystem.Filesystem/WatchDir", map[string]any{"path": "/"}); status != http.StatusUnsupportedMediaType {
		t.Errorf("watch dir as unary: %d", status)
	}
}

func TestSecureSandbox(t *testing.T) {
	f := start(t)
	sb := f.create(map[string]any{"secure": true})
	if len(sb.EnvdAccessToken) < 16 {
		t.Fatalf("envdAccessToken %q", sb.EnvdAccessToken)
	}
	_, _, data := f.api("GET", "/sandboxes/"+sb.SandboxID, nil)
	if !strings.Contains(string(data), sb.EnvdAccessToken) {
		t.Errorf("detail without the token: %s", data)
	}
	if status, data := f.unary(sb, "process.Process/List", map[string]any{}); status != http.StatusOK {
		t.Errorf("with the token: %d %s", status, data)
	}
	anon := sb
	anon.EnvdAccessToken = ""
	if status, data := f.unary(anon, "process.Process/List", map[string]any{}); status != http.StatusUnauthorized {
		t.Errorf("without the token: %d %s", status, data)
	}
	wrong := sb
	wrong.EnvdAccessToken = "nope"
	if status, data := f.unary(wrong, "process.Process/List", map[string]any{}); status != http.StatusUnauthorized {
		t.Errorf("with a wrong token: %d %s", status, data)
	}
	if status, _, _ := f.do(f.envdRequest(anon, e2bfake.EnvdPort, "GET", "/health", nil)); status != http.StatusNoContent {
		t.Errorf("health without the token: %d", status)
	}
	if status, data := f.upload(sb, url.Values{"path": {"s.txt"}}, "s.txt", []byte("secret")); status != http.StatusOK {
		t.Fatalf("upload with the token: %d %s", status, data)
	}
	if status, data := f.download(anon, url.Values{"path": {"s.txt"}}); status != http.StatusUnauthorized {
		t.Errorf("download without token or signature: %d %s", status, data)
	}
	// The SDKs' signed URL: v1_ + base64(sha256(path:operation:user:token)), unpadded.
	sum := sha256.Sum256([]byte("s.txt:read::" + sb.EnvdAccessToken))
	sig := "v1_" + strings.TrimRight(base64.StdEncoding.EncodeToString(sum[:]), "=")
	if status, data := f.download(anon, url.Values{"path": {"s.txt"}, "signature": {sig}}); status != http.StatusOK || string(data) != "secret" {
		t.Errorf("signed download: %d %s", status, data)
	}
	if status, data := f.download(anon, url.Values{"path": {"s.txt"}, "signature": {sig + "x"}}); status != http.StatusUnauthorized {
		t.Errorf("bad signature: %d %s", status, data)
	}
}
