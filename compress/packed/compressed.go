package packed

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/compressq/compressq/compress/quant"
	"github.com/compressq/compressq/compress/safetensors"
	"gorgonia.org/tensor"
)

// Metadata keys and values of the compressed artifact format (FORMAT.md).
const (
	// FormatKey names the format and its version.
	FormatKey = "compressq.format"
	// FormatCompressedV1 is the value of FormatKey for this version.
	FormatCompressedV1 = "compressq-compressed/1"
	// ArchKey holds the model architecture JSON, in model files and
	// (optionally) in compressed artifacts.
	ArchKey = "compressq.arch"
	// EncodingKey holds the JSON object mapping parameter names to
	// [Encoding] values.
	EncodingKey = "compressq.encoding"
)

// Encoding schemes. New schemes are added as new names with their own
// component roles; see decodeParam. The sparse schemes are in sparse.go.
const (
	SchemeFloat32 = "float32"
	SchemeInt8    = "int8"
	SchemeInt4    = "int4"
	// SchemeCodebook is weight sharing: a float32 codebook and one index
	// per element, packed at a fixed width or Huffman coded.
	SchemeCodebook = "codebook"
)

// Component roles of the int8/int4 and float32 schemes.
const (
	RoleValues    = "values"       // float32 passthrough: the tensor itself
	RoleQ         = "q"            // int8: I8 codes; int4: U8, two codes per byte
	RoleScale     = "scale"        // F32, one per group
	RoleZeroPoint = "zero_point"   // I8 or I32, one per group; asymmetric only
	RoleCodebook  = "codebook"     // codebook: F32, the 2^bits shared values
	RoleIndices   = "indices"      // codebook: U8, indices packed at bits each
	RoleHuffman   = "huffman"      // codebook: U8, Huffman-coded indices
	RoleCodeLens  = "code_lengths" // codebook: U8, canonical code length per codebook entry
)

// Encoding describes how one parameter is stored: its logical shape, the
// scheme, and the names of the safetensors tensors (components) holding it,
// keyed by role.
type Encoding struct {
	Scheme string `json:"scheme"`
	Shape  []int  `json:"shape"`
	// Bits is 32 for float32, 8 for int8, 4 for int4, log2 of the codebook
	// size for codebook, and the width of a position gap for the sparse
	// schemes.
	Bits int `json:"bits"`
	// Axis is the channel axis of the scales (0), or -1 for one scale per
	// tensor; -1 for float32.
	Axis int `json:"axis"`
	// Symmetric is true when the zero points are all 0 and not stored.
	Symmetric  bool              `json:"symmetric,omitempty"`
	Components map[string]string `json:"components"`
}

// CompressedParam is one parameter of a compressed artifact: float32
// values (Values, stored unquantized), a quantized tensor (Quantized),
// shared weights (Shared, a k-means codebook with one index per element)
// or int32 codes (Int32, format version 2). Exactly one of the four is
// set, always with every element (zeros included); Sparse only changes how
// it is stored.
type CompressedParam struct {
	Name      string
	Shape     []int
	Values    []float32
	Quantized *quant.Quantized
	Shared    *quant.Shared
	Int32     *Int32Codes
	// Huffman selects Huffman coding of Shared's indices; otherwise they
	// are packed at log2(len(Centroids)) bits each.
	Huffman bool
	// Sparse stores only the nonzero elements, with their positions as
	// relative index gaps (a sparse scheme; see FORMAT.md). Values, int8
	// Quantized and Shared can be stored sparsely, int4 cannot.
	// [CompressedParam.ChooseSparse] sets it when that is smaller.
	Sparse bool
	// GapBits is the width of a stored position gap (1..8) of a sparse
	// parameter; 0 chooses the width and gap coding (GapHuffman) that give
	// the fewest bytes.
	GapBits int
	// GapHuffman Huffman codes the gaps of a sparse parameter (with GapBits
	// set); otherwise they are packed at GapBits each.
	GapHuffman bool
}

// Compressed is the content of a compressed artifact. Params are sorted by
// name after reading. Arch is the optional architecture JSON; Metadata holds
// any further string metadata (keys other than the compressq.* ones this
// format reserves). Activations, when set, is the activation table of an
// integer-only model (format version 2).
type Compressed struct {
	Arch        string
	Params      []CompressedParam
	Metadata    map[string]string
	Activations *Activations
}

