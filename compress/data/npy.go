package data

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"
)

// DefaultMaxElements bounds the elements of one decoded array when the
// caller passes no limit: 2^28, a 1 GiB float32 array.
const DefaultMaxElements = 1 << 28

// maxNPYHeader bounds the header dictionary of a .npy file (NumPy writes
// well under 1 KiB).
const maxNPYHeader = 1 << 16

// ErrNPY is wrapped by every error ReadNPY returns for malformed input.
var ErrNPY = errors.New("malformed .npy data")

// Array is a decoded NumPy array in C (row-major) order. Exactly one of U8
// (dtype uint8), F32 (float32, or float64 narrowed) and Int (any other
// integer dtype) holds the len = product(Shape) values.
type Array struct {
	// Shape is the array's shape, outermost first.
	Shape []int
	// Dtype is the NumPy type string from the header, e.g. "|u1" or "<f4".
	Dtype string
	U8    []uint8
	F32   []float32
	Int   []int64
}

// Len returns the number of elements.
func (a *Array) Len() int {
	switch {
	case a.U8 != nil:
		return len(a.U8)
	case a.F32 != nil:
		return len(a.F32)
	}
	return len(a.Int)
}

var (
	npyDescr   = regexp.MustCompile(`'descr'\s*:\s*'([^']*)'`)
	npyFortran = regexp.MustCompile(`'fortran_order'\s*:\s*(True|False)`)
	npyShape   = regexp.MustCompile(`'shape'\s*:\s*\(([^)]*)\)`)
)

// ReadNPY decodes one .npy stream (format versions 1 to 3). Supported
// dtypes are uint8, int8, (u)int16/32/64, float32 and float64, in either
// byte order, C or Fortran order (Fortran arrays are transposed to C
// order). name identifies the source in errors; maxElems bounds the
// element count the header may declare (0 means DefaultMaxElements), so a
// hostile header cannot make ReadNPY allocate more. Malformed headers,
// truncated data and trailing bytes are errors wrapping ErrNPY.
//
// The reader is written here rather than taken from a NumPy library because
// the ones available allocate whatever a header declares.
func ReadNPY(r io.Reader, name string, maxElems int64) (*Array, error) {
	if maxElems <= 0 {
		maxElems = DefaultMaxElements
	}
	fail := func(format string, args ...any) (*Array, error) {
		return nil, fmt.Errorf("%s: %s: %w", name, fmt.Sprintf(format, args...), ErrNPY)
	}
	br := bufio.NewReader(r)
	var pre [8]byte
	if _, err := io.ReadFull(br, pre[:]); err != nil {
		return fail("reading magic: %v", err)
	}
	if string(pre[:6]) != "\x93NUMPY" {
		return fail("not a .npy file (magic % x)", pre[:6])
	}
	var hlen int64
	switch pre[6] {
	case 1:
		var b [2]byte
		if _, err := io.ReadFull(br, b[:]); err != nil {
			return fail("reading header length: %v", err)
		}
		hlen = int64(binary.LittleEndian.Uint16(b[:]))
	case 2, 3:
		var b [4]byte
		if _, err := io.ReadFull(br, b[:]); err != nil {
			return fail("reading header length: %v", err)
		}
		hlen = int64(binary.LittleEndian.Uint32(b[:]))
	default:
		return fail("format version %d.%d not supported", pre[6], pre[7])
	}
	if hlen > maxNPYHeader {
		return fail("header of %d bytes is longer than %d", hlen, maxNPYHeader)
	}
	hdr := make([]byte, hlen)
	if _, err := io.ReadFull(br, hdr); err != nil {
		return fail("reading %d-byte header: %v", hlen, err)
	}
	h := string(hdr)
	if !strings.HasPrefix(strings.TrimSpace(h), "{") {
		return fail("header %q is not a dictionary", h)
	}
	md, mf, ms := npyDescr.FindStringSubmatch(h), npyFortran.FindStringSubmatch(h), npyShape.FindStringSubmatch(h)
	if md == nil || mf == nil || ms == nil {
		return fail("header %q lacks descr, fortran_order or shape", h)
	}
	a := &Array{Dtype: md[1]}
	n := int64(1)
	for tok := range strings.SplitSeq(ms[1], ",") {
		tok = strings.TrimSpace(tok)
		if tok == "" {
			continue
		}
		d, err := strconv.ParseInt(tok, 10, 64)
		if err != nil || d < 0 {
			return fail("shape (%s): %q is not a size", ms[1], tok)
		}
		if d > 0 && n > maxElems/d {
			return fail("shape (%s) has more than the %d-element limit", ms[1], maxElems)
		}
		n *= d
		a.Shape = append(a.Shape, int(d))
	}
	if len(a.Shape) > 8 {
		return fail("%d dimensions, at most 8 supported", len(a.Shape))
	}
	order, kind, size, err := npyDtype(a.Dtype)
	if err != nil {
		return fail("%v", err)
	}
	// Read through a limit one past the declared size: the buffer grows only
	// as far as data actually arrives, and a longer stream is detected.
	need := n * int64(size)
	var buf bytes.Buffer
	got, err := buf.ReadFrom(io.LimitReader(br, need+1))
	switch {
	case err != nil:
		return fail("reading data: %v", err)
	case got < need:
		return fail("truncated: shape %v of %s needs %d data bytes, got %d", a.Shape, a.Dtype, need, got)
	case got > need:
		return fail("trailing data after the %d bytes shape %v declares", need, a.Shape)
	}
	raw := buf.Bytes()
	if mf[1] == "True" && len(a.Shape) > 1 {
		raw = fortranToC(raw, a.Shape, size)
	}
	switch {
	case kind == 'u' && size == 1:
		a.U8 = raw
	case kind == 'f':
		a.F32 = make([]float32, n)
		for i := range a.F32 {
			if size == 4 {
				a.F32[i] = math.Float32frombits(order.Uint32(raw[4*i:]))
			} else {
				a.F32[i] = float32(math.Float64frombits(order.Uint64(raw[8*i:])))
			}
		}
	default:
		a.Int = make([]int64, n)
		for i := range a.Int {
			a.Int[i] = npyInt(raw[i*size:(i+1)*size], order, kind)
		}
	}
	return a, nil
}

