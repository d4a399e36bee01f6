package data

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

// encodeIDX builds an IDX byte stream of unsigned bytes with the given dims
// and payload.
func encodeIDX(dims []int, payload []byte) []byte {
	var b bytes.Buffer
	b.Write([]byte{0, 0, IDXUint8, byte(len(dims))})
	for _, d := range dims {
		binary.Write(&b, binary.BigEndian, uint32(d))
	}
	b.Write(payload)
	return b.Bytes()
}

func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func TestReadIDX(t *testing.T) {
	payload := []byte{1, 2, 3, 4, 5, 6}
	good := encodeIDX([]int{2, 3}, payload)
	tests := []struct {
		name    string
		in      []byte
		max     int64
		wantErr string // substring; empty means success
	}{
		{"raw", good, 0, ""},
		{"gzip", gzipBytes(t, good), 0, ""},
		{"empty", nil, 0, "reading magic number"},
		{"bad magic", append([]byte{1, 0}, good[2:]...), 0, "bad magic number"},
		{"float type", append([]byte{0, 0, 0x0d}, good[3:]...), 0, "data type 0x0d not supported"},
		{"zero dims", []byte{0, 0, 8, 0}, 0, "0 dimensions"},
		{"short header", good[:9], 0, "reading 2 dimension sizes"},
		{"truncated", good[:len(good)-1], 0, "truncated"},
		{"truncated gzip", gzipBytes(t, good)[:20], 0, "a"},
		{"trailing", append(append([]byte{}, good...), 9), 0, "trailing data"},
		{"over limit", good, 5, "exceed the 5-byte limit"},
		{"hostile header", encodeIDX([]int{1 << 30, 1 << 30, 1 << 30}, nil), 0, "exceed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadIDX(bytes.NewReader(tc.in), "test.idx", tc.max)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("ReadIDX: %v", err)
				}
				if len(got.Dims) != 2 || got.Dims[0] != 2 || got.Dims[1] != 3 || !bytes.Equal(got.Data, payload) {
					t.Fatalf("got dims %v data %v", got.Dims, got.Data)
				}
				return
			}
			if err == nil {
				t.Fatalf("ReadIDX succeeded, want error containing %q", tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "test.idx") {
				t.Fatalf("error %q does not name the file and contain %q", err, tc.wantErr)
			}
			if !errors.Is(err, ErrIDX) {
				t.Fatalf("error %v does not wrap ErrIDX", err)
			}
		})
	}
}

func FuzzReadIDX(f *testing.F) {
	f.Add(encodeIDX([]int{2, 3}, []byte{1, 2, 3, 4, 5, 6}))
	f.Add(encodeIDX([]int{1, 2, 2}, []byte{1, 2, 3, 4}))
	f.Add(gzipBytes(f, encodeIDX([]int{4}, []byte{1, 2, 3, 4})))
	f.Add(encodeIDX([]int{1 << 20, 1 << 20}, nil))
	f.Add([]byte{0x1f, 0x8b, 0, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		const limit = 1 << 16
		got, err := ReadIDX(bytes.NewReader(in), "fuzz", limit)
		if err != nil {
			return
		}
		n := 1
		for _, d := range got.Dims {
			n *= d
		}
		if n != len(got.Data) || n > limit {
			t.Fatalf("dims %v but %d data bytes", got.Dims, len(got.Data))
		}
	})
}