// version returns the format version c needs: 2 with an activation table
// or an int32 parameter, else 1.
func (c *Compressed) version() string {
	if c.Activations != nil {
		return FormatCompressedV2
	}
	for i := range c.Params {
		if c.Params[i].Int32 != nil {
			return FormatCompressedV2
		}
	}
	return FormatCompressedV1
}

// Scheme returns the encoding scheme name of p.
func (p *CompressedParam) Scheme() string {
	if p.Sparse {
		switch {
		case p.Shared != nil:
			return SchemeSparseCodebook
		case p.Quantized != nil:
			return SchemeSparseInt8
		}
		return SchemeSparseFloat32
	}
	if p.Shared != nil {
		return SchemeCodebook
	}
	if p.Int32 != nil {
		return SchemeInt32
	}
	if p.Quantized == nil {
		return SchemeFloat32
	}
	if p.Quantized.Bits == 4 {
		return SchemeInt4
	}
	return SchemeInt8
}

// Float32s returns p's values, dequantizing a quantized parameter.
func (p *CompressedParam) Float32s() ([]float32, error) {
	if p.Shared != nil {
		out := make([]float32, len(p.Shared.Index))
		if err := p.Shared.Values(out); err != nil {
			return nil, fmt.Errorf("parameter %q: %w", p.Name, err)
		}
		return out, nil
	}
	if p.Int32 != nil {
		return p.Int32.values(), nil
	}
	if p.Quantized == nil {
		return append([]float32(nil), p.Values...), nil
	}
	v, err := quant.Dequantize(p.Quantized)
	if err != nil {
		return nil, fmt.Errorf("parameter %q: %w", p.Name, err)
	}
	return v, nil
}

// Dense returns p's values as a float32 *tensor.Dense of p.Shape
// (rank 0 becomes [1]).
func (p *CompressedParam) Dense() (*tensor.Dense, error) {
	v, err := p.Float32s()
	if err != nil {
		return nil, err
	}
	return safetensors.NewDense(p.Shape, v), nil
}

// Param returns the parameter with the given name.
func (c *Compressed) Param(name string) (*CompressedParam, bool) {
	for i := range c.Params {
		if c.Params[i].Name == name {
			return &c.Params[i], true
		}
	}
	return nil, false
}

// Float32Tensors dequantizes every parameter and returns them as F32
// tensors sorted by name, the same form a plain model file yields.
func (c *Compressed) Float32Tensors() ([]safetensors.Tensor, error) {
	out := make([]safetensors.Tensor, 0, len(c.Params))
	for i := range c.Params {
		p := &c.Params[i]
		v, err := p.Float32s()
		if err != nil {
			return nil, err
		}
		out = append(out, safetensors.F32Tensor(p.Name, p.Shape, v))
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Name < out[b].Name })
	return out, nil
}

// componentName returns the tensor name of a component: the parameter name
// itself for float32 values, "<name>.<role>" otherwise.
func componentName(param, role string) string {
	if role == RoleValues {
		return param
	}
	return param + "." + role
}

// WriteCompressed writes c as a compressed artifact (a safetensors file; see
// FORMAT.md). int8 codes are stored as I8, int4 codes packed two per byte in
// a U8 tensor, int32 codes as I32, scales as F32 and asymmetric zero points
// as I8; the activation table as F32 scales and U8 zero points. The file
// is version 2 when c uses int32 or an activation table, else version 1.
// The output is deterministic. Every parameter is validated before
// anything is written.
func WriteCompressed(w io.Writer, c *Compressed) error {
	f, err := c.encode()
	if err != nil {
		return err
	}
	return safetensors.WriteSafetensors(w, f)
}

