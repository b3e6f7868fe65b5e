//go:build unix

package e2bfake

import (
	"errors"
	"io/fs"
	"os"
	"os/user"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// This file serves envd's filesystem.Filesystem service.

// entryInfo is filesystem.EntryInfo in the proto3 JSON mapping.
type entryInfo struct {
	Name          string  `json:"name,omitempty"`
	Type          string  `json:"type,omitempty"`
	Path          string  `json:"path,omitempty"`
	Size          int64   `json:"size,string,omitempty"`
	Mode          uint32  `json:"mode,omitempty"`
	Permissions   string  `json:"permissions,omitempty"`
	Owner         string  `json:"owner,omitempty"`
	Group         string  `json:"group,omitempty"`
	ModifiedTime  *pbTime `json:"modifiedTime,omitempty"`
	SymlinkTarget *string `json:"symlinkTarget,omitempty"`
}

// The file types of filesystem.proto.
const (
	fileTypeFile      = "FILE_TYPE_FILE"
	fileTypeDirectory = "FILE_TYPE_DIRECTORY"
	fileTypeSymlink   = "FILE_TYPE_SYMLINK"
)

type entryResponse struct {
	Entry *entryInfo `json:"entry,omitempty"`
}

type listDirResponse struct {
	Entries []*entryInfo `json:"entries,omitempty"`
}

// entryFor describes the file at host path h, named p in the sandbox. A
// symbolic link has the type of what it points to, if that exists, and its
// target.
func (sb *sandbox) entryFor(h, p string) (*entryInfo, error) {
	fi, err := os.Lstat(h)
	if err != nil {
		return nil, err
	}
	e := &entryInfo{
		Name:        fi.Name(),
		Path:        p,
		Size:        fi.Size(),
		Mode:        uint32(fi.Mode().Perm()),
		Permissions: fi.Mode().String(),
	}
	mt := pbTime(fi.ModTime())
	e.ModifiedTime = &mt
	e.Owner, e.Group = ownership(fi)
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		e.Type = fileTypeSymlink
		if target, err := os.Readlink(h); err == nil {
			if filepath.IsAbs(target) {
				target = sb.sandboxPath(target)
			}
			e.SymlinkTarget = &target
		}
		if ti, err := os.Stat(h); err == nil {
			e.Type = fileTypeOf(ti)
		}
	default:
		e.Type = fileTypeOf(fi)
	}
	return e, nil
}

func fileTypeOf(fi fs.FileInfo) string {
	switch {
	case fi.IsDir():
		return fileTypeDirectory
	case fi.Mode().IsRegular():
		return fileTypeFile
	case fi.Mode()&fs.ModeSymlink != 0:
		return fileTypeSymlink
	}
	return "" // FILE_TYPE_UNSPECIFIED, omitted
}

// ownership names a file's owner and group. Files of the user this fake
// runs as belong to the sandbox's "user".
func ownership(fi fs.FileInfo) (owner, group string) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return defaultUser, defaultUser
	}
	owner, group = strconv.Itoa(int(st.Uid)), strconv.Itoa(int(st.Gid))
	if int(st.Uid) == os.Getuid() {
		owner = defaultUser
	} else if u, err := user.LookupId(owner); err == nil {
		owner = u.Username
	}
	if int(st.Gid) == os.Getgid() {
		group = defaultUser
	} else if g, err := user.LookupGroupId(group); err == nil {
		group = g.Name
	}
	return owner, group
}

// fsPath reads the path field of a request and resolves it.
func fsPath(c *rpcCall, p, user string) (string, bool) {
	resolved, err := resolve(p, user)
	if err != nil {
		c.fail(connectErrorf(codeInvalidArgument, "%v", err))
		return "", false
	}
	return resolved, true
}

// rpcStat serves filesystem.Filesystem/Stat.
func (s *Server) rpcStat(c *rpcCall, sb *sandbox, user string) {
	req, ok := s.readUnaryPB(c, pbStatRequest)
	if !ok {
		return
	}
	p, ok := fsPath(c, req.str("path"), user)
	if !ok {
		return
	}
	e, err := sb.entryFor(sb.hostPath(p), p)
	if err != nil {
		c.fail(sb.fsError(err, "file not found"))
		return
	}
	c.reply(entryResponse{Entry: e})
}

// rpcMakeDir serves filesystem.Filesystem/MakeDir.
func (s *Server) rpcMakeDir(c *rpcCall, sb *sandbox, user string) {
	req, ok := s.readUnaryPB(c, pbMakeDirRequest)
	if !ok {
		return
	}
	p, ok := fsPath(c, req.str("path"), user)
	if !ok {
		return
	}
	h := sb.hostPath(p)
	if fi, err := os.Stat(h); err == nil {
		if fi.IsDir() {
			c.fail(connectErrorf(codeAlreadyExists, "directory already exists: %s", p))
		} else {
			c.fail(connectErrorf(codeInvalidArgument, "path already exists but it is not a directory: %s", p))
		}
		return
	} else if !errors.Is(err, fs.ErrNotExist) {
		c.fail(connectErrorf(codeInternal, "error getting file info: %s", sb.scrub(err)))
		return
	}
	if err := sb.ensureDirs(p); err != nil {
		c.fail(connectErrorf(codeInternal, "%s", sb.scrub(err)))
		return
	}
	c.reply(entryResponse{Entry: &entryInfo{Name: path.Base(p), Type: fileTypeDirectory, Path: p}})
}

