package artifact

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func openStore(t *testing.T, root string, readRoots []string, maxBytes int64) *Store {
	t.Helper()
	s, err := Open(context.Background(), root, readRoots, maxBytes)
	if err != nil {
		t.Fatalf("Open(%q): %v", root, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func put(t *testing.T, s *Store, data []byte, ext string) string {
	t.Helper()
	uri, err := s.Put(context.Background(), bytes.NewReader(data), ext)
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	return uri
}

func sumHex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	memData := []byte("weights")
	tests := []struct {
		name     string
		root     string
		wantRoot string
		ext      string
	}{
		{"directory", dir, "file://" + dir, ".safetensors"},
		{"file URL", "file://" + filepath.Join(dir, "u"), "file://" + filepath.Join(dir, "u"), ".tar.gz"},
		{"mem", "mem://", "mem://", ".json"},
		{"named mem", "mem://models", "mem://models", ""},
		{"mem with prefix path", "mem://b/zoo/v1", "mem://b/zoo/v1", ".bin"},
		{"mem with prefix query", "mem://b?prefix=zoo/", "mem://b/zoo", ".bin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openStore(t, tt.root, nil, 1<<20)
			if s.Root() != tt.wantRoot {
				t.Fatalf("Root() = %q, want %q", s.Root(), tt.wantRoot)
			}
			data := append(memData, tt.name...)
			h := sumHex(data)
			uri := put(t, s, data, tt.ext)
			want := tt.wantRoot + "/sha256/" + h[:2] + "/" + h + tt.ext
			if tt.wantRoot == "mem://" {
				want = "mem:///sha256/" + h[:2] + "/" + h + tt.ext
			}
			if uri != want {
				t.Fatalf("Put URI = %q, want %q", uri, want)
			}
			got, err := s.Get(ctx, uri)
			if err != nil {
				t.Fatalf("Get: %v", err)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("Get = %q, want %q", got, data)
			}
			rc, size, err := s.Open(ctx, uri)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			streamed, err := io.ReadAll(rc)
			rc.Close()
			if err != nil || size != int64(len(data)) || !bytes.Equal(streamed, data) {
				t.Fatalf("Open: size %d, %q, %v; want %d, %q", size, streamed, err, len(data), data)
			}
		})
	}
}

func TestDirectoryRootIsAbsoluteAndCreated(t *testing.T) {
	t.Chdir(t.TempDir())
	s := openStore(t, "artifacts/nested", nil, 1<<20)
	wd, _ := os.Getwd()
	want := filepath.Join(wd, "artifacts", "nested")
	if s.Root() != "file://"+want {
		t.Fatalf("Root() = %q, want file://%s", s.Root(), want)
	}
	if fi, err := os.Stat(want); err != nil || !fi.IsDir() {
		t.Fatalf("root directory not created: %v", err)
	}
	data := []byte("x")
	put(t, s, data, ".bin")
	h := sumHex(data)
	onDisk := filepath.Join(want, "sha256", h[:2], h+".bin")
	if b, err := os.ReadFile(onDisk); err != nil || !bytes.Equal(b, data) {
		t.Fatalf("stored file %s: %q, %v", onDisk, b, err)
	}
	// No metadata side files: the directory holds the artifact alone.
	entries, _ := os.ReadDir(filepath.Dir(onDisk))
	if len(entries) != 1 {
		t.Fatalf("%d entries next to the artifact, want 1: %v", len(entries), entries)
	}
	// An absolute path is accepted as well as the file:// URI.
	if got, err := s.Get(context.Background(), onDisk); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Get(%q) = %q, %v", onDisk, got, err)
	}
}

func TestPutIsIdempotent(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, nil, 1<<20)
	data := bytes.Repeat([]byte("abc"), 1000)
	uri1 := put(t, s, data, ".safetensors")
	h := sumHex(data)
	path := filepath.Join(dir, "sha256", h[:2], h+".safetensors")
	old := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
	uri2 := put(t, s, data, ".safetensors")
	if uri1 != uri2 {
		t.Fatalf("same bytes gave %q then %q", uri1, uri2)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if !fi.ModTime().Equal(old) {
		t.Fatalf("second Put rewrote the file (mtime %v)", fi.ModTime())
	}
	if uri3 := put(t, s, data, ".bin"); uri3 == uri1 || !strings.Contains(uri3, h) {
		t.Fatalf("other extension gave %q", uri3)
	}
	if uri4 := put(t, s, append(data, '!'), ".safetensors"); uri4 == uri1 {
		t.Fatal("different bytes gave the same URI")
	}
}