// encode converts c to the safetensors file it is stored as.
func (c *Compressed) encode() (*safetensors.File, error) {
	md := map[string]string{FormatKey: c.version()}
	for k, v := range c.Metadata {
		if k == FormatKey || k == ArchKey || k == EncodingKey || k == ActivationsKey {
			return nil, fmt.Errorf("compressed: metadata key %q is reserved", k)
		}
		md[k] = v
	}
	if c.Arch != "" {
		if !json.Valid([]byte(c.Arch)) {
			return nil, errors.New("compressed: Arch is not valid JSON")
		}
		md[ArchKey] = c.Arch
	}
	encs := make(map[string]Encoding, len(c.Params))
	f := &safetensors.File{Metadata: md}
	for i := range c.Params {
		p := &c.Params[i]
		if p.Name == "" {
			return nil, fmt.Errorf("compressed: parameter %d has an empty name", i)
		}
		if _, dup := encs[p.Name]; dup {
			return nil, fmt.Errorf("compressed: duplicate parameter %q", p.Name)
		}
		enc, ts, err := encodeParam(p)
		if err != nil {
			return nil, fmt.Errorf("compressed: parameter %q: %w", p.Name, err)
		}
		encs[p.Name] = enc
		f.Tensors = append(f.Tensors, ts...)
	}
	b, err := json.Marshal(encs)
	if err != nil {
		return nil, fmt.Errorf("compressed: encode %s: %w", EncodingKey, err)
	}
	md[EncodingKey] = string(b)
	if c.Activations != nil {
		js, ts, err := encodeActivations(c.Activations)
		if err != nil {
			return nil, err
		}
		md[ActivationsKey] = js
		f.Tensors = append(f.Tensors, ts...)
	}
	return f, nil
}

// encodeParam returns the encoding and component tensors of one parameter.
func encodeParam(p *CompressedParam) (Encoding, []safetensors.Tensor, error) {
	n, err := safetensors.CheckedNumel(p.Shape, int64(^uint(0)>>2))
	if err != nil {
		return Encoding{}, nil, err
	}
	set := 0
	for _, b := range []bool{p.Values != nil, p.Quantized != nil, p.Shared != nil, p.Int32 != nil} {
		if b {
			set++
		}
	}
	if set > 1 {
		return Encoding{}, nil, errors.New("more than one of Values, Quantized, Shared and Int32 is set")
	}
	if p.Int32 != nil {
		if p.Sparse {
			return Encoding{}, nil, errors.New("int32 has no sparse scheme")
		}
		return encodeInt32(p, n)
	}
	if p.Sparse {
		return encodeSparse(p, n)
	}
	if p.Shared != nil {
		return encodeShared(p, n)
	}
	if p.Quantized == nil {
		if int64(len(p.Values)) != n {
			return Encoding{}, nil, fmt.Errorf("%d values for shape %v", len(p.Values), p.Shape)
		}
		enc := Encoding{Scheme: SchemeFloat32, Shape: cloneShape(p.Shape), Bits: 32, Axis: -1,
			Components: map[string]string{RoleValues: p.Name}}
		return enc, []safetensors.Tensor{safetensors.F32Tensor(p.Name, p.Shape, p.Values)}, nil
	}
	q := p.Quantized
	if err := q.Validate(); err != nil {
		return Encoding{}, nil, err
	}
	if !slices.Equal(q.Shape, p.Shape) {
		return Encoding{}, nil, fmt.Errorf("quantized shape %v differs from parameter shape %v", q.Shape, p.Shape)
	}
	enc := Encoding{Scheme: p.Scheme(), Shape: cloneShape(p.Shape), Bits: q.Bits, Axis: q.Axis,
		Symmetric: q.Symmetric, Components: map[string]string{}}
	var ts []safetensors.Tensor
	qn := componentName(p.Name, RoleQ)
	if q.Bits == 4 {
		packed := PackInt4(q.Q)
		ts = append(ts, safetensors.Tensor{Name: qn, DType: safetensors.U8, Shape: []int{len(packed)}, Data: packed})
	} else {
		ts = append(ts, safetensors.I8Tensor(qn, p.Shape, q.Q))
	}
	enc.Components[RoleQ] = qn
	sts, err := scaleTensors(p.Name, q, enc.Components)
	if err != nil {
		return Encoding{}, nil, err
	}
	return enc, append(ts, sts...), nil
}

// scaleTensors returns the scale and (asymmetric only) zero_point
// components of q and records them in comps.
func scaleTensors(param string, q *quant.Quantized, comps map[string]string) ([]safetensors.Tensor, error) {
	sn := componentName(param, RoleScale)
	ts := []safetensors.Tensor{safetensors.F32Tensor(sn, []int{len(q.Scale)}, q.Scale)}
	comps[RoleScale] = sn
	if q.Symmetric {
		for g, z := range q.ZeroPoint {
			if z != 0 {
				return nil, fmt.Errorf("symmetric but zero_point[%d] = %d", g, z)
			}
		}
		return ts, nil
	}
	zp := make([]int8, len(q.ZeroPoint))
	for g, z := range q.ZeroPoint {
		zp[g] = int8(z) // Validate checked the range
	}
	zn := componentName(param, RoleZeroPoint)
	comps[RoleZeroPoint] = zn
	return append(ts, safetensors.I8Tensor(zn, []int{len(zp)}, zp)), nil
}