// npyDtype parses a NumPy type string such as "<f4" or "|u1".
func npyDtype(s string) (order binary.ByteOrder, kind byte, size int, err error) {
	if len(s) != 3 {
		return nil, 0, 0, fmt.Errorf("dtype %q not supported (want uint8, int8..int64, float32 or float64)", s)
	}
	switch s[0] {
	case '<', '|', '=':
		order = binary.LittleEndian
	case '>':
		order = binary.BigEndian
	default:
		return nil, 0, 0, fmt.Errorf("dtype %q: byte order %q", s, s[0])
	}
	kind, size = s[1], int(s[2]-'0')
	switch {
	case (kind == 'u' || kind == 'i') && (size == 1 || size == 2 || size == 4 || size == 8):
	case kind == 'f' && (size == 4 || size == 8):
	default:
		return nil, 0, 0, fmt.Errorf("dtype %q not supported (want uint8, int8..int64, float32 or float64)", s)
	}
	return order, kind, size, nil
}

func npyInt(b []byte, order binary.ByteOrder, kind byte) int64 {
	switch len(b) {
	case 1:
		if kind == 'i' {
			return int64(int8(b[0]))
		}
		return int64(b[0])
	case 2:
		if kind == 'i' {
			return int64(int16(order.Uint16(b)))
		}
		return int64(order.Uint16(b))
	case 4:
		if kind == 'i' {
			return int64(int32(order.Uint32(b)))
		}
		return int64(order.Uint32(b))
	}
	v := order.Uint64(b)
	if kind == 'u' && v > math.MaxInt64 {
		return -1 // out of any label range; callers reject negatives
	}
	return int64(v)
}

// fortranToC reorders column-major elements of the given size into
// row-major order.
func fortranToC(raw []byte, shape []int, size int) []byte {
	out := make([]byte, len(raw))
	n := len(raw) / size
	idx := make([]int, len(shape)) // C-order multi-index of element i
	for i := 0; i < n; i++ {
		f, stride := 0, 1
		for d := range shape {
			f += idx[d] * stride
			stride *= shape[d]
		}
		copy(out[i*size:(i+1)*size], raw[f*size:(f+1)*size])
		for d := len(shape) - 1; d >= 0; d-- {
			idx[d]++
			if idx[d] < shape[d] {
				break
			}
			idx[d] = 0
		}
	}
	return out
}
