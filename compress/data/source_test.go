package data

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"codeberg.org/sbinet/npyio"
	"codeberg.org/sbinet/npyio/npz"
)

// writeFiles writes name → content under dir.
func writeFiles(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	for name, b := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// npyBytes encodes v with npyio, an encoder independent of ReadNPY.
func npyBytes(t testing.TB, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := npyio.Write(&buf, v); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func idxFiles(t *testing.T) map[string][]byte {
	return map[string][]byte{
		TrainImagesFile + ".gz": gzipBytes(t, encodeIDX([]int{3, 2, 2}, []byte{0, 0, 0, 0, 255, 255, 255, 255, 0, 255, 0, 255})),
		TrainLabelsFile:         encodeIDX([]int{3}, []byte{1, 2, 3}),
		TestImagesFile:          encodeIDX([]int{1, 2, 2}, []byte{0, 255, 0, 255}),
		TestLabelsFile + ".gz":  gzipBytes(t, encodeIDX([]int{1}, []byte{2})),
	}
}

func TestLoadIDXDir(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, idxFiles(t))
	s, err := LoadDir(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if s.Layout != LayoutIDX || s.Train.Len() != 3 || s.Test.Len() != 1 || s.Train.Classes != 4 || s.Test.Images[1] != 1 {
		t.Fatalf("layout %s train %d test %d classes %d images %v", s.Layout, s.Train.Len(), s.Test.Len(), s.Train.Classes, s.Test.Images)
	}
	// A classes.txt fixes the class count, and labels beyond it are errors.
	writeFiles(t, dir, map[string][]byte{ClassesFile: []byte("a\nb\nc\n")})
	_, err = LoadDir(context.Background(), dir)
	if !errors.Is(err, ErrData) || !strings.Contains(err.Error(), TrainLabelsFile) || !strings.Contains(err.Error(), "label 3 of sample 2 is out of range [0, 3)") {
		t.Fatalf("label out of range: err = %v", err)
	}
	if err := os.Remove(filepath.Join(dir, TestLabelsFile+".gz")); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadDir(context.Background(), dir); !errors.Is(err, ErrData) || !strings.Contains(err.Error(), TestLabelsFile) {
		t.Fatalf("missing file: err = %v", err)
	}
}

func TestLoadNPYLayouts(t *testing.T) {
	// Two 5x6 RGB images, NHWC uint8, and the same as NCHW float32.
	const H, W = 5, 6
	nhwc := make([]uint8, 2*H*W*3)
	for i := range nhwc {
		nhwc[i] = uint8(i * 7)
	}
	arrays := func(x any) map[string]any {
		return map[string]any{
			TrainImagesArray: x, TrainLabelsArray: []int64{0, 1},
			TestImagesArray: x, TestLabelsArray: []int64{1, 0},
		}
	}
	check := func(t *testing.T, s *Splits, layout Layout) {
		t.Helper()
		if s.Layout != layout || s.Train.N != 2 || s.Train.C != 3 || s.Train.H != H || s.Train.W != W || s.Train.Classes != 2 {
			t.Fatalf("layout %s shape %d×%v classes %d", s.Layout, s.Train.N, s.Train.SampleShape(), s.Train.Classes)
		}
		// Channel 1 of pixel (row 1, col 2) of image 1 in NHWC order.
		want := float32(nhwc[((1*H+1)*W+2)*3+1]) / 255
		if got := s.Train.Images[((1*3+1)*H+1)*W+2]; math.Abs(float64(got-want)) > 1e-6 {
			t.Fatalf("pixel = %v, want %v", got, want)
		}
	}
	// .npy files: labels written by npyio, images (which npyio cannot shape)
	// by npyShaped.
	dir := t.TempDir()
	files := map[string][]byte{}
	for name, v := range arrays(nil) {
		if v != nil {
			files[name+".npy"] = npyBytes(t, v)
		}
	}
	files[TrainImagesArray+".npy"] = npyShaped(t, nhwc, []int{2, H, W, 3}, "|u1")
	files[TestImagesArray+".npy"] = npyShaped(t, nhwc, []int{2, H, W, 3}, "|u1")
	writeFiles(t, dir, files)
	s, err := LoadDir(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	check(t, s, LayoutNPY)

	// The same arrays in an .npz written by npyio's npz writer.
	var zbuf bytes.Buffer
	zw := npz.NewWriter(&zbuf)
	for _, n := range []string{TrainLabelsArray, TestLabelsArray} {
		if err := zw.Write(n+".npy", arrays(nil)[n]); err != nil { // NumPy's savez names entries <array>.npy
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	// npyio's writer cannot shape a flat slice; add the image arrays by hand.
	b := addZipEntries(t, zbuf.Bytes(), map[string][]byte{
		TrainImagesArray + ".npy": npyShaped(t, nhwc, []int{2, H, W, 3}, "|u1"),
		TestImagesArray + ".npy":  npyShaped(t, nhwc, []int{2, H, W, 3}, "|u1"),
	})
	s, err = LoadArchive(context.Background(), b, "set.npz")
	if err != nil {
		t.Fatal(err)
	}
	check(t, s, LayoutNPZ)
	npzDir := t.TempDir()
	writeFiles(t, npzDir, map[string][]byte{"mnist.npz": b})
	if s, err = LoadDir(context.Background(), npzDir); err != nil {
		t.Fatal(err)
	}
	check(t, s, LayoutNPZ)

	// NCHW float32.
	nchw := make([]float32, len(nhwc))
	for n := 0; n < 2; n++ {
		for h := 0; h < H; h++ {
			for w := 0; w < W; w++ {
				for c := 0; c < 3; c++ {
					nchw[((n*3+c)*H+h)*W+w] = float32(nhwc[((n*H+h)*W+w)*3+c]) / 255
				}
			}
		}
	}
	fdir := t.TempDir()
	files[TrainImagesArray+".npy"] = npyShaped(t, nchw, []int{2, 3, H, W}, "<f4")
	files[TestImagesArray+".npy"] = npyShaped(t, nchw, []int{2, 3, H, W}, "<f4")
	writeFiles(t, fdir, files)
	if s, err = LoadDir(context.Background(), fdir); err != nil {
		t.Fatal(err)
	}
	check(t, s, LayoutNPY)
}

// npyShaped encodes a flat slice as an array of the given shape (npyio
// writes only 1-D slices and gonum matrices).
func npyShaped(t testing.TB, v any, shape []int, dtype string) []byte {
	t.Helper()
	var payload bytes.Buffer
	switch v := v.(type) {
	case []uint8:
		payload.Write(v)
	case []float32:
		for _, f := range v {
			u := math.Float32bits(f)
			payload.Write([]byte{byte(u), byte(u >> 8), byte(u >> 16), byte(u >> 24)})
		}
	default:
		t.Fatalf("npyShaped: %T", v)
	}
	dims := make([]string, len(shape))
	for i, d := range shape {
		dims[i] = strconv.Itoa(d)
	}
	hdr := "{'descr': '" + dtype + "', 'fortran_order': False, 'shape': (" + strings.Join(dims, ", ") + ",), }"
	for (10+len(hdr)+1)%64 != 0 {
		hdr += " "
	}
	hdr += "\n"
	out := []byte("\x93NUMPY\x01\x00")
	out = append(out, byte(len(hdr)), byte(len(hdr)>>8))
	out = append(out, hdr...)
	return append(out, payload.Bytes()...)
}

// addZipEntries returns the zip archive b with more entries.
func addZipEntries(t testing.TB, b []byte, add map[string][]byte) []byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	zw := zip.NewWriter(&out)
	for _, f := range zr.File {
		if err := zw.Copy(f); err != nil {
			t.Fatal(err)
		}
	}
	names := make([]string, 0, len(add))
	for n := range add {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		w, err := zw.Create(n)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(add[n])
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func pngBytes(t testing.TB, w, h int, gray bool, v uint8) []byte {
	t.Helper()
	var img image.Image
	if gray {
		g := image.NewGray(image.Rect(0, 0, w, h))
		for i := range g.Pix {
			g.Pix[i] = v
		}
		img = g
	} else {
		c := image.NewNRGBA(image.Rect(0, 0, w, h))
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				c.SetNRGBA(x, y, color.NRGBA{R: v, G: 255 - v, B: 0, A: 255})
			}
		}
		img = c
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestLoadFolders(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string][]byte{
		"train/cat/1.png": pngBytes(t, 4, 3, true, 255),
		"train/cat/2.png": pngBytes(t, 4, 3, true, 0),
		"train/dog/1.png": pngBytes(t, 4, 3, true, 51),
		"test/dog/1.png":  pngBytes(t, 4, 3, true, 102),
	})
	s, err := LoadDir(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if s.Layout != LayoutFolders || s.Train.N != 3 || s.Test.N != 1 || s.Train.C != 1 || s.Train.H != 3 || s.Train.W != 4 ||
		!slices.Equal(s.Train.ClassNames, []string{"cat", "dog"}) || !slices.Equal(s.Train.Labels, []int{0, 0, 1}) || s.Test.Labels[0] != 1 {
		t.Fatalf("got %+v", s.Train)
	}
	if s.Test.Images[0] != 0.4 {
		t.Fatalf("test pixel %v, want 0.4", s.Test.Images[0])
	}
	// Colour images give three channels.
	writeFiles(t, dir, map[string][]byte{"train/dog/2.png": pngBytes(t, 4, 3, false, 51)})
	if s, err = LoadDir(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	if s.Train.C != 3 || math.Abs(float64(s.Train.Images[3*36+12])-0.8) > 1e-6 {
		t.Fatalf("C = %d, green of the colour image %v", s.Train.C, s.Train.Images[3*36+12])
	}
}

func TestLoadBadInput(t *testing.T) {
	good := map[string][]byte{
		"train/a/1.png": pngBytes(t, 2, 2, true, 1),
		"train/b/1.png": pngBytes(t, 2, 2, true, 2),
		"test/a/1.png":  pngBytes(t, 2, 2, true, 3),
	}
	with := func(m map[string][]byte, k string, v []byte) map[string][]byte {
		out := map[string][]byte{}
		for a, b := range m {
			out[a] = b
		}
		out[k] = v
		return out
	}
	npyGood := map[string][]byte{
		"x_train.npy": npyShaped(t, make([]uint8, 8), []int{2, 2, 2}, "|u1"),
		"y_train.npy": npyBytes(t, []int64{0, 1}),
		"x_test.npy":  npyShaped(t, make([]uint8, 4), []int{1, 2, 2}, "|u1"),
		"y_test.npy":  npyBytes(t, []int64{1}),
	}
	without := func(m map[string][]byte, k string) map[string][]byte {
		out := map[string][]byte{}
		for a, b := range m {
			if a != k {
				out[a] = b
			}
		}
		return out
	}
	tests := []struct {
		name  string
		files map[string][]byte
		want  []string // substrings of the error
	}{
		{"mixed sizes", with(good, "train/b/2.png", pngBytes(t, 3, 2, true, 0)), []string{"train/b/2.png", "size 3x2 differs from 2x2"}},
		{"empty class", with(good, "train/c/.keep", nil), []string{"train/c", "empty class folder"}},
		{"corrupt png", with(good, "train/a/2.png", []byte("\x89PNG\r\n\x1a\nnot really")), []string{"train/a/2.png"}},
		{"truncated png", with(good, "train/a/2.png", pngBytes(t, 2, 2, true, 1)[:40]), []string{"train/a/2.png"}},
		{"unknown test class", with(good, "test/z/1.png", pngBytes(t, 2, 2, true, 0)), []string{"test/z", `class "z" is not among`}},
		{"not an image", with(good, "train/a/x.txt", []byte("hi")), []string{"train/a/x.txt", "not a .png"}},
		{"nothing", map[string][]byte{"README": []byte("x")}, []string{"no data set found"}},
		{"npy array missing", without(npyGood, "y_test.npy"), []string{"array y_test is missing"}},
		{"npy negative label", with(npyGood, "y_train.npy", npyBytes(t, []int64{0, -1})), []string{"y_train.npy", "label -1 of sample 1"}},
		{"npy test label beyond train", with(npyGood, "y_test.npy", npyBytes(t, []int64{5})), []string{"y_test.npy", "label 5 of sample 0 is out of range [0, 2)"}},
		{"npy label count", with(npyGood, "y_train.npy", npyBytes(t, []int64{0})), []string{"y_train.npy", "want [2]"}},
		{"npy float labels", with(npyGood, "y_train.npy", npyBytes(t, []float32{0, 1})), []string{"y_train.npy", "want an integer type"}},
		{"npy int images", with(npyGood, "x_train.npy", npyBytes(t, []int64{0, 1})), []string{"x_train.npy", "want [N H W]"}},
		{"npy bad file", with(npyGood, "x_test.npy", []byte("garbage, not numpy")), []string{"x_test.npy", "not a .npy file"}},
		{"two npz", map[string][]byte{"a.npz": nil, "b.npz": nil}, []string{"2 .npz files"}},
		{"npz not zip", map[string][]byte{"a.npz": []byte("nope")}, []string{"a.npz", "not an .npz archive"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, tc.files)
			_, err := LoadDir(context.Background(), dir)
			if !errors.Is(err, ErrData) {
				t.Fatalf("err = %v, want ErrData", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("err = %v, want it to contain %q", err, w)
				}
			}
		})
	}
}

func TestLoadArchiveOfDirectory(t *testing.T) {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, b := range idxFiles(t) {
		w, err := zw.Create("fashion/" + name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(b)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := LoadArchive(context.Background(), buf.Bytes(), "fashion.zip")
	if err != nil {
		t.Fatal(err)
	}
	if s.Layout != LayoutIDX || s.Train.N != 3 {
		t.Fatalf("layout %s N %d", s.Layout, s.Train.N)
	}
	if _, err := LoadArchive(context.Background(), []byte("not a zip"), "x.zip"); !errors.Is(err, ErrData) {
		t.Fatalf("not a zip: %v", err)
	}
}

func newZipWriter(w *bytes.Buffer) *zip.Writer { return zip.NewWriter(w) }
