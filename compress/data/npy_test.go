package data

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"
)

func npyRaw(hdr string, payload []byte) []byte {
	out := []byte("\x93NUMPY\x01\x00")
	out = append(out, byte(len(hdr)), byte(len(hdr)>>8))
	return append(append(out, hdr...), payload...)
}

func TestReadNPY(t *testing.T) {
	// npyio writes these; ReadNPY must agree.
	a, err := ReadNPY(bytes.NewReader(npyBytes(t, []float32{1.5, -2})), "f", 0)
	if err != nil || !slices.Equal(a.F32, []float32{1.5, -2}) || !slices.Equal(a.Shape, []int{2}) {
		t.Fatalf("float32: %+v, %v", a, err)
	}
	a, err = ReadNPY(bytes.NewReader(npyBytes(t, []int32{-3, 7})), "i", 0)
	if err != nil || !slices.Equal(a.Int, []int64{-3, 7}) {
		t.Fatalf("int32: %+v, %v", a, err)
	}
	// Fortran order [2, 3]: column-major 1 4 2 5 3 6 is row-major 1..6.
	a, err = ReadNPY(bytes.NewReader(npyRaw("{'descr': '|u1', 'fortran_order': True, 'shape': (2, 3), }\n", []byte{1, 4, 2, 5, 3, 6})), "fortran", 0)
	if err != nil || !slices.Equal(a.U8, []byte{1, 2, 3, 4, 5, 6}) {
		t.Fatalf("fortran: %+v, %v", a, err)
	}
	// Big-endian int16.
	a, err = ReadNPY(bytes.NewReader(npyRaw("{'descr': '>i2', 'fortran_order': False, 'shape': (1,), }\n", []byte{0xff, 0xfe})), "be", 0)
	if err != nil || a.Int[0] != -2 {
		t.Fatalf("big-endian: %+v, %v", a, err)
	}
	bad := map[string][]byte{
		"truncated":   npyRaw("{'descr': '|u1', 'fortran_order': False, 'shape': (3,), }\n", []byte{1, 2}),
		"trailing":    npyRaw("{'descr': '|u1', 'fortran_order': False, 'shape': (1,), }\n", []byte{1, 2}),
		"huge":        npyRaw("{'descr': '|u1', 'fortran_order': False, 'shape': (100000000000,), }\n", nil),
		"overflow":    npyRaw("{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296), }\n", nil),
		"no shape":    npyRaw("{'descr': '|u1', 'fortran_order': False}\n", nil),
		"object":      npyRaw("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }\n", []byte{1}),
		"negative":    npyRaw("{'descr': '|u1', 'fortran_order': False, 'shape': (-1,), }\n", nil),
		"version 9":   []byte("\x93NUMPY\x09\x00\x00\x00"),
		"not a dict":  npyRaw("'descr': '|u1', 'fortran_order': False, 'shape': (1,)\n", []byte{1}),
		"empty input": nil,
	}
	for name, in := range bad {
		if _, err := ReadNPY(bytes.NewReader(in), name, 1<<20); !errors.Is(err, ErrNPY) {
			t.Errorf("%s: err = %v, want ErrNPY", name, err)
		}
	}
}

func FuzzReadNPY(f *testing.F) {
	f.Add(npyBytes(f, []float32{1, 2, 3}))
	f.Add(npyBytes(f, []int64{1, 2}))
	f.Add(npyRaw("{'descr': '|u1', 'fortran_order': True, 'shape': (2, 3), }\n", []byte{1, 4, 2, 5, 3, 6}))
	f.Add(npyRaw("{'descr': '<f8', 'fortran_order': False, 'shape': (1, 1, 1), }\n", make([]byte, 8)))
	f.Fuzz(func(t *testing.T, in []byte) {
		const limit = 1 << 16
		a, err := ReadNPY(bytes.NewReader(in), "fuzz", limit)
		if err != nil {
			if !errors.Is(err, ErrNPY) {
				t.Fatalf("error %v does not wrap ErrNPY", err)
			}
			return
		}
		n := 1
		for _, d := range a.Shape {
			n *= d
		}
		if n != a.Len() || n > limit {
			t.Fatalf("shape %v but %d elements", a.Shape, a.Len())
		}
	})
}

// FuzzLoadArchive feeds zip/.npz archives to the whole loader: nothing may
// panic, and every failure is an ErrData error.
func FuzzLoadArchive(f *testing.F) {
	good := addZipEntries(f, emptyZip(f), map[string][]byte{
		"x_train.npy": npyRaw("{'descr': '|u1', 'fortran_order': False, 'shape': (2, 1, 2), }\n", []byte{0, 1, 2, 3}),
		"y_train.npy": npyBytes(f, []int64{0, 1}),
		"x_test.npy":  npyRaw("{'descr': '|u1', 'fortran_order': False, 'shape': (1, 1, 2), }\n", []byte{4, 5}),
		"y_test.npy":  npyBytes(f, []uint8{1}),
	})
	f.Add(good)
	f.Add(emptyZip(f))
	f.Fuzz(func(t *testing.T, in []byte) {
		s, err := LoadArchive(context.Background(), in, "fuzz.npz")
		if err != nil {
			if !errors.Is(err, ErrData) {
				t.Fatalf("error %v does not wrap ErrData", err)
			}
			return
		}
		for _, d := range []*Dataset{s.Train, s.Test} {
			if len(d.Images) != d.N*d.C*d.H*d.W || len(d.Labels) != d.N {
				t.Fatalf("%s: %d values for %d×%v", d.Name, len(d.Images), d.N, d.SampleShape())
			}
			for _, l := range d.Labels {
				if l < 0 || l >= d.Classes {
					t.Fatalf("label %d, classes %d", l, d.Classes)
				}
			}
		}
	})
}

func emptyZip(t testing.TB) []byte {
	var buf bytes.Buffer
	zw := newZipWriter(&buf)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