// ensureDirs makes directory p of the sandbox and its parents; a file in
// the way is an error.
func (sb *sandbox) ensureDirs(p string) error {
	cur := "/"
	for _, part := range strings.Split(strings.Trim(p, "/"), "/") {
		if part == "" {
			continue
		}
		cur = path.Join(cur, part)
		h := sb.hostPath(cur)
		fi, err := os.Stat(h)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if err := os.Mkdir(h, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
				return errors.New("failed to create directory: " + sb.scrub(err))
			}
		case err != nil:
			return errors.New("failed to stat directory: " + sb.scrub(err))
		case !fi.IsDir():
			return errors.New("path is a file: " + cur)
		}
	}
	return nil
}

// rpcMove serves filesystem.Filesystem/Move.
func (s *Server) rpcMove(c *rpcCall, sb *sandbox, user string) {
	req, ok := s.readUnaryPB(c, pbMoveRequest)
	if !ok {
		return
	}
	src, ok := fsPath(c, req.str("source"), user)
	if !ok {
		return
	}
	dst, ok := fsPath(c, req.str("destination"), user)
	if !ok {
		return
	}
	if err := sb.ensureDirs(path.Dir(dst)); err != nil {
		c.fail(connectErrorf(codeInternal, "%s", sb.scrub(err)))
		return
	}
	if err := os.Rename(sb.hostPath(src), sb.hostPath(dst)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			c.fail(connectErrorf(codeNotFound, "source file not found: %s", sb.scrub(err)))
		} else {
			c.fail(connectErrorf(codeInternal, "error renaming: %s", sb.scrub(err)))
		}
		return
	}
	e, err := sb.entryFor(sb.hostPath(dst), dst)
	if err != nil {
		c.fail(sb.fsError(err, "file not found"))
		return
	}
	c.reply(entryResponse{Entry: e})
}

// rpcRemove serves filesystem.Filesystem/Remove. Like envd, it succeeds
// when there is nothing to remove.
func (s *Server) rpcRemove(c *rpcCall, sb *sandbox, user string) {
	req, ok := s.readUnaryPB(c, pbRemoveRequest)
	if !ok {
		return
	}
	p, ok := fsPath(c, req.str("path"), user)
	if !ok {
		return
	}
	h := sb.hostPath(p)
	if h == sb.root {
		c.fail(connectErrorf(codeInvalidArgument, "e2bfake does not remove the sandbox's root"))
		return
	}
	if err := os.RemoveAll(h); err != nil {
		c.fail(connectErrorf(codeInternal, "error removing file or directory: %s", sb.scrub(err)))
		return
	}
	c.reply(empty{})
}

// rpcListDir serves filesystem.Filesystem/ListDir: the entries under a
// directory down to depth levels (1 when 0), not following links below it.
func (s *Server) rpcListDir(c *rpcCall, sb *sandbox, user string) {
	req, ok := s.readUnaryPB(c, pbListDirRequest)
	if !ok {
		return
	}
	depth := int(req.u32("depth"))
	if depth == 0 {
		depth = 1
	}
	p, ok := fsPath(c, req.str("path"), user)
	if !ok {
		return
	}
	dir, err := filepath.EvalSymlinks(sb.hostPath(p))
	if err != nil {
		c.fail(sb.fsError(err, "path not found"))
		return
	}
	fi, err := os.Stat(dir)
	if err != nil {
		c.fail(sb.fsError(err, "directory not found"))
		return
	}
	if !fi.IsDir() {
		c.fail(connectErrorf(codeInvalidArgument, "path is not a directory: %s", p))
		return
	}
	var resp listDirResponse
	err = filepath.WalkDir(dir, func(h string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if h == dir {
			return nil
		}
		rel, err := filepath.Rel(dir, h)
		if err != nil {
			return err
		}
		if len(strings.Split(rel, string(filepath.Separator))) > depth {
			return filepath.SkipDir
		}
		e, err := sb.entryFor(h, path.Join(p, filepath.ToSlash(rel)))
		if err != nil {
			return err
		}
		resp.Entries = append(resp.Entries, e)
		return nil
	})
	if err != nil {
		c.fail(connectErrorf(codeInternal, "error reading directory %s: %s", p, sb.scrub(err)))
		return
	}
	c.reply(resp)
}

// fsError maps a file-system error to envd's Connect error.
func (sb *sandbox) fsError(err error, notFound string) *connectError {
	if errors.Is(err, fs.ErrNotExist) {
		return connectErrorf(codeNotFound, "%s: %s", notFound, sb.scrub(err))
	}
	return connectErrorf(codeInternal, "error getting file info: %s", sb.scrub(err))
}
