package datasets

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/internal/artifact"
)

// idx encodes an unsigned-byte IDX file.
func idx(dims []int, payload []byte) []byte {
	b := []byte{0, 0, data.IDXUint8, byte(len(dims))}
	for _, d := range dims {
		b = binary.BigEndian.AppendUint32(b, uint32(d))
	}
	return append(b, payload...)
}

func gz(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writeIDXSet(t *testing.T, dir string) {
	t.Helper()
	files := map[string][]byte{
		data.TrainImagesFile + ".gz": gz(t, idx([]int{2, 2, 2}, []byte{0, 255, 0, 255, 255, 0, 255, 0})),
		data.TrainLabelsFile:         idx([]int{2}, []byte{0, 1}),
		data.TestImagesFile:          idx([]int{1, 2, 2}, []byte{0, 0, 0, 0}),
		data.TestLabelsFile:          idx([]int{1}, []byte{1}),
		".hidden":                    []byte("skipped"),
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for n, b := range files {
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestPutLoad(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	st, err := artifact.Open(ctx, root, nil, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	src := filepath.Join(t.TempDir(), "tiny")
	writeIDXSet(t, src)
	uri, err := Put(ctx, st, src)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Put(ctx, st, src)
	if err != nil || again != uri {
		t.Fatalf("second put %q, %v; want the same URI %q (deterministic zip)", again, err, uri)
	}
	s, err := Load(ctx, st, uri)
	if err != nil {
		t.Fatal(err)
	}
	if s.Layout != data.LayoutIDX || s.Train.N != 2 || s.Test.N != 1 || s.Train.Classes != 2 {
		t.Fatalf("loaded %+v", s)
	}
	// A directory inside the root is a data set too.
	inRoot := filepath.Join(root, "datasets", "tiny")
	writeIDXSet(t, inRoot)
	if s, err = Load(ctx, st, "file://"+inRoot); err != nil || s.Train.N != 2 {
		t.Fatalf("directory under the root: %v", err)
	}
	// Outside the roots, missing, malformed: permanent errors.
	outside := filepath.Join(t.TempDir(), "x")
	writeIDXSet(t, outside)
	for _, bad := range []string{"file://" + outside, outside, "file://" + root + "/../etc", "s3://bucket/x.zip", ""} {
		_, err := Load(ctx, st, bad)
		if err == nil || !Permanent(err) {
			t.Errorf("Load(%q) = %v, want a permanent error", bad, err)
		}
	}
	if _, err := Load(ctx, st, "file://"+outside); !errors.Is(err, artifact.ErrOutsideRoot) {
		t.Errorf("outside the roots: %v, want ErrOutsideRoot", err)
	}
	junk, err := st.Put(ctx, bytes.NewReader([]byte("not a zip")), ".zip")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Load(ctx, st, junk); !errors.Is(err, data.ErrData) {
		t.Errorf("junk archive: %v, want ErrData", err)
	}
	// Put refuses what does not load.
	empty := t.TempDir()
	if _, err := Put(ctx, st, empty); !errors.Is(err, data.ErrData) {
		t.Errorf("Put(empty dir) = %v, want ErrData", err)
	}
	// LoadLocal reads local paths without the store.
	if s, err = LoadLocal(ctx, func() (*artifact.Store, error) { return nil, errors.New("store not needed") }, src); err != nil || s.Train.N != 2 {
		t.Fatalf("LoadLocal(dir): %v", err)
	}
}

// TestCheck: Check finds what Load would read — an archive in the store or
// a directory inside a file root — and refuses the rest with Load's
// sentinels, without reading the data.
func TestCheck(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	st, err := artifact.Open(ctx, root, nil, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	src := filepath.Join(t.TempDir(), "tiny")
	writeIDXSet(t, src)
	uri, err := Put(ctx, st, src)
	if err != nil {
		t.Fatal(err)
	}
	inRoot := filepath.Join(root, "datasets", "tiny")
	writeIDXSet(t, inRoot)
	for _, ok := range []string{uri, "file://" + inRoot} {
		if err := Check(ctx, st, ok); err != nil {
			t.Errorf("Check(%q) = %v, want nil", ok, err)
		}
	}
	for _, tc := range []struct {
		uri  string
		want error
	}{
		{"file://" + src, artifact.ErrOutsideRoot},
		{"file://" + root + "/datasets/none", artifact.ErrNotFound},
		{"", ErrRequired},
	} {
		if err := Check(ctx, st, tc.uri); !errors.Is(err, tc.want) {
			t.Errorf("Check(%q) = %v, want %v", tc.uri, err, tc.want)
		}
	}
}
