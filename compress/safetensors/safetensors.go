package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"unicode/utf8"
)

// MetadataKey is the reserved header key holding the file's string map.
const MetadataKey = "__metadata__"

// Default limits used when a field of [Limits] is zero.
const (
	DefaultMaxHeaderBytes = 16 << 20 // 16 MiB of JSON header
	DefaultMaxFileBytes   = 4 << 30  // 4 GiB in total
	DefaultMaxTensors     = 1 << 16
	DefaultMaxRank        = 8
	DefaultMaxElements    = 1 << 28 // 256 Mi elements, 1 GiB as float32
)

// Limits bounds what a reader accepts, so that a hostile file cannot make it
// allocate or loop without bound. The zero value uses the Default* limits.
type Limits struct {
	// MaxHeaderBytes bounds the JSON header.
	MaxHeaderBytes int64
	// MaxFileBytes bounds the whole file: 8-byte prefix, header and data.
	MaxFileBytes int64
	// MaxTensors bounds the number of tensors in the header.
	MaxTensors int
	// MaxRank bounds the number of dimensions of a tensor.
	MaxRank int
	// MaxElements bounds the number of elements the sparse parameters of a
	// compressed artifact (package compress/packed) decode to, together. A
	// sparse encoding can describe far more elements than it has bytes
	// (dense encodings are bounded by their data), so this bounds what that
	// reader allocates. The safetensors reader itself does not use it.
	MaxElements int64
}

// WithDefaults returns l with every zero or negative field replaced by its
// Default* value.
func (l Limits) WithDefaults() Limits {
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if l.MaxFileBytes <= 0 {
		l.MaxFileBytes = DefaultMaxFileBytes
	}
	if l.MaxTensors <= 0 {
		l.MaxTensors = DefaultMaxTensors
	}
	if l.MaxRank <= 0 {
		l.MaxRank = DefaultMaxRank
	}
	if l.MaxElements <= 0 {
		l.MaxElements = DefaultMaxElements
	}
	return l
}

// ErrFormat is wrapped by every error reporting malformed input, so callers
// can tell a bad file from an I/O failure with errors.Is. The formats built
// on this container (compressed artifacts, model files) and the ONNX decoder
// wrap it too, so one check covers a bad model file of any kind.
var ErrFormat = errors.New("malformed file")

// ErrLimit is wrapped by errors reporting input that exceeds a [Limits] bound
// (or, in the ONNX decoder, one of its own limits).
var ErrLimit = errors.New("limit exceeded")

// Tensor is one named tensor in raw form: Data holds the little-endian
// elements in row-major order, len(Data) == numel(Shape) * DType.Size().
// A rank-0 tensor (Shape empty) holds one element.
type Tensor struct {
	Name  string
	DType DType
	Shape []int
	Data  []byte
}

// Numel returns the number of elements implied by the shape.
func (t *Tensor) Numel() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// File is the content of a safetensors file: tensors sorted by name and the
// optional string map stored under "__metadata__".
type File struct {
	Tensors  []Tensor
	Metadata map[string]string
}

// Tensor returns the tensor with the given name.
func (f *File) Tensor(name string) (*Tensor, bool) {
	i := sort.Search(len(f.Tensors), func(i int) bool { return f.Tensors[i].Name >= name })
	if i < len(f.Tensors) && f.Tensors[i].Name == name {
		return &f.Tensors[i], true
	}
	for i := range f.Tensors { // unsorted File built by a caller
		if f.Tensors[i].Name == name {
			return &f.Tensors[i], true
		}
	}
	return nil, false
}

// headerEntry is one tensor's description in the JSON header.
type headerEntry struct {
	DType       DType    `json:"dtype"`
	Shape       []int64  `json:"shape"`
	DataOffsets []uint64 `json:"data_offsets"`
}