// PackInt4 packs int4 codes (each in [−8, 7]) two per byte in two's
// complement: element 2i in the low nibble of byte i, element 2i+1 in the
// high nibble. An odd count leaves the last high nibble 0.
func PackInt4(q []int8) []byte {
	out := make([]byte, (len(q)+1)/2)
	for i, v := range q {
		nib := byte(v) & 0x0f
		if i%2 == 1 {
			nib <<= 4
		}
		out[i/2] |= nib
	}
	return out
}

// UnpackInt4 is the inverse of [PackInt4] for n codes; it sign-extends each
// nibble. It returns an error if len(b) != ceil(n/2) or the padding nibble
// of an odd count is not 0.
func UnpackInt4(b []byte, n int) ([]int8, error) {
	if n < 0 || len(b) != (n+1)/2 {
		return nil, fmt.Errorf("int4: %d bytes cannot hold exactly %d codes", len(b), n)
	}
	if n%2 == 1 && b[len(b)-1]>>4 != 0 {
		return nil, errors.New("int4: padding nibble is not 0")
	}
	out := make([]int8, n)
	for i := range out {
		nib := b[i/2]
		if i%2 == 1 {
			nib >>= 4
		}
		out[i] = int8(nib<<4) >> 4
	}
	return out, nil
}

// ReadCompressed parses a compressed artifact held in data and validates
// every cross-reference: the format version, each parameter's encoding
// (known scheme, bits matching the scheme, axis −1 or 0 within the rank,
// the roles the scheme needs and no others), each component's existence,
// dtype and length, code and zero-point ranges, positive finite scales,
// the activation table of a version 2 file (lengths, names, scales and zero
// points), and that every tensor in the file belongs to exactly one
// parameter or the table. Errors name the parameter (or the table's
// tensor) and wrap [safetensors.ErrFormat] or [safetensors.ErrLimit];
// malformed input never panics.
func ReadCompressed(data []byte, limits safetensors.Limits) (*Compressed, error) {
	c, _, err := readCompressed(data, limits)
	return c, err
}

// readCompressed is ReadCompressed returning the raw file and encodings too.
func readCompressed(data []byte, limits safetensors.Limits) (*Compressed, *rawCompressed, error) {
	f, err := safetensors.ReadSafetensors(data, limits)
	if err != nil {
		return nil, nil, err
	}
	fail := func(format string, args ...any) (*Compressed, *rawCompressed, error) {
		return nil, nil, fmt.Errorf("compressed: "+format+": %w", append(args, safetensors.ErrFormat)...)
	}
	version := f.Metadata[FormatKey]
	if !IsCompressedFormat(version) {
		return fail("%s = %q, want %q or %q", FormatKey, version, FormatCompressedV1, FormatCompressedV2)
	}
	encJSON, ok := f.Metadata[EncodingKey]
	if !ok {
		return fail("metadata key %s is missing", EncodingKey)
	}
	var encs map[string]Encoding
	dec := json.NewDecoder(strings.NewReader(encJSON))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&encs); err != nil {
		return fail("%s: %v", EncodingKey, err)
	}
	if dec.More() {
		return fail("%s: trailing data after the JSON object", EncodingKey)
	}
	c := &Compressed{Arch: f.Metadata[ArchKey]}
	if c.Arch != "" && !json.Valid([]byte(c.Arch)) {
		return fail("%s is not valid JSON", ArchKey)
	}
	for k, v := range f.Metadata {
		if k != FormatKey && k != ArchKey && k != EncodingKey && k != ActivationsKey {
			if c.Metadata == nil {
				c.Metadata = map[string]string{}
			}
			c.Metadata[k] = v
		}
	}
	byName := make(map[string]*safetensors.Tensor, len(f.Tensors))
	for i := range f.Tensors {
		byName[f.Tensors[i].Name] = &f.Tensors[i]
	}
	owner := make(map[string]string, len(f.Tensors))
	names := make([]string, 0, len(encs))
	for name := range encs {
		names = append(names, name)
	}
	sort.Strings(names)
	limits = limits.WithDefaults()
	sparseLeft := limits.MaxElements
	for _, name := range names {
		roles := make([]string, 0, len(encs[name].Components))
		for role := range encs[name].Components {
			roles = append(roles, role)
		}
		sort.Strings(roles)
		for _, role := range roles {
			tn := encs[name].Components[role]
			if prev, taken := owner[tn]; taken {
				return fail("parameter %q: component %s = %q is already used by parameter %q", name, role, tn, prev)
			}
			owner[tn] = name
		}
	}
	for _, name := range names {
		enc := encs[name]
		if enc.Scheme == SchemeInt32 && version == FormatCompressedV1 {
			return fail("parameter %q: scheme int32 needs %s = %q", name, FormatKey, FormatCompressedV2)
		}
		p, err := decodeParam(name, enc, byName, limits, &sparseLeft)
		if err != nil {
			return nil, nil, fmt.Errorf("compressed: parameter %q: %w", name, err)
		}
		c.Params = append(c.Params, p)
	}
	if js, ok := f.Metadata[ActivationsKey]; ok {
		if version == FormatCompressedV1 {
			return fail("metadata key %s needs %s = %q", ActivationsKey, FormatKey, FormatCompressedV2)
		}
		if c.Activations, err = decodeActivations(js, byName, owner); err != nil {
			return nil, nil, fmt.Errorf("compressed: %w", err)
		}
	}
	for _, t := range f.Tensors {
		if _, ok := owner[t.Name]; !ok {
			return fail("tensor %q belongs to no parameter", t.Name)
		}
	}
	return c, &rawCompressed{file: f, encodings: encs, owner: owner}, nil
}

