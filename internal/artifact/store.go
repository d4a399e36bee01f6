package artifact

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"gocloud.dev/blob"
	"gocloud.dev/blob/fileblob"
	"gocloud.dev/gcerrors"
)

// Sentinel errors, matched with errors.Is. Every error from Get, Open and Put
// names the URI and the reason; those wrapping one of these mean that
// retrying the same request cannot succeed.
var (
	// ErrOutsideRoot: the URI is not inside the write root or a read root
	// (another scheme or bucket, a ".." segment, a symlink leaving the root).
	ErrOutsideRoot = errors.New("outside the artifact roots")
	// ErrInvalidURI: the URI or extension is malformed.
	ErrInvalidURI = errors.New("invalid artifact URI")
	// ErrTooLarge: the artifact is larger than the store's size limit.
	ErrTooLarge = errors.New("artifact too large")
	// ErrCorrupt: the content does not match the sha256 in its name, or its
	// length does not match its recorded size.
	ErrCorrupt = errors.New("artifact corrupt")
	// ErrNotFound: no artifact at the URI.
	ErrNotFound = errors.New("artifact not found")
)

// Store is a content-addressed artifact store: one write root and any number
// of read-only roots. It is safe for concurrent use.
type Store struct {
	write    *root
	read     []*root // write first, then the read roots in order
	maxBytes int64
}

// root is one directory or bucket.
type root struct {
	display string // as Root returns it
	base    string // URI prefix of every artifact in it, ending in '/'
	scheme  string // lower case
	host    string // bucket; "" for file
	dir     string // file roots: absolute directory
	realDir string // file roots: dir with symlinks resolved
	prefix  string // other roots: key prefix in the bucket, "" or ending in '/'
	bucket  *blob.Bucket
}

// Open opens a store writing to root and also reading from readRoots. A root
// is a directory path (made absolute; the write root is created) or a bucket
// URL: "file:///abs/dir", "mem://", "mem://name", or any scheme whose
// gocloud.dev/blob driver is linked in. A path in a non-file URL
// ("s3://bucket/models") or its "prefix" query parameter confines the root to
// that key prefix. maxBytes bounds every artifact read or written.
func Open(ctx context.Context, root string, readRoots []string, maxBytes int64) (*Store, error) {
	if maxBytes <= 0 {
		return nil, fmt.Errorf("artifact store: max bytes %d must be > 0", maxBytes)
	}
	s := &Store{maxBytes: maxBytes}
	w, err := openRoot(ctx, root, true)
	if err != nil {
		return nil, fmt.Errorf("artifact root %q: %w", root, err)
	}
	s.write = w
	s.read = append(s.read, w)
	for _, rr := range readRoots {
		r, err := openRoot(ctx, rr, false)
		if err != nil {
			_ = s.Close()
			return nil, fmt.Errorf("artifact read root %q: %w", rr, err)
		}
		s.read = append(s.read, r)
	}
	return s, nil
}