func TestTamperDetection(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openStore(t, dir, nil, 1<<20)
	data := bytes.Repeat([]byte("0123456789"), 100)
	h := sumHex(data)
	path := filepath.Join(dir, "sha256", h[:2], h+".bin")
	tests := []struct {
		name   string
		tamper func([]byte) []byte
	}{
		{"flipped byte", func(b []byte) []byte { b[500] ^= 1; return b }},
		{"truncated", func(b []byte) []byte { return b[:999] }},
		{"extended", func(b []byte) []byte { return append(b, 'x') }},
		{"replaced", func([]byte) []byte { return []byte("other") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			uri := put(t, s, data, ".bin")
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, tt.tamper(b), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := s.Get(ctx, uri)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Get of tampered artifact = %d bytes, %v; want ErrCorrupt", len(got), err)
			}
			if got != nil || !strings.Contains(err.Error(), uri) {
				t.Fatalf("Get returned bytes or an error not naming the URI: %v", err)
			}
			rc, _, err := s.Open(ctx, uri)
			if err != nil {
				t.Fatal(err)
			}
			_, err = io.Copy(io.Discard, rc)
			rc.Close()
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("streaming a tampered artifact: %v, want ErrCorrupt", err)
			}
			// Restore for the next case: a Put over a wrong-sized file rewrites
			// it; a same-sized one is trusted, so restore by hand.
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestPutRepairsWrongSizedFile(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir, nil, 1<<20)
	data := []byte("the right bytes")
	uri := put(t, s, data, "")
	h := sumHex(data)
	if err := os.WriteFile(filepath.Join(dir, "sha256", h[:2], h), []byte("short"), 0o644); err != nil {
		t.Fatal(err)
	}
	if uri2 := put(t, s, data, ""); uri2 != uri {
		t.Fatalf("URI changed: %q", uri2)
	}
	if got, err := s.Get(context.Background(), uri); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("after repair Get = %q, %v", got, err)
	}
}

func TestConfinement(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	dir := filepath.Join(base, "root")
	outside := filepath.Join(base, "outside")
	if err := os.MkdirAll(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	secret := []byte("secret")
	secretPath := filepath.Join(outside, "secret.txt")
	if err := os.WriteFile(secretPath, secret, 0o644); err != nil {
		t.Fatal(err)
	}
	s := openStore(t, dir, nil, 1<<20)
	data := []byte("model")
	uri := put(t, s, data, ".bin")
	h := sumHex(data)

	// A symlinked file and a symlinked directory inside the root, both
	// leading outside it.
	if err := os.Symlink(secretPath, filepath.Join(dir, "link.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "linkdir")); err != nil {
		t.Fatal(err)
	}
	// A symlink that stays inside the root is fine.
	if err := os.Symlink(filepath.Join(dir, "sha256", h[:2], h+".bin"), filepath.Join(dir, "alias.bin")); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		uri     string
		want    error
		message string
	}{
		{"dot dot", "file://" + dir + "/../outside/secret.txt", ErrOutsideRoot, "path escapes root"},
		{"dot dot inside hash path", "file://" + dir + "/sha256/../../outside/secret.txt", ErrOutsideRoot, "path escapes root"},
		{"escaped dot dot", "file://" + dir + "/%2e%2e/outside/secret.txt", ErrOutsideRoot, "path escapes root"},
		{"dot dot path", dir + "/../outside/secret.txt", ErrOutsideRoot, "path escapes root"},
		{"other directory", "file://" + secretPath, ErrOutsideRoot, "not under"},
		{"prefix sibling", "file://" + dir + "x/secret.txt", ErrOutsideRoot, "not under"},
		{"root itself", "file://" + dir, ErrOutsideRoot, "not under"},
		{"symlinked file", "file://" + dir + "/link.txt", ErrOutsideRoot, "symlink"},
		{"symlinked directory", "file://" + dir + "/linkdir/secret.txt", ErrOutsideRoot, "symlink"},
		{"other scheme", "s3://bucket/sha256/" + h[:2] + "/" + h + ".bin", ErrOutsideRoot, "not under"},
		{"http", "http://example.invalid/x", ErrOutsideRoot, "not under"},
		{"file host", "file://otherhost" + dir + "/sha256/x", ErrInvalidURI, "host"},
		{"query", uri + "?x=1", ErrInvalidURI, "query"},
		{"fragment", uri + "#f", ErrInvalidURI, "fragment"},
		{"relative", "sha256/ab/cd", ErrInvalidURI, "no scheme"},
		{"double slash", "file://" + dir + "//sha256/x", ErrInvalidURI, "not clean"},
		{"hidden", "file://" + dir + "/.hidden", ErrInvalidURI, "hidden"},
		{"attrs", "file://" + dir + "/x.attrs", ErrInvalidURI, "metadata"},
		{"bad hash layout", "file://" + dir + "/sha256/zz/" + h + ".bin", ErrInvalidURI, "sha256/<hex[:2]>"},
		{"wrong hash dir", "file://" + dir + "/sha256/00/" + h + ".bin", ErrInvalidURI, "does not match"},
		{"missing", "file://" + dir + "/sha256/00/00" + h[2:] + ".bin", ErrNotFound, "not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Get(ctx, tt.uri)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Get(%q) = %q, %v; want %v", tt.uri, got, err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.message) || !strings.Contains(err.Error(), "artifact ") {
				t.Fatalf("error %q does not say %q", err, tt.message)
			}
			if bytes.Contains(got, secret) {
				t.Fatal("secret leaked")
			}
			if _, _, err := s.Open(ctx, tt.uri); !errors.Is(err, tt.want) {
				t.Fatalf("Open(%q): %v, want %v", tt.uri, err, tt.want)
			}
		})
	}
	if got, err := s.Get(ctx, "file://"+dir+"/alias.bin"); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("symlink inside the root: %q, %v", got, err)
	}
	if _, err := s.Get(ctx, uri); err != nil {
		t.Fatalf("the genuine URI: %v", err)
	}
}