// ReadSafetensors parses a complete safetensors file held in data.
// The returned tensors' Data slices alias data (no copy is made).
//
// Every header field is validated: header length and total size against
// limits, known dtypes, non-negative shapes whose element count does not
// overflow, byte lengths equal to numel × dtype size, and offsets that lie in
// the data section, do not overlap and leave no gap (as the reference
// implementation requires). Errors wrap [ErrFormat] or [ErrLimit].
func ReadSafetensors(data []byte, limits Limits) (*File, error) {
	limits = limits.WithDefaults()
	if int64(len(data)) > limits.MaxFileBytes {
		return nil, fmt.Errorf("safetensors: file is %d bytes, limit %d: %w", len(data), limits.MaxFileBytes, ErrLimit)
	}
	if len(data) < 8 {
		return nil, fmt.Errorf("safetensors: file is %d bytes, shorter than the 8-byte header length: %w", len(data), ErrFormat)
	}
	n := binary.LittleEndian.Uint64(data[:8])
	if n > uint64(limits.MaxHeaderBytes) {
		return nil, fmt.Errorf("safetensors: header length %d exceeds limit %d: %w", n, limits.MaxHeaderBytes, ErrLimit)
	}
	if n > uint64(len(data)-8) {
		return nil, fmt.Errorf("safetensors: header length %d exceeds the %d bytes after the prefix: %w", n, len(data)-8, ErrFormat)
	}
	f, offs, dataLen, err := parseHeader(data[8:8+n], limits)
	if err != nil {
		return nil, err
	}
	body := data[8+n:]
	if uint64(len(body)) != dataLen {
		return nil, fmt.Errorf("safetensors: data section is %d bytes, header describes %d: %w", len(body), dataLen, ErrFormat)
	}
	attach(f, offs, body)
	return f, nil
}

// ReadSafetensorsFrom reads a safetensors file from r. It reads and checks
// the header before allocating the data section, so a hostile header cannot
// make it allocate more than limits allow.
func ReadSafetensorsFrom(r io.Reader, limits Limits) (*File, error) {
	limits = limits.WithDefaults()
	var prefix [8]byte
	if _, err := io.ReadFull(r, prefix[:]); err != nil {
		return nil, fmt.Errorf("safetensors: read header length: %w", err)
	}
	n := binary.LittleEndian.Uint64(prefix[:])
	if n > uint64(limits.MaxHeaderBytes) {
		return nil, fmt.Errorf("safetensors: header length %d exceeds limit %d: %w", n, limits.MaxHeaderBytes, ErrLimit)
	}
	if 8+n > uint64(limits.MaxFileBytes) {
		return nil, fmt.Errorf("safetensors: header length %d exceeds file limit %d: %w", n, limits.MaxFileBytes, ErrLimit)
	}
	header := make([]byte, n)
	if _, err := io.ReadFull(r, header); err != nil {
		return nil, fmt.Errorf("safetensors: read %d-byte header: %w", n, err)
	}
	f, offs, dataLen, err := parseHeader(header, limits)
	if err != nil {
		return nil, err
	}
	if dataLen > uint64(limits.MaxFileBytes)-8-n {
		return nil, fmt.Errorf("safetensors: data section of %d bytes exceeds file limit %d: %w", dataLen, limits.MaxFileBytes, ErrLimit)
	}
	body := make([]byte, dataLen)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, fmt.Errorf("safetensors: read %d-byte data section: %w", dataLen, err)
	}
	var extra [1]byte
	if k, _ := r.Read(extra[:]); k != 0 {
		return nil, fmt.Errorf("safetensors: trailing bytes after the %d-byte data section: %w", dataLen, ErrFormat)
	}
	attach(f, offs, body)
	return f, nil
}

// attach points each tensor's Data at its validated range of body.
func attach(f *File, offs [][2]uint64, body []byte) {
	for i := range f.Tensors {
		b, e := offs[i][0], offs[i][1]
		f.Tensors[i].Data = body[b:e:e]
	}
}