// rawCompressed keeps the parsed file for the size report.
type rawCompressed struct {
	file      *safetensors.File
	encodings map[string]Encoding
	owner     map[string]string
}

// decodeParam validates one parameter's encoding against the file's tensors
// and decodes it. This is the extension point for new schemes: each case
// checks its roles and components, then builds the parameter. Sparse
// parameters take their element count from *sparseLeft, failing when it
// does not suffice.
func decodeParam(name string, enc Encoding, byName map[string]*safetensors.Tensor, limits safetensors.Limits, sparseLeft *int64) (CompressedParam, error) {
	fail := func(format string, args ...any) (CompressedParam, error) {
		return CompressedParam{}, fmt.Errorf(format+": %w", append(args, safetensors.ErrFormat)...)
	}
	if name == "" {
		return fail("empty parameter name")
	}
	if len(enc.Shape) > limits.MaxRank {
		return fail("rank %d exceeds %d", len(enc.Shape), limits.MaxRank)
	}
	n64, err := safetensors.CheckedNumel(enc.Shape, limits.MaxFileBytes)
	if err != nil {
		return fail("shape: %v", err)
	}
	n := int(n64)
	p := CompressedParam{Name: name, Shape: cloneShape(enc.Shape)}
	// component fetches the tensor for role, checking dtype and element
	// count (any count when numel < 0).
	component := func(role string, numel int, dtypes ...safetensors.DType) (*safetensors.Tensor, error) {
		tn, ok := enc.Components[role]
		if !ok {
			return nil, fmt.Errorf("component %q is missing: %w", role, safetensors.ErrFormat)
		}
		t, ok := byName[tn]
		if !ok {
			return nil, fmt.Errorf("component %s refers to tensor %q, which is not in the file: %w", role, tn, safetensors.ErrFormat)
		}
		okType := false
		for _, d := range dtypes {
			okType = okType || t.DType == d
		}
		if !okType {
			return nil, fmt.Errorf("component %s (tensor %q) has dtype %s, want %v: %w", role, tn, t.DType, dtypes, safetensors.ErrFormat)
		}
		if numel >= 0 && t.Numel() != numel {
			return nil, fmt.Errorf("component %s (tensor %q) has %d elements, want %d: %w", role, tn, t.Numel(), numel, safetensors.ErrFormat)
		}
		return t, nil
	}
	roles := func(allowed ...string) error {
		for role := range enc.Components {
			found := false
			for _, a := range allowed {
				found = found || role == a
			}
			if !found {
				return fmt.Errorf("scheme %s has no component role %q: %w", enc.Scheme, role, safetensors.ErrFormat)
			}
		}
		return nil
	}
	switch enc.Scheme {
	case SchemeFloat32:
		if enc.Bits != 32 || enc.Axis != -1 || enc.Symmetric {
			return fail("float32 encoding needs bits 32, axis -1, not symmetric; got bits %d, axis %d, symmetric %v", enc.Bits, enc.Axis, enc.Symmetric)
		}
		if err := roles(RoleValues); err != nil {
			return CompressedParam{}, err
		}
		t, err := component(RoleValues, n, safetensors.F32, safetensors.F16, safetensors.BF16, safetensors.F64)
		if err != nil {
			return CompressedParam{}, err
		}
		if p.Values, err = t.Float32s(); err != nil {
			return CompressedParam{}, err
		}
		if p.Values == nil {
			p.Values = []float32{}
		}
		return p, nil
	case SchemeInt8, SchemeInt4:
		bits := 8
		if enc.Scheme == SchemeInt4 {
			bits = 4
		}
		if enc.Bits != bits {
			return fail("scheme %s with bits %d", enc.Scheme, enc.Bits)
		}
		groups, err := scaleGroups(enc)
		if err != nil {
			return CompressedParam{}, err
		}
		allowed := []string{RoleQ, RoleScale}
		if !enc.Symmetric {
			allowed = append(allowed, RoleZeroPoint)
		}
		if err := roles(allowed...); err != nil {
			return CompressedParam{}, err
		}
		q := &quant.Quantized{Shape: cloneShape(enc.Shape), Axis: enc.Axis, Bits: bits, Symmetric: enc.Symmetric}
		if bits == 8 {
			t, err := component(RoleQ, n, safetensors.I8)
			if err != nil {
				return CompressedParam{}, err
			}
			if q.Q, err = t.Int8s(); err != nil {
				return CompressedParam{}, err
			}
		} else {
			t, err := component(RoleQ, (n+1)/2, safetensors.U8)
			if err != nil {
				return CompressedParam{}, err
			}
			if q.Q, err = UnpackInt4(t.Data, n); err != nil {
				return fail("component q: %v", err)
			}
		}
		if err := decodeScales(q, groups, component); err != nil {
			return CompressedParam{}, err
		}
		if err := q.Validate(); err != nil {
			return fail("%v", err)
		}
		p.Quantized = q
		return p, nil
	case SchemeCodebook:
		return decodeShared(p, n, enc, component, roles)
	case SchemeInt32:
		return decodeInt32(p, n, enc, component, roles)
	case SchemeSparseFloat32, SchemeSparseInt8, SchemeSparseCodebook:
		return decodeSparse(p, n, enc, component, roles, sparseLeft)
	}
	return fail("unsupported scheme %q", enc.Scheme)
}

