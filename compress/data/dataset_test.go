package data

import (
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
		{"mean 0.5 std 0.25", Normalization{Scale: 1 / (255 * 0.25), Shift: -0.5 / 0.25}, -2, 2},
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
	// Spread(4) of 10 takes samples 0, 2, 5 and 7 (i·10/4), copied.
	sp := d.Spread(4)
	if sp.Len() != 4 || !slices.Equal(sp.Labels, []int{0, 2, 5, 7}) || !slices.Equal(sp.Images[3*6:], d.Images[7*6:8*6]) {
		t.Fatalf("Spread(4) = %d samples, labels %v", sp.Len(), sp.Labels)
	}
	if sp.Images[0] = -1; d.Images[0] == -1 {
		t.Fatal("Spread shares its images with the set")
	}
	if d.Spread(0) != d || d.Spread(10) != d {
		t.Fatal("Spread with n<=0 or n>=Len must return the whole set")
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
