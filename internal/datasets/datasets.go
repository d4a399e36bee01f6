// Package datasets resolves the data sets tasks and commands name: URIs in
// the artifact store (a zip or .npz archive, or a directory under a file
// root) and, for local commands only, paths on this machine. It uploads
// directories as zip archives. Decoding is compress/data's; confinement to
// the store's roots is internal/artifact's.
package datasets

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/internal/artifact"
)

// ErrRequired is returned for an empty data set reference.
var ErrRequired = errors.New("a data set is required: give a data set URI (compressq data put prints one) or, locally, a directory")

// Load reads the data set at uri from the store: a zip or .npz archive
// (see data.LoadArchive), or a directory inside a file root (see
// data.LoadFS). An absolute path is a file:// URI. URIs outside the
// store's roots are refused with artifact.ErrOutsideRoot.
func Load(ctx context.Context, st *artifact.Store, uri string) (*data.Splits, error) {
	if uri == "" {
		return nil, ErrRequired
	}
	dir, derr := st.Dir(uri)
	if derr == nil {
		root, err := os.OpenRoot(dir)
		if err != nil {
			return nil, err
		}
		defer root.Close()
		return data.LoadFS(ctx, root.FS(), uri)
	}
	if !errors.Is(derr, artifact.ErrNotFound) {
		return nil, derr
	}
	b, err := st.Get(ctx, uri)
	if err != nil {
		return nil, err
	}
	return data.LoadArchive(ctx, b, uri)
}

// Check finds the data set at uri the way Load does, without reading it: a
// directory inside a file root, or an archive in the store. Its errors are
// Load's (artifact.ErrNotFound, artifact.ErrOutsideRoot, …).
func Check(ctx context.Context, st *artifact.Store, uri string) error {
	if uri == "" {
		return ErrRequired
	}
	if _, err := st.Dir(uri); err == nil || !errors.Is(err, artifact.ErrNotFound) {
		return err
	}
	r, _, err := st.Open(ctx, uri)
	if err != nil {
		return err
	}
	return r.Close()
}

// LoadLocal is Load for commands run by a user on their own machine: a
// path (a directory, a zip or an .npz) is read directly; a URI is read from
// the store.
func LoadLocal(ctx context.Context, st func() (*artifact.Store, error), ref string) (*data.Splits, error) {
	if ref == "" {
		return nil, ErrRequired
	}
	if !strings.Contains(ref, "://") {
		return data.LoadDir(ctx, ref)
	}
	s, err := st()
	if err != nil {
		return nil, err
	}
	return Load(ctx, s, ref)
}

// Put stores a data set and returns its URI: a directory as a zip of its
// files (after checking that it loads), a .zip or .npz file as it is.
func Put(ctx context.Context, st *artifact.Store, path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	var b []byte
	ext := strings.ToLower(filepath.Ext(path))
	switch {
	case fi.IsDir():
		if _, err := data.LoadDir(ctx, path); err != nil {
			return "", err
		}
		if b, err = Zip(path); err != nil {
			return "", err
		}
		ext = ".zip"
	case ext == ".zip" || ext == ".npz":
		if b, err = os.ReadFile(path); err != nil {
			return "", err
		}
		if _, err := data.LoadArchive(ctx, b, path); err != nil {
			return "", err
		}
	default:
		return "", fmt.Errorf("%s: want a data set directory, a .zip of one or an .npz", path)
	}
	return st.Put(ctx, bytes.NewReader(b), ext)
}

// Zip archives the regular files under dir (hidden files skipped) with
// their paths relative to dir, in lexical order and with zero timestamps,
// so the same files give the same bytes (and the same content address).
// Files already compressed (.gz, .png, .jpg, .npz) are stored, the rest
// deflated.
func Zip(dir string) ([]byte, error) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		h := &zip.FileHeader{Name: filepath.ToSlash(rel), Method: zip.Deflate}
		switch strings.ToLower(filepath.Ext(p)) {
		case ".gz", ".png", ".jpg", ".jpeg", ".npz", ".zip":
			h.Method = zip.Store
		}
		w, err := zw.CreateHeader(h)
		if err != nil {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(w, f)
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Permanent reports whether err is a property of the data set reference or
// its content, which no retry can fix.
func Permanent(err error) bool {
	return errors.Is(err, data.ErrData) || errors.Is(err, ErrRequired) ||
		errors.Is(err, artifact.ErrOutsideRoot) || errors.Is(err, artifact.ErrInvalidURI) ||
		errors.Is(err, artifact.ErrNotFound) || errors.Is(err, artifact.ErrTooLarge) ||
		errors.Is(err, artifact.ErrCorrupt)
}
