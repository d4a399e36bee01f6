package artifact

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestNamed(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir(), nil, 16)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.GetNamed(ctx, "results/a.json"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetNamed of a missing key: %v, want ErrNotFound", err)
	}
	for _, v := range []string{"one", "two"} {
		if _, err := s.PutNamed(ctx, "results/a.json", []byte(v)); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetNamed(ctx, "results/a.json")
		if err != nil || string(got) != v {
			t.Fatalf("GetNamed = %q, %v; want %q", got, err, v)
		}
	}
	if err := s.DeleteNamed(ctx, "results/a.json"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteNamed(ctx, "results/a.json"); err != nil {
		t.Fatalf("second delete: %v", err)
	}
	if _, err := s.GetNamed(ctx, "results/a.json"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetNamed after delete: %v, want ErrNotFound", err)
	}
	for _, key := range []string{"sha256/ab/x", "../x", "a//b", ".hidden"} {
		if _, err := s.PutNamed(ctx, key, nil); !errors.Is(err, ErrInvalidURI) {
			t.Errorf("PutNamed(%q): %v, want ErrInvalidURI", key, err)
		}
	}
	if _, err := s.PutNamed(ctx, "big", make([]byte, 17)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("PutNamed over the limit: %v, want ErrTooLarge", err)
	}
}

func TestNamedDir(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir(), nil, 16)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if keys, err := s.ListNamed(ctx, "checkpoints/s1"); err != nil || len(keys) != 0 {
		t.Fatalf("ListNamed of a missing dir = %q, %v", keys, err)
	}
	for _, k := range []string{"checkpoints/s1/t2/epoch-1", "checkpoints/s1/t1/epoch-2", "checkpoints/s10/t1/epoch-1", "checkpoints/s1x"} {
		if _, err := s.PutNamed(ctx, k, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	keys, err := s.ListNamed(ctx, "checkpoints/s1")
	if want := []string{"checkpoints/s1/t1/epoch-2", "checkpoints/s1/t2/epoch-1"}; err != nil || !slices.Equal(keys, want) {
		t.Fatalf("ListNamed = %q, %v; want %q", keys, err, want)
	}
	if err := s.DeleteNamedDir(ctx, "checkpoints/s1"); err != nil {
		t.Fatal(err)
	}
	if keys, err := s.ListNamed(ctx, "checkpoints"); err != nil || !slices.Equal(keys, []string{"checkpoints/s10/t1/epoch-1", "checkpoints/s1x"}) {
		t.Fatalf("after DeleteNamedDir: %q, %v", keys, err)
	}
	// The directory root keeps no empty folders of what it deleted.
	root := strings.TrimPrefix(s.Root(), "file://")
	if _, err := os.Stat(filepath.Join(root, "checkpoints", "s1")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("checkpoints/s1 still on disk: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "checkpoints", "s10", "t1")); err != nil {
		t.Errorf("checkpoints/s10/t1 gone: %v", err)
	}
	if _, err := s.ListNamed(ctx, "../x"); !errors.Is(err, ErrInvalidURI) {
		t.Fatalf("ListNamed(../x): %v, want ErrInvalidURI", err)
	}
}

// TestListNamedWhileDeleting lists a directory of named objects while
// another goroutine deletes them, as a sweep's pages list trial
// checkpoints while workers drop old ones: a key that vanishes mid-listing
// must not fail the listing, and every listing holds only keys that exist
// or existed during it.
func TestListNamedWhileDeleting(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir(), nil, 16)
	if err != nil {
		t.Fatal(err)
	}
	for round := range 20 {
		const n = 60
		for i := range n {
			if _, err := s.PutNamed(ctx, fmt.Sprintf("ckpt/r%d/t%03d/epoch-1", round, i), []byte("x")); err != nil {
				t.Fatal(err)
			}
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i := range n {
				if err := s.DeleteNamed(ctx, fmt.Sprintf("ckpt/r%d/t%03d/epoch-1", round, i)); err != nil {
					t.Error(err)
					return
				}
			}
		}()
		for listing := true; listing; {
			select {
			case <-done:
				listing = false
			default:
			}
			keys, err := s.ListNamed(ctx, fmt.Sprintf("ckpt/r%d", round))
			if err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
			if len(keys) > n {
				t.Fatalf("round %d: %d keys listed, %d written", round, len(keys), n)
			}
		}
	}
}

// TestListNamedSkipsPartialWrites checks that a directory root's write in
// progress (the driver's "<key>.<hex>.tmp" file beside the key) is not
// listed, while keys that only look alike are.
func TestListNamedSkipsPartialWrites(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, dir, nil, 16)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"ckpt/t0/epoch-1", "ckpt/t0/notes.tmp", "ckpt/t0/a.xyz.tmp"} {
		if _, err := s.PutNamed(ctx, k, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "ckpt", "t0", "epoch-2.18edbed1d7c188d9.tmp"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	keys, err := s.ListNamed(ctx, "ckpt/t0")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"ckpt/t0/a.xyz.tmp", "ckpt/t0/epoch-1", "ckpt/t0/notes.tmp"}; !slices.Equal(keys, want) {
		t.Errorf("ListNamed = %q, want %q", keys, want)
	}
}