// scaleGroups returns the number of scales of an int8/int4 encoding: 1
// for axis −1, shape[0] for axis 0.
func scaleGroups(enc Encoding) (int, error) {
	switch {
	case enc.Axis == -1:
		return 1, nil
	case enc.Axis == 0 && len(enc.Shape) > 0:
		return enc.Shape[0], nil
	}
	return 0, fmt.Errorf("axis %d is invalid for shape %v (want -1 or 0): %w", enc.Axis, enc.Shape, safetensors.ErrFormat)
}

// decodeScales reads the scale and, unless q is symmetric, zero_point
// components (groups each) into q.
func decodeScales(q *quant.Quantized, groups int, component componentFunc) error {
	st, err := component(RoleScale, groups, safetensors.F32)
	if err != nil {
		return err
	}
	if q.Scale, err = st.Float32s(); err != nil {
		return err
	}
	q.ZeroPoint = make([]int32, groups)
	if q.Symmetric {
		return nil
	}
	zt, err := component(RoleZeroPoint, groups, safetensors.I8, safetensors.I32)
	if err != nil {
		return err
	}
	if zt.DType == safetensors.I8 {
		for g, b := range zt.Data {
			q.ZeroPoint[g] = int32(int8(b))
		}
		return nil
	}
	q.ZeroPoint, err = zt.Int32s()
	return err
}

func cloneShape(s []int) []int { return append([]int{}, s...) }

// ComponentSize is the stored size of one component tensor.
type ComponentSize struct {
	Role   string
	Tensor string
	DType  safetensors.DType
	// Bytes is the length of the tensor's data.
	Bytes int64
}

