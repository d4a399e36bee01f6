package data

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// DefaultMaxIDXBytes is the largest IDX payload ReadIDX accepts when the
// caller passes no limit: 256 MiB, five times the MNIST training images.
const DefaultMaxIDXBytes = 256 << 20

// IDX type codes (the third byte of the magic number).
const (
	// IDXUint8 marks unsigned byte data, the type of every MNIST-like file.
	IDXUint8 = 0x08
)

// maxIDXDims bounds the number of dimensions in a header.
const maxIDXDims = 8

// ErrIDX is wrapped by every error ReadIDX returns for malformed input.
var ErrIDX = errors.New("malformed IDX data")

// IDX is one decoded IDX file of unsigned bytes.
type IDX struct {
	// Dims are the sizes from the header, outermost first (e.g. [60000 28 28]).
	Dims []int
	// Data holds the values in row-major order; len(Data) is the product of Dims.
	Data []byte
}

// ReadIDX decodes an IDX stream of unsigned bytes (type 0x08). A gzip stream
// is detected by its magic bytes and decompressed. name identifies the source
// in error messages. maxBytes bounds the payload size the header may declare
// (0 means DefaultMaxIDXBytes), so a hostile header cannot make ReadIDX
// allocate more than that. Truncated data, trailing bytes, a wrong magic
// number, an unsupported type or an oversized header are errors wrapping
// ErrIDX.
func ReadIDX(r io.Reader, name string, maxBytes int64) (*IDX, error) {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxIDXBytes
	}
	br := bufio.NewReader(r)
	if head, err := br.Peek(2); err == nil && head[0] == 0x1f && head[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%s: gzip header: %w: %v", name, ErrIDX, err)
		}
		defer zr.Close()
		zr.Multistream(false)
		return readIDX(bufio.NewReader(zr), name, maxBytes)
	}
	return readIDX(br, name, maxBytes)
}

func readIDX(r io.Reader, name string, maxBytes int64) (*IDX, error) {
	var magic [4]byte
	if _, err := io.ReadFull(r, magic[:]); err != nil {
		return nil, fmt.Errorf("%s: reading magic number: %w: %v", name, ErrIDX, err)
	}
	if magic[0] != 0 || magic[1] != 0 {
		return nil, fmt.Errorf("%s: bad magic number % x: %w (want 00 00 <type> <ndims>)", name, magic, ErrIDX)
	}
	if magic[2] != IDXUint8 {
		return nil, fmt.Errorf("%s: data type 0x%02x not supported: %w (only unsigned bytes, 0x08)", name, magic[2], ErrIDX)
	}
	nd := int(magic[3])
	if nd == 0 || nd > maxIDXDims {
		return nil, fmt.Errorf("%s: %d dimensions: %w (want 1..%d)", name, nd, ErrIDX, maxIDXDims)
	}
	raw := make([]byte, 4*nd)
	if _, err := io.ReadFull(r, raw); err != nil {
		return nil, fmt.Errorf("%s: reading %d dimension sizes: %w: %v", name, nd, ErrIDX, err)
	}
	dims := make([]int, nd)
	size := int64(1)
	for i := range dims {
		d := int64(binary.BigEndian.Uint32(raw[4*i:]))
		dims[i] = int(d)
		if d == 0 {
			size = 0
			continue
		}
		if size > 0 && size > maxBytes/d {
			return nil, fmt.Errorf("%s: dimensions %v exceed the %d-byte limit: %w", name, dims[:i+1], maxBytes, ErrIDX)
		}
		size *= d
	}
	// Read through a limit one past the declared size: the buffer grows only
	// as far as data actually arrives, and a longer stream is detected.
	var buf bytes.Buffer
	n, err := buf.ReadFrom(io.LimitReader(r, size+1))
	if err != nil {
		return nil, fmt.Errorf("%s: reading data: %w: %v", name, ErrIDX, err)
	}
	switch {
	case n < size:
		return nil, fmt.Errorf("%s: truncated: header %v declares %d bytes, got %d: %w", name, dims, size, n, ErrIDX)
	case n > size:
		return nil, fmt.Errorf("%s: trailing data after the %d bytes declared by header %v: %w", name, size, dims, ErrIDX)
	}
	return &IDX{Dims: dims, Data: buf.Bytes()}, nil
}

// ReadIDXFile opens path and decodes it with ReadIDX.
func ReadIDXFile(path string, maxBytes int64) (*IDX, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadIDX(f, path, maxBytes)
}