// openRoot opens one root; writable roots that are directories are created.
func openRoot(ctx context.Context, spec string, writable bool) (*root, error) {
	if spec == "" {
		return nil, errors.New("empty root")
	}
	if !strings.Contains(spec, "://") {
		dir, err := filepath.Abs(spec)
		if err != nil {
			return nil, err
		}
		return openDir(dir, writable)
	}
	u, err := url.Parse(spec)
	if err != nil {
		return nil, err
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme == "file" {
		if u.Host != "" && u.Host != "localhost" {
			return nil, fmt.Errorf("file URL with host %q", u.Host)
		}
		if u.RawQuery != "" {
			return nil, errors.New("file root URL takes no query parameters")
		}
		if !filepath.IsAbs(u.Path) {
			return nil, fmt.Errorf("file root path %q is not absolute", u.Path)
		}
		return openDir(filepath.Clean(u.Path), writable)
	}

	q := u.Query()
	prefix := strings.Trim(u.Path, "/")
	if qp := strings.Trim(q.Get("prefix"), "/"); qp != "" {
		if prefix != "" {
			return nil, errors.New("give the key prefix as the URL path or as ?prefix=, not both")
		}
		prefix = qp
	}
	q.Del("prefix")
	if prefix != "" {
		if err := checkKey(prefix); err != nil {
			return nil, fmt.Errorf("key prefix %q: %w", prefix, err)
		}
		prefix += "/"
	}
	opener := url.URL{Scheme: u.Scheme, Host: u.Host, RawQuery: q.Encode()}
	b, err := blob.OpenBucket(ctx, opener.String())
	if err != nil {
		return nil, err
	}
	if prefix != "" {
		b = blob.PrefixedBucket(b, prefix)
	}
	display := scheme + "://" + u.Host
	if prefix != "" {
		display += "/" + strings.TrimSuffix(prefix, "/")
	}
	return &root{
		display: display,
		base:    scheme + "://" + u.Host + "/" + prefix,
		scheme:  scheme,
		host:    u.Host,
		prefix:  prefix,
		bucket:  b,
	}, nil
}

// openDir opens a directory root.
func openDir(dir string, writable bool) (*root, error) {
	if writable {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
	}
	realDir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return nil, err
	}
	b, err := fileblob.OpenBucket(dir, &fileblob.Options{
		// Temporary files next to their targets: a rename across mounts
		// would fail.
		NoTempDir: true,
		// No ".attrs" side files: an artifact is its bytes.
		Metadata: fileblob.MetadataDontWrite,
	})
	if err != nil {
		return nil, err
	}
	display := (&url.URL{Scheme: "file", Path: dir}).String()
	return &root{
		display: display,
		base:    strings.TrimSuffix(display, "/") + "/",
		scheme:  "file",
		dir:     dir,
		realDir: realDir,
		bucket:  b,
	}, nil
}

// Root returns the write root as a URI prefix: "file:///abs/dir", "mem://",
// "s3://bucket/prefix". Every URI Put returns starts with it.
func (s *Store) Root() string { return s.write.display }

// Close closes the store's buckets.
func (s *Store) Close() error {
	var errs []error
	for _, r := range s.read {
		if err := r.bucket.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close artifact root %s: %w", r.display, err))
		}
	}
	return errors.Join(errs...)
}

// Put stores the bytes of r under sha256/<hex[:2]>/<hex><ext> in the write
// root and returns their URI. ext is "" or up to three parts such as
// ".safetensors" or ".tar.gz". Storing bytes that are already there (same
// digest, same size) writes nothing and returns the same URI. Input longer
// than the size limit fails with ErrTooLarge. The bytes are spooled to a
// temporary file while hashing, so memory use does not grow with their size.
func (s *Store) Put(ctx context.Context, r io.Reader, ext string) (string, error) {
	if !extPattern.MatchString(ext) {
		return "", fmt.Errorf("artifact put: extension %q (want up to three parts like \".safetensors\"): %w", ext, ErrInvalidURI)
	}
	spool, err := os.CreateTemp("", "compressq-artifact-*")
	if err != nil {
		return "", fmt.Errorf("artifact put: spool: %w", err)
	}
	defer func() {
		_ = spool.Close()
		_ = os.Remove(spool.Name())
	}()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(spool, h), io.LimitReader(r, s.maxBytes+1))
	if err != nil {
		return "", fmt.Errorf("artifact put: read input: %w", err)
	}
	if n > s.maxBytes {
		return "", fmt.Errorf("artifact put: input is larger than the limit of %d bytes: %w", s.maxBytes, ErrTooLarge)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	key := keyFor(sum, ext)
	uri := uriFor(s.write.base, key)
	if err := s.write.confine(key); err != nil {
		return "", fmt.Errorf("artifact %q: %w", uri, err)
	}
	switch attrs, err := s.write.bucket.Attributes(ctx, key); {
	case err == nil && attrs.Size == n:
		return uri, nil // already stored
	case err != nil && gcerrors.Code(err) != gcerrors.NotFound:
		return "", fmt.Errorf("artifact %q: %w", uri, err)
	}
	if _, err := spool.Seek(0, io.SeekStart); err != nil {
		return "", fmt.Errorf("artifact put: spool: %w", err)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := s.write.bucket.NewWriter(wctx, key, &blob.WriterOptions{
		ContentType:                 "application/octet-stream",
		DisableContentTypeDetection: true,
	})
	if err != nil {
		return "", fmt.Errorf("artifact %q: %w", uri, err)
	}
	if _, err := io.Copy(w, spool); err != nil {
		cancel() // abandon the partial write
		_ = w.Close()
		return "", fmt.Errorf("artifact %q: write: %w", uri, err)
	}
	if err := w.Close(); err != nil {
		return "", fmt.Errorf("artifact %q: write: %w", uri, err)
	}
	return uri, nil
}

// Get returns the whole artifact at uri after the checks Open makes; a hash
// mismatch is an ErrCorrupt error and no bytes.
func (s *Store) Get(ctx context.Context, uri string) ([]byte, error) {
	rc, size, err := s.Open(ctx, uri)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	buf := make([]byte, 0, size)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)] // grow; only when the size was wrong
		}
		k, err := rc.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+k]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// Open returns a reader of the artifact at uri and its size. It refuses URIs