// parseHeader decodes and validates the JSON header. It returns the file
// (tensors sorted by name, Data not yet attached), each tensor's data
// offsets, and the data section length the header describes.
func parseHeader(header []byte, limits Limits) (*File, [][2]uint64, uint64, error) {
	fail := func(format string, args ...any) (*File, [][2]uint64, uint64, error) {
		return nil, nil, 0, fmt.Errorf("safetensors: "+format+": %w", append(args, ErrFormat)...)
	}
	dec := json.NewDecoder(bytes.NewReader(header))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return fail("header: %v", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return fail("header is not a JSON object")
	}
	f := &File{}
	var offs [][2]uint64
	seen := make(map[string]bool)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fail("header: %v", err)
		}
		name, ok := tok.(string)
		if !ok {
			return fail("header key %v is not a string", tok)
		}
		if seen[name] {
			return fail("header: duplicate key %q", name)
		}
		seen[name] = true
		if name == MetadataKey {
			var md map[string]string
			if err := dec.Decode(&md); err != nil {
				return fail("header %s: %v", MetadataKey, err)
			}
			f.Metadata = md
			continue
		}
		if len(f.Tensors) >= limits.MaxTensors {
			return nil, nil, 0, fmt.Errorf("safetensors: more than %d tensors: %w", limits.MaxTensors, ErrLimit)
		}
		var e headerEntry
		if err := dec.Decode(&e); err != nil {
			return fail("tensor %q: %v", name, err)
		}
		t, err := validateEntry(name, e, limits)
		if err != nil {
			return nil, nil, 0, err
		}
		f.Tensors = append(f.Tensors, t)
		offs = append(offs, [2]uint64{e.DataOffsets[0], e.DataOffsets[1]})
	}
	if _, err := dec.Token(); err != nil {
		return fail("header: %v", err)
	}
	if rest := bytes.TrimRight(header[dec.InputOffset():], " "); len(rest) != 0 {
		return fail("header: %d unexpected bytes after the JSON object", len(rest))
	}
	// Sort by offset to check ranges tile the data section exactly.
	idx := make([]int, len(f.Tensors))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool {
		oa, ob := offs[idx[a]], offs[idx[b]]
		if oa[0] != ob[0] {
			return oa[0] < ob[0]
		}
		return oa[1] < ob[1]
	})
	var end uint64
	for _, i := range idx {
		o := offs[i]
		if o[0] != end {
			if o[0] < end {
				return fail("tensor %q: data_offsets [%d, %d] overlap the previous tensor ending at %d", f.Tensors[i].Name, o[0], o[1], end)
			}
			return fail("tensor %q: data_offsets [%d, %d] leave a gap after offset %d", f.Tensors[i].Name, o[0], o[1], end)
		}
		end = o[1]
	}
	if end > uint64(limits.MaxFileBytes) {
		return nil, nil, 0, fmt.Errorf("safetensors: data section of %d bytes exceeds limit %d: %w", end, limits.MaxFileBytes, ErrLimit)
	}
	// Present tensors sorted by name, offsets permuted alongside.
	order := make([]int, len(f.Tensors))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return f.Tensors[order[a]].Name < f.Tensors[order[b]].Name })
	ts := make([]Tensor, len(order))
	sorted := make([][2]uint64, len(order))
	for k, i := range order {
		ts[k], sorted[k] = f.Tensors[i], offs[i]
	}
	f.Tensors = ts
	return f, sorted, end, nil
}

// validateEntry checks one header entry and converts it to a Tensor without
// data.
func validateEntry(name string, e headerEntry, limits Limits) (Tensor, error) {
	fail := func(format string, args ...any) (Tensor, error) {
		return Tensor{}, fmt.Errorf("safetensors: tensor %q: "+format+": %w", append([]any{name}, append(args, ErrFormat)...)...)
	}
	if name == "" {
		return fail("empty name")
	}
	if !e.DType.Valid() {
		return fail("dtype %q is not supported", string(e.DType))
	}
	if len(e.Shape) > limits.MaxRank {
		return Tensor{}, fmt.Errorf("safetensors: tensor %q: rank %d exceeds limit %d: %w", name, len(e.Shape), limits.MaxRank, ErrLimit)
	}
	maxElems := limits.MaxFileBytes / int64(e.DType.Size())
	shape := make([]int, len(e.Shape))
	for i, d := range e.Shape {
		if d < 0 {
			return fail("shape[%d] = %d is negative", i, d)
		}
		if d > maxElems {
			return Tensor{}, fmt.Errorf("safetensors: tensor %q: shape[%d] = %d exceeds %d elements: %w", name, i, d, maxElems, ErrLimit)
		}
		shape[i] = int(d)
	}
	numel, err := CheckedNumel(shape, maxElems)
	if err != nil {
		return Tensor{}, fmt.Errorf("safetensors: tensor %q: %v: %w", name, err, ErrLimit)
	}
	if len(e.DataOffsets) != 2 {
		return fail("data_offsets has %d values, want 2", len(e.DataOffsets))
	}
	b, en := e.DataOffsets[0], e.DataOffsets[1]
	if en < b {
		return fail("data_offsets [%d, %d] end before they begin", b, en)
	}
	if want := uint64(numel) * uint64(e.DType.Size()); en-b != want {
		return fail("data_offsets [%d, %d] span %d bytes, but %s shape %v needs %d", b, en, en-b, e.DType, shape, want)
	}
	return Tensor{Name: name, DType: e.DType, Shape: shape}, nil
}