func TestPutRefusesSymlinkedHashDirectory(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "root")
	outside := filepath.Join(base, "outside")
	for _, d := range []string{dir, outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(outside, filepath.Join(dir, "sha256")); err != nil {
		t.Fatal(err)
	}
	s := openStore(t, dir, nil, 1<<20)
	_, err := s.Put(context.Background(), strings.NewReader("x"), "")
	if !errors.Is(err, ErrOutsideRoot) {
		t.Fatalf("Put through a symlink leaving the root: %v, want ErrOutsideRoot", err)
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Fatalf("Put wrote outside the root: %v", entries)
	}
}

func TestMemBuckets(t *testing.T) {
	ctx := context.Background()
	a := openStore(t, "mem://a", nil, 1<<20)
	uri := put(t, a, []byte("in a"), ".bin")
	tests := []struct {
		name string
		uri  string
		want error
	}{
		{"other bucket", strings.Replace(uri, "mem://a/", "mem://b/", 1), ErrOutsideRoot},
		{"no bucket", strings.Replace(uri, "mem://a/", "mem:///", 1), ErrOutsideRoot},
		{"file scheme", strings.Replace(uri, "mem://a/", "file:///", 1), ErrOutsideRoot},
		{"dot dot", "mem://a/sha256/../x", ErrOutsideRoot},
	}
	for _, tt := range tests {
		if _, err := a.Get(ctx, tt.uri); !errors.Is(err, tt.want) {
			t.Errorf("%s: Get(%q) = %v, want %v", tt.name, tt.uri, err, tt.want)
		}
	}
	p := openStore(t, "mem://b/models", nil, 1<<20)
	puri := put(t, p, []byte("x"), "")
	if !strings.HasPrefix(puri, "mem://b/models/sha256/") {
		t.Fatalf("prefixed URI %q", puri)
	}
	if _, err := p.Get(ctx, strings.Replace(puri, "/models/", "/other/", 1)); !errors.Is(err, ErrOutsideRoot) {
		t.Fatalf("other prefix in the same bucket: %v, want ErrOutsideRoot", err)
	}
}