// outside the roots (ErrOutsideRoot), malformed ones (ErrInvalidURI), ones
// larger than the size limit before reading a byte (ErrTooLarge) and missing
// ones (ErrNotFound). For a content-addressed name the reader hashes what it
// delivers and, instead of io.EOF, returns an ErrCorrupt error when the
// digest or the length is wrong: a caller must read to io.EOF before trusting
// the bytes. The caller closes the reader.
func (s *Store) Open(ctx context.Context, uri string) (io.ReadCloser, int64, error) {
	r, key, err := s.locate(uri)
	if err != nil {
		return nil, 0, err
	}
	want, err := digestOf(key)
	if err != nil {
		return nil, 0, fmt.Errorf("artifact %q: %v: %w", uri, err, ErrInvalidURI)
	}
	if err := r.confine(key); err != nil {
		return nil, 0, fmt.Errorf("artifact %q: %w", uri, err)
	}
	attrs, err := r.bucket.Attributes(ctx, key)
	if err != nil {
		return nil, 0, s.readError(uri, err)
	}
	if attrs.Size > s.maxBytes {
		return nil, 0, fmt.Errorf("artifact %q: %d bytes is more than the limit of %d: %w", uri, attrs.Size, s.maxBytes, ErrTooLarge)
	}
	br, err := r.bucket.NewReader(ctx, key, nil)
	if err != nil {
		return nil, 0, s.readError(uri, err)
	}
	v := &verifier{uri: uri, r: br, size: attrs.Size, want: want}
	if want != "" {
		v.h = sha256.New()
	}
	return v, attrs.Size, nil
}

// Dir returns the local directory a file:// URI (or absolute path) names
// inside a directory root, after the checks Open makes: a URI outside the
// roots is an ErrOutsideRoot error, one in a bucket root or naming no
// directory an ErrNotFound error. Callers read the directory through
// os.OpenRoot so that symlinks inside it cannot leave it either.
func (s *Store) Dir(uri string) (string, error) {
	r, key, err := s.locate(uri)
	if err != nil {
		return "", err
	}
	if r.scheme != "file" {
		return "", fmt.Errorf("artifact %q: %s is a bucket, not a directory: %w", uri, r.display, ErrNotFound)
	}
	if err := r.confine(key); err != nil {
		return "", fmt.Errorf("artifact %q: %w", uri, err)
	}
	dir := filepath.Join(r.dir, filepath.FromSlash(key))
	fi, err := os.Stat(dir)
	if err != nil || !fi.IsDir() {
		return "", fmt.Errorf("artifact %q: not a directory: %w", uri, ErrNotFound)
	}
	return dir, nil
}

// readError classifies a bucket error.
func (s *Store) readError(uri string, err error) error {
	if gcerrors.Code(err) == gcerrors.NotFound {
		return fmt.Errorf("artifact %q: %w", uri, ErrNotFound)
	}
	return fmt.Errorf("artifact %q: %w", uri, err)
}