// WriteSafetensors writes f to w as a safetensors file. The output is
// deterministic: tensors are laid out in name order, header keys are sorted
// and the header is padded with spaces to a multiple of 8 bytes so the data
// section is 8-byte aligned. Every tensor is checked (known dtype, unique
// non-empty name, Data length matching the shape) before anything is written.
func WriteSafetensors(w io.Writer, f *File) error {
	ts := make([]*Tensor, len(f.Tensors))
	for i := range f.Tensors {
		ts[i] = &f.Tensors[i]
	}
	sort.SliceStable(ts, func(a, b int) bool { return ts[a].Name < ts[b].Name })
	var hdr strings.Builder
	hdr.WriteByte('{')
	for k, v := range f.Metadata {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return fmt.Errorf("safetensors: metadata key %q: key and value must be valid UTF-8", k)
		}
	}
	if len(f.Metadata) > 0 {
		md, err := json.Marshal(f.Metadata) // map keys are sorted by encoding/json
		if err != nil {
			return fmt.Errorf("safetensors: encode metadata: %w", err)
		}
		hdr.WriteString(`"` + MetadataKey + `":`)
		hdr.Write(md)
	}
	var off uint64
	for i, t := range ts {
		if t.Name == "" || t.Name == MetadataKey || !utf8.ValidString(t.Name) {
			return fmt.Errorf("safetensors: tensor %d: invalid name %q", i, t.Name)
		}
		if i > 0 && ts[i-1].Name == t.Name {
			return fmt.Errorf("safetensors: duplicate tensor name %q", t.Name)
		}
		if !t.DType.Valid() {
			return fmt.Errorf("safetensors: tensor %q: dtype %q is not supported", t.Name, string(t.DType))
		}
		numel, err := CheckedNumel(t.Shape, int64(^uint(0)>>1)/8)
		if err != nil {
			return fmt.Errorf("safetensors: tensor %q: %w", t.Name, err)
		}
		if want := numel * int64(t.DType.Size()); int64(len(t.Data)) != want {
			return fmt.Errorf("safetensors: tensor %q: data is %d bytes, %s shape %v needs %d", t.Name, len(t.Data), t.DType, t.Shape, want)
		}
		name, _ := json.Marshal(t.Name)
		if hdr.Len() > 1 {
			hdr.WriteByte(',')
		}
		shape := t.Shape
		if shape == nil {
			shape = []int{}
		}
		sh, _ := json.Marshal(shape)
		fmt.Fprintf(&hdr, `%s:{"dtype":"%s","shape":%s,"data_offsets":[%d,%d]}`, name, t.DType, sh, off, off+uint64(len(t.Data)))
		off += uint64(len(t.Data))
	}
	hdr.WriteByte('}')
	for hdr.Len()%8 != 0 {
		hdr.WriteByte(' ')
	}
	var prefix [8]byte
	binary.LittleEndian.PutUint64(prefix[:], uint64(hdr.Len()))
	if _, err := w.Write(prefix[:]); err != nil {
		return fmt.Errorf("safetensors: write: %w", err)
	}
	if _, err := io.WriteString(w, hdr.String()); err != nil {
		return fmt.Errorf("safetensors: write: %w", err)
	}
	for _, t := range ts {
		if _, err := w.Write(t.Data); err != nil {
			return fmt.Errorf("safetensors: write tensor %q: %w", t.Name, err)
		}
	}
	return nil
}
