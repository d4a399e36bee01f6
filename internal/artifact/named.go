package artifact

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"
)

// Named objects are small records stored under a key the caller chooses
// (a worker's finished-result checkpoint, keyed by task), in the write
// root but outside the content-addressed sha256/ tree. Unlike Put, a
// second PutNamed replaces the bytes.

// checkNamed validates a named key.
func checkNamed(key string) error {
	if err := checkKey(key); err != nil {
		return fmt.Errorf("named key %q: %v: %w", key, err, ErrInvalidURI)
	}
	if key == hashDir || strings.HasPrefix(key, hashDir+"/") {
		return fmt.Errorf("named key %q is under %s/, which holds content-addressed artifacts only: %w", key, hashDir, ErrInvalidURI)
	}
	return nil
}

// PutNamed stores b under key in the write root, replacing what is there,
// and returns its URI. key is a '/'-separated path outside sha256/; bytes
// over the size limit fail with ErrTooLarge.
func (s *Store) PutNamed(ctx context.Context, key string, b []byte) (string, error) {
	if err := checkNamed(key); err != nil {
		return "", err
	}
	uri := uriFor(s.write.base, key)
	if int64(len(b)) > s.maxBytes {
		return "", fmt.Errorf("artifact %q: %d bytes is more than the limit of %d: %w", uri, len(b), s.maxBytes, ErrTooLarge)
	}
	if err := s.write.confine(key); err != nil {
		return "", fmt.Errorf("artifact %q: %w", uri, err)
	}
	err := s.write.bucket.WriteAll(ctx, key, b, &blob.WriterOptions{
		ContentType:                 "application/octet-stream",
		DisableContentTypeDetection: true,
	})
	if err != nil {
		return "", fmt.Errorf("artifact %q: write: %w", uri, err)
	}
	return uri, nil
}

// GetNamed returns the bytes PutNamed stored under key in the write root;
// an ErrNotFound error when there are none.
func (s *Store) GetNamed(ctx context.Context, key string) ([]byte, error) {
	if err := checkNamed(key); err != nil {
		return nil, err
	}
	return s.Get(ctx, uriFor(s.write.base, key))
}

// DeleteNamed removes what PutNamed stored under key; a missing key is not
// an error.
func (s *Store) DeleteNamed(ctx context.Context, key string) error {
	if err := checkNamed(key); err != nil {
		return err
	}
	if err := s.write.confine(key); err != nil {
		return fmt.Errorf("artifact %q: %w", uriFor(s.write.base, key), err)
	}
	if err := s.write.bucket.Delete(ctx, key); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
		return fmt.Errorf("artifact %q: delete: %w", uriFor(s.write.base, key), err)
	}
	return nil
}

// ListNamed returns the keys of the named objects under dir (a named key
// taken as a folder), in lexical order; none is not an error. Objects still
// being written are not listed.
func (s *Store) ListNamed(ctx context.Context, dir string) ([]string, error) {
	if err := checkNamed(dir); err != nil {
		return nil, err
	}
	if err := s.write.confine(dir); err != nil {
		return nil, fmt.Errorf("artifact %q: %w", uriFor(s.write.base, dir), err)
	}
	// In a directory root a key deleted while the listing walks the
	// directory fails the walk with NotFound (the driver stats every file
	// it reads): workers drop old checkpoints while pages list them. Such a
	// listing is started again; only a store that keeps failing so is an
	// error.
	const attempts = 8
	for attempt := 1; ; attempt++ {
		keys, err := s.listNamed(ctx, dir)
		if err == nil {
			return keys, nil
		}
		if gcerrors.Code(err) != gcerrors.NotFound || attempt == attempts || ctx.Err() != nil {
			return nil, fmt.Errorf("artifact %q: list: %w", uriFor(s.write.base, dir), err)
		}
	}
}

// partialWrite reports whether key is a write in progress in a directory
// root: the directory driver writes a key to "<key>.<hex time>.tmp" next to
// it and renames it when done, and lists that file meanwhile.
func partialWrite(key string) bool {
	rest, ok := strings.CutSuffix(key, ".tmp")
	if !ok {
		return false
	}
	i := strings.LastIndexByte(rest, '.')
	if i < 0 || i == len(rest)-1 {
		return false
	}
	for _, c := range rest[i+1:] {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// listNamed is one listing of ListNamed, without the directory driver's
// writes in progress.
func (s *Store) listNamed(ctx context.Context, dir string) ([]string, error) {
	var keys []string
	it := s.write.bucket.List(&blob.ListOptions{Prefix: dir + "/"})
	for {
		obj, err := it.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if checkNamed(obj.Key) == nil && !(s.write.scheme == "file" && partialWrite(obj.Key)) {
			keys = append(keys, obj.Key)
		}
	}
	slices.Sort(keys)
	return keys, nil
}

// DeleteNamedDir removes every named object under dir; an empty or
// missing dir is not an error. In a directory root it also removes the
// folders left empty under dir (a bucket has none to remove).
func (s *Store) DeleteNamedDir(ctx context.Context, dir string) error {
	keys, err := s.ListNamed(ctx, dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, k := range keys {
		errs = append(errs, s.DeleteNamed(ctx, k))
	}
	if s.write.scheme == "file" {
		removeEmptyDirs(filepath.Join(s.write.dir, filepath.FromSlash(dir)))
	}
	return errors.Join(errs...)
}

// removeEmptyDirs removes top and the folders below it that hold nothing,
// deepest first; a folder that still holds something stays.
func removeEmptyDirs(top string) {
	var dirs []string
	filepath.WalkDir(top, func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, path)
		}
		return nil
	})
	for _, d := range slices.Backward(dirs) {
		os.Remove(d) // fails, harmlessly, on a folder that is not empty
	}
}