// locate finds the root holding uri and the key in it.
func (s *Store) locate(uri string) (*root, string, error) {
	loc, err := parseURI(uri)
	if errors.Is(err, errDotDot) {
		return nil, "", fmt.Errorf("artifact %q: path escapes root: %w", uri, ErrOutsideRoot)
	}
	if err != nil {
		return nil, "", fmt.Errorf("artifact %q: %v: %w", uri, err, ErrInvalidURI)
	}
	for _, r := range s.read {
		key, ok := r.keyOf(loc)
		if !ok {
			continue
		}
		if err := checkKey(key); err != nil {
			if errors.Is(err, errDotDot) {
				return nil, "", fmt.Errorf("artifact %q: path escapes root: %w", uri, ErrOutsideRoot)
			}
			return nil, "", fmt.Errorf("artifact %q: %v: %w", uri, err, ErrInvalidURI)
		}
		return r, key, nil
	}
	return nil, "", fmt.Errorf("artifact %q: not under %s: %w", uri, s.rootList(), ErrOutsideRoot)
}

// rootList names the roots for error messages.
func (s *Store) rootList() string {
	names := make([]string, len(s.read))
	for i, r := range s.read {
		names[i] = r.display
	}
	return strings.Join(names, ", ")
}

// keyOf returns the key of loc in r, if loc is inside r.
func (r *root) keyOf(loc location) (string, bool) {
	if loc.scheme != r.scheme {
		return "", false
	}
	if r.scheme == "file" {
		rest, ok := strings.CutPrefix(loc.path, strings.TrimSuffix(r.dir, "/")+"/")
		return rest, ok
	}
	if loc.host != r.host {
		return "", false
	}
	rest, ok := strings.CutPrefix(loc.path, r.prefix)
	return rest, ok
}

// confine checks, for a directory root, that the key's path does not leave
// the root through a symlink: the deepest existing part of the path must
// resolve inside the root's resolved directory. Other roots have no symlinks.
func (r *root) confine(key string) error {
	if r.scheme != "file" {
		return nil
	}
	p := filepath.Join(r.dir, filepath.FromSlash(key))
	for {
		real, err := filepath.EvalSymlinks(p)
		if err == nil {
			if real != r.realDir && !strings.HasPrefix(real, r.realDir+string(filepath.Separator)) {
				return fmt.Errorf("symlink leads to %q, outside root %s: %w", real, r.display, ErrOutsideRoot)
			}
			return nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return err
		}
		parent := filepath.Dir(p)
		if parent == p || len(parent) < len(r.dir) {
			return nil
		}
		p = parent
	}
}

// verifier passes an artifact's bytes through, checking its length and, for
// content-addressed names, its digest at the end.
type verifier struct {
	uri  string
	r    io.ReadCloser
	h    hash.Hash // nil when the name carries no digest
	want string
	size int64
	n    int64
	err  error // sticky
}

// Read implements io.Reader.
func (v *verifier) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	// Never ask for more than one byte past the recorded size, so a file
	// that grew is noticed without reading all of it.
	if rem := v.size - v.n + 1; int64(len(p)) > rem {
		p = p[:rem]
	}
	k, err := v.r.Read(p)
	v.n += int64(k)
	if v.n > v.size {
		v.err = fmt.Errorf("artifact %q: longer than its recorded %d bytes: %w", v.uri, v.size, ErrCorrupt)
		return 0, v.err
	}
	if v.h != nil {
		v.h.Write(p[:k])
	}
	switch {
	case err == io.EOF:
		v.err = v.finish()
		return k, v.err
	case err != nil:
		v.err = fmt.Errorf("artifact %q: read: %w", v.uri, err)
		return k, v.err
	}
	return k, nil
}

// finish checks length and digest at EOF; it returns io.EOF when both match.
func (v *verifier) finish() error {
	if v.n != v.size {
		return fmt.Errorf("artifact %q: %d bytes read, %d recorded: %w", v.uri, v.n, v.size, ErrCorrupt)
	}
	if v.h != nil {
		if got := hex.EncodeToString(v.h.Sum(nil)); got != v.want {
			return fmt.Errorf("artifact %q: content hashes to sha256 %s: %w", v.uri, got, ErrCorrupt)
		}
	}
	return io.EOF
}

// Close implements io.Closer.
func (v *verifier) Close() error { return v.r.Close() }