// ParamSize is the stored size of one parameter.
type ParamSize struct {
	Name     string
	Scheme   string
	Elements int64
	// Bytes is the sum of the component data bytes.
	Bytes      int64
	Components []ComponentSize
	// Float32Bytes is 4 × Elements, the size of the parameter stored as
	// float32.
	Float32Bytes int64
}

// SizeReport accounts for every byte of a compressed artifact:
// TotalBytes = HeaderBytes + Σ Params[i].Bytes = the file length. An
// activation table is one more entry of Params, named ActivationsKey with
// scheme "activations" and Float32Bytes 0 (a float model has no such
// table).
type SizeReport struct {
	// HeaderBytes is the 8-byte length prefix plus the JSON header
	// (including tensor descriptions, metadata and padding).
	HeaderBytes int64
	Params      []ParamSize
	// DataBytes is Σ Params[i].Bytes.
	DataBytes  int64
	TotalBytes int64
	// Float32Bytes is the data size of all parameters stored as float32,
	// without any header.
	Float32Bytes int64
}

// Ratio returns Float32Bytes / TotalBytes, the compression ratio against
// the raw float32 parameter data.
func (r *SizeReport) Ratio() float64 {
	if r.TotalBytes == 0 {
		return 0
	}
	return float64(r.Float32Bytes) / float64(r.TotalBytes)
}

// ReportSize validates a compressed artifact like [ReadCompressed] and
// reports its size per parameter and component.
func ReportSize(data []byte, limits safetensors.Limits) (*SizeReport, error) {
	c, raw, err := readCompressed(data, limits)
	if err != nil {
		return nil, err
	}
	r := &SizeReport{TotalBytes: int64(len(data))}
	for _, p := range c.Params {
		enc := raw.encodings[p.Name]
		ps := ParamSize{Name: p.Name, Scheme: enc.Scheme}
		ps.Elements = int64(safetensors.Numel(p.Shape))
		ps.Float32Bytes = 4 * ps.Elements
		roles := make([]string, 0, len(enc.Components))
		for role := range enc.Components {
			roles = append(roles, role)
		}
		sort.Strings(roles)
		for _, role := range roles {
			t, _ := raw.file.Tensor(enc.Components[role])
			cs := ComponentSize{Role: role, Tensor: t.Name, DType: t.DType, Bytes: int64(len(t.Data))}
			ps.Components = append(ps.Components, cs)
			ps.Bytes += cs.Bytes
		}
		r.Params = append(r.Params, ps)
		r.DataBytes += ps.Bytes
		r.Float32Bytes += ps.Float32Bytes
	}
	if c.Activations != nil {
		// The table was validated on reading: its components exist.
		var aj activationsJSON
		if err := json.Unmarshal([]byte(raw.file.Metadata[ActivationsKey]), &aj); err != nil {
			return nil, fmt.Errorf("compressed: %s: %v: %w", ActivationsKey, err, safetensors.ErrFormat)
		}
		ps := ParamSize{Name: ActivationsKey, Scheme: "activations", Elements: int64(len(c.Activations.Tensors))}
		for _, role := range []string{RoleActScale, RoleActZero} {
			t, _ := raw.file.Tensor(aj.Components[role])
			cs := ComponentSize{Role: role, Tensor: t.Name, DType: t.DType, Bytes: int64(len(t.Data))}
			ps.Components = append(ps.Components, cs)
			ps.Bytes += cs.Bytes
		}
		r.Params = append(r.Params, ps)
		r.DataBytes += ps.Bytes
	}
	r.HeaderBytes = r.TotalBytes - r.DataBytes
	return r, nil
}

// String formats the report as a table, one row per parameter.
func (r *SizeReport) String() string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%-32s %-15s %10s %12s %12s\n", "parameter", "scheme", "elements", "bytes", "float32")
	for _, p := range r.Params {
		fmt.Fprintf(&b, "%-32s %-15s %10d %12d %12d\n", p.Name, p.Scheme, p.Elements, p.Bytes, p.Float32Bytes)
	}
	fmt.Fprintf(&b, "%-32s %-15s %10s %12d\n", "(header)", "", "", r.HeaderBytes)
	fmt.Fprintf(&b, "%-32s %-15s %10s %12d %12d  (%.2fx)\n", "total", "", "", r.TotalBytes, r.Float32Bytes, r.Ratio())
	return b.String()
}