func TestReadRoots(t *testing.T) {
	ctx := context.Background()
	zooDir := t.TempDir()
	zoo := openStore(t, zooDir, nil, 1<<20)
	zooURI := put(t, zoo, []byte("pretrained"), ".safetensors")
	// A hand-placed file with a plain name in the read root.
	if err := os.MkdirAll(filepath.Join(zooDir, "mnist"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(zooDir, "mnist", "cnn.onnx"), []byte("onnx"), 0o644); err != nil {
		t.Fatal(err)
	}

	writeDir := t.TempDir()
	s := openStore(t, writeDir, []string{"file://" + zooDir}, 1<<20)
	if got, err := s.Get(ctx, zooURI); err != nil || string(got) != "pretrained" {
		t.Fatalf("Get from read root: %q, %v", got, err)
	}
	if got, err := s.Get(ctx, "file://"+zooDir+"/mnist/cnn.onnx"); err != nil || string(got) != "onnx" {
		t.Fatalf("Get of a plain name in a read root: %q, %v", got, err)
	}
	// Put writes to the write root only, even for bytes present in a read root.
	uri := put(t, s, []byte("pretrained"), ".safetensors")
	if !strings.HasPrefix(uri, "file://"+writeDir+"/") {
		t.Fatalf("Put wrote to %q, want the write root", uri)
	}
	if _, err := Open(ctx, writeDir, []string{filepath.Join(zooDir, "missing")}, 1<<20); err == nil {
		t.Fatal("Open with a missing read root succeeded")
	}
}

func TestSizeLimit(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openStore(t, dir, nil, 100)
	if _, err := s.Put(ctx, bytes.NewReader(make([]byte, 101)), ".bin"); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Put of 101 bytes with limit 100: %v, want ErrTooLarge", err)
	}
	put(t, s, make([]byte, 100), ".bin") // exactly the limit is fine

	big := openStore(t, dir, nil, 1000)
	bigURI := put(t, big, make([]byte, 500), ".bin")
	if _, err := s.Get(ctx, bigURI); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), bigURI) {
		t.Fatalf("Get of 500 bytes with limit 100: %v, want ErrTooLarge naming the URI", err)
	}
	// A 64 GiB sparse file is refused from its recorded size, before any
	// byte is read.
	huge := filepath.Join(dir, "huge.bin")
	f, err := os.Create(huge)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(64 << 30); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := s.Get(ctx, huge); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Get of a 64 GiB file: %v, want ErrTooLarge", err)
	}
}

func TestBadExtension(t *testing.T) {
	s := openStore(t, "mem://", nil, 1<<20)
	for _, ext := range []string{"bin", "./x", ".a/b", ".a.b.c.d", ". ", "..", ".attrs/x"} {
		if _, err := s.Put(context.Background(), strings.NewReader("x"), ext); !errors.Is(err, ErrInvalidURI) {
			t.Errorf("Put with extension %q: %v, want ErrInvalidURI", ext, err)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		root     string
		maxBytes int64
	}{
		{"", 1},
		{"mem://", 0},
		{"file://host/x", 1},
		{"file://" + file + "?x=1", 1},
		{"file://" + file + "/sub", 1}, // under a regular file
		{"nosuchscheme://x", 1},
		{"mem://b/x?prefix=y", 1},
		{"mem://b/../x", 1},
	}
	for _, tt := range tests {
		if s, err := Open(ctx, tt.root, nil, tt.maxBytes); err == nil {
			s.Close()
			t.Errorf("Open(%q, %d) succeeded", tt.root, tt.maxBytes)
		}
	}
}

func FuzzParseURI(f *testing.F) {
	dir := f.TempDir()
	s, err := Open(context.Background(), dir, []string{"mem://zoo/models"}, 1<<20)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	for _, seed := range []string{
		"file://" + dir + "/sha256/ab/" + strings.Repeat("ab", 32) + ".bin",
		"file://" + dir + "/../x", "file://" + dir + "/%2e%2e/x", dir + "/a/b",
		"mem://zoo/models/a", "mem://zoo/a", "s3://b/k?x", "file:x", "://", "file://localhost/a",
		"mem://zoo/models/sha256/zz/x", "file://" + dir + "/a//b", "file://" + dir + "/./a",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		loc, err := parseURI(uri)
		if err == nil {
			for seg := range strings.SplitSeq(loc.path, "/") {
				if seg == ".." {
					t.Fatalf("parseURI(%q) accepted a .. segment: %+v", uri, loc)
				}
			}
		}
		r, key, err := s.locate(uri)
		if err != nil {
			if !errors.Is(err, ErrOutsideRoot) && !errors.Is(err, ErrInvalidURI) {
				t.Fatalf("locate(%q) error %v matches no sentinel", uri, err)
			}
			return
		}
		if err := checkKey(key); err != nil {
			t.Fatalf("locate(%q) gave bad key %q: %v", uri, key, err)
		}
		if r.scheme == "file" {
			full := filepath.Join(r.dir, key)
			if !strings.HasPrefix(full, r.dir+string(filepath.Separator)) {
				t.Fatalf("locate(%q) resolves to %q outside %q", uri, full, r.dir)
			}
		} else if r.host != "zoo" || r.prefix != "models/" {
			t.Fatalf("locate(%q) picked root %+v", uri, r)
		}
		if _, err := digestOf(key); err != nil {
			return
		}
		if got := uriFor(r.base, key); !strings.HasPrefix(got, r.base) {
			t.Fatalf("uriFor(%q, %q) = %q", r.base, key, got)
		}
	})
}
