package mnist

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/compressq/compressq/compress/data"
)

// npyFile encodes a C-order array with a version 1.0 header.
func npyFile(shape []int, dtype string, payload []byte) []byte {
	dims := ""
	for _, d := range shape {
		dims += strconv.Itoa(d) + ", "
	}
	hdr := "{'descr': '" + dtype + "', 'fortran_order': False, 'shape': (" + dims + "), }"
	for (10+len(hdr)+1)%64 != 0 {
		hdr += " "
	}
	hdr += "\n"
	out := append([]byte("\x93NUMPY\x01\x00"), byte(len(hdr)), byte(len(hdr)>>8))
	return append(append(out, hdr...), payload...)
}

// BenchmarkLoad measures how long compress/data takes to load MNIST's
// 70,000 images in each layout it reads, converted from the IDX files
// once per layout: go test -run '^$' -bench Load -benchtime 3x ./internal/mnist
func BenchmarkLoad(b *testing.B) {
	ctx := context.Background()
	dir, err := Dir(ctx)
	if err != nil {
		b.Fatal(err)
	}
	raw, err := Verify(dir)
	if err != nil {
		b.Fatal(err)
	}
	var idx [4]*data.IDX
	for i, r := range raw {
		if idx[i], err = data.ReadIDX(bytes.NewReader(r), "mnist", 0); err != nil {
			b.Fatal(err)
		}
	}
	root := b.TempDir()
	write := func(p string, content []byte) {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, content, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	f32 := func(u8 []byte) []byte {
		out := make([]byte, 4*len(u8))
		for i, v := range u8 {
			binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(float32(v)/255))
		}
		return out
	}
	names := [4]string{"x_train", "y_train", "x_test", "y_test"}
	var zbuf bytes.Buffer
	zw := zip.NewWriter(&zbuf)
	for i, m := range idx {
		a := npyFile(m.Dims, "|u1", m.Data)
		write(filepath.Join(root, "npy", names[i]+".npy"), a)
		w, err := zw.Create(names[i] + ".npy")
		if err != nil {
			b.Fatal(err)
		}
		w.Write(a)
		if i%2 == 0 {
			write(filepath.Join(root, "npy-f32-nhwc", names[i]+".npy"), npyFile(append(m.Dims, 1), "<f4", f32(m.Data)))
		} else {
			write(filepath.Join(root, "npy-f32-nhwc", names[i]+".npy"), a)
		}
	}
	if err := zw.Close(); err != nil {
		b.Fatal(err)
	}
	write(filepath.Join(root, "mnist.npz"), zbuf.Bytes())
	for s, split := range []string{"train", "test"} {
		img, lab := idx[2*s], idx[2*s+1]
		for i, l := range lab.Data {
			g := image.NewGray(image.Rect(0, 0, 28, 28))
			copy(g.Pix, img.Data[i*784:(i+1)*784])
			var buf bytes.Buffer
			if err := png.Encode(&buf, g); err != nil {
				b.Fatal(err)
			}
			write(filepath.Join(root, "png", split, strconv.Itoa(int(l)), fmt.Sprintf("%05d.png", i)), buf.Bytes())
		}
	}
	for _, c := range []struct{ name, path string }{
		{"idx-gz", dir}, {"npy-u8", filepath.Join(root, "npy")}, {"npz", filepath.Join(root, "mnist.npz")},
		{"npy-f32-nhwc", filepath.Join(root, "npy-f32-nhwc")}, {"png-folders", filepath.Join(root, "png")},
	} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				s, err := data.LoadDir(ctx, c.path)
				if err != nil {
					b.Fatal(err)
				}
				if s.Train.N+s.Test.N != 70000 {
					b.Fatalf("%d images", s.Train.N+s.Test.N)
				}
			}
			b.ReportMetric(float64(70000*b.N)/b.Elapsed().Seconds(), "images/s")
		})
	}
}
