package packed

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/compressq/compressq/compress/quant"
	"github.com/compressq/compressq/compress/safetensors"
)

// Sparse schemes (FORMAT.md, "Sparse schemes"): only the nonzero elements
// are stored, in row-major order, each with the gap from the previous
// stored element's flat index, as in Deep Compression (Han et al. 2016).
// The stored values are float32 values, int8 codes or codebook indices.
const (
	SchemeSparseFloat32  = "sparse-float32"
	SchemeSparseInt8     = "sparse-int8"
	SchemeSparseCodebook = "sparse-codebook"
)

// Component roles of the sparse schemes' positions. The values use the
// roles of the dense schemes (values; q, scale, zero_point; codebook,
// indices or huffman and code_lengths), with one entry per stored element.
const (
	RoleGaps        = "gaps"             // U8, gap symbols packed at bits each
	RoleGapHuffman  = "gap_huffman"      // U8, Huffman-coded gap symbols
	RoleGapCodeLens = "gap_code_lengths" // U8, canonical code length per gap symbol
)

// MaxGapBits is the widest position gap symbol: a gap of up to 2^8 = 256.
const MaxGapBits = 8

// isZeroFunc returns whether element i of p is stored implicitly by a
// sparse scheme: a float32 +0 (bit pattern 0), an int8 code equal to its
// group's zero point, or a codebook index equal to the first +0 codebook
// entry. A reader fills unlisted elements with exactly these, so the round
// trip is exact. p has been validated by encodeSparse.
func isZeroFunc(p *CompressedParam) func(i int) bool {
	switch {
	case p.Shared != nil:
		z := zeroEntry(p.Shared.Centroids)
		return func(i int) bool { return int(p.Shared.Index[i]) == z }
	case p.Quantized != nil:
		q := p.Quantized
		gs := q.GroupSize()
		return func(i int) bool { return int32(q.Q[i]) == q.ZeroPoint[i/gs] }
	}
	return func(i int) bool { return math.Float32bits(p.Values[i]) == 0 }
}

// zeroEntry returns the index of the first codebook entry that is +0, or
// −1.
func zeroEntry(c []float32) int {
	for j, v := range c {
		if math.Float32bits(v) == 0 {
			return j
		}
	}
	return -1
}

// sparseEntries returns the flat indices of the stored elements for gap
// width bits: every nonzero element (nz, ascending), a filler zero wherever
// a gap would exceed 2^bits, and, for n > 0, an entry at the last element
// n−1 (zero if it is not in nz), which ends the gap stream.
func sparseEntries(nz []int, n, bits int) []int {
	maxGap := 1 << bits
	pos := make([]int, 0, len(nz)+1)
	prev := -1
	add := func(p int) {
		for p-prev > maxGap {
			prev += maxGap
			pos = append(pos, prev)
		}
		pos = append(pos, p)
		prev = p
	}
	for _, p := range nz {
		add(p)
	}
	if n > 0 && prev != n-1 {
		add(n - 1)
	}
	return pos
}

// encodeSparse returns the sparse encoding of p (n elements) with p's gap
// width and coding, or, for GapBits 0, the width and coding that make the
// smallest artifact.
func encodeSparse(p *CompressedParam, n int64) (Encoding, []safetensors.Tensor, error) {
	switch {
	case p.Shared != nil:
		if _, err := checkShared(p.Shared, p.Shape, n); err != nil {
			return Encoding{}, nil, err
		}
	case p.Quantized != nil:
		q := p.Quantized
		if err := q.Validate(); err != nil {
			return Encoding{}, nil, err
		}
		if !slices.Equal(q.Shape, p.Shape) {
			return Encoding{}, nil, fmt.Errorf("quantized shape %v differs from parameter shape %v", q.Shape, p.Shape)
		}
		if q.Bits != 8 {
			return Encoding{}, nil, fmt.Errorf("int%d has no sparse scheme (int8 has)", q.Bits)
		}
	default:
		if int64(len(p.Values)) != n {
			return Encoding{}, nil, fmt.Errorf("%d values for shape %v", len(p.Values), p.Shape)
		}
	}
	if p.GapBits < 0 || p.GapBits > MaxGapBits {
		return Encoding{}, nil, fmt.Errorf("GapBits %d, want 1..%d or 0 (choose)", p.GapBits, MaxGapBits)
	}
	zero := isZeroFunc(p)
	var nz []int
	for i := range int(n) {
		if !zero(i) {
			nz = append(nz, i)
		}
	}
	if p.GapBits > 0 {
		return sparseTensors(p, nz, int(n), p.GapBits, p.GapHuffman)
	}
	if int64(len(nz)) == n {
		// No zeros: every gap is 1, and one bit per entry is the least.
		return sparseTensors(p, nz, int(n), 1, false)
	}
	var best struct {
		enc   Encoding
		ts    []safetensors.Tensor
		bytes int64
	}
	for bits := 1; bits <= MaxGapBits; bits++ {
		for _, huff := range []bool{false, true} {
			enc, ts, err := sparseTensors(p, nz, int(n), bits, huff)
			if err != nil {
				return Encoding{}, nil, err
			}
			size, err := artifactBytes(p.Name, enc, ts)
			if err != nil {
				return Encoding{}, nil, err
			}
			if best.ts == nil || size < best.bytes {
				best.enc, best.ts, best.bytes = enc, ts, size
			}
		}
	}
	return best.enc, best.ts, nil
}

// sparseTensors builds the sparse encoding of p for nonzero elements nz
// (ascending flat indices) of n, gap width bits and gap coding huff.
func sparseTensors(p *CompressedParam, nz []int, n, bits int, huff bool) (Encoding, []safetensors.Tensor, error) {
	pos := sparseEntries(nz, n, bits)
	gaps := make([]uint8, len(pos))
	prev := -1
	for k, i := range pos {
		gaps[k] = uint8(i - prev - 1)
		prev = i
	}
	enc := Encoding{Scheme: p.Scheme(), Shape: cloneShape(p.Shape), Bits: bits, Axis: -1, Components: map[string]string{}}
	ts, err := indexTensors(p.Name, gaps, bits, huff, RoleGaps, RoleGapHuffman, RoleGapCodeLens, enc.Components)
	if err != nil {
		return Encoding{}, nil, err
	}
	switch {
	case p.Shared != nil:
		s := p.Shared
		idx := make([]uint8, len(pos))
		for k, i := range pos {
			idx[k] = s.Index[i]
		}
		cbits, _ := codebookBits(len(s.Centroids)) // checked by encodeSparse
		cn := componentName(p.Name, RoleCodebook)
		enc.Components[RoleCodebook] = cn
		ts = append(ts, safetensors.F32Tensor(cn, []int{len(s.Centroids)}, s.Centroids))
		its, err := indexTensors(p.Name, idx, cbits, p.Huffman, RoleIndices, RoleHuffman, RoleCodeLens, enc.Components)
		if err != nil {
			return Encoding{}, nil, err
		}
		ts = append(ts, its...)
	case p.Quantized != nil:
		q := p.Quantized
		enc.Axis, enc.Symmetric = q.Axis, q.Symmetric
		codes := make([]int8, len(pos))
		for k, i := range pos {
			codes[k] = q.Q[i]
		}
		qn := componentName(p.Name, RoleQ)
		enc.Components[RoleQ] = qn
		ts = append(ts, safetensors.I8Tensor(qn, []int{len(codes)}, codes))
		sts, err := scaleTensors(p.Name, q, enc.Components)
		if err != nil {
			return Encoding{}, nil, err
		}
		ts = append(ts, sts...)
	default:
		vals := make([]float32, len(pos))
		for k, i := range pos {
			vals[k] = p.Values[i]
		}
		// Not named after the parameter, as a dense float32 component is:
		// this tensor does not have the parameter's shape.
		vn := p.Name + "." + RoleValues
		enc.Components[RoleValues] = vn
		ts = append(ts, safetensors.F32Tensor(vn, []int{len(vals)}, vals))
	}
	return enc, ts, nil
}

// artifactBytes returns the size of a compressed artifact holding only the
// parameter name with encoding enc and components ts.
func artifactBytes(name string, enc Encoding, ts []safetensors.Tensor) (int64, error) {
	b, err := json.Marshal(map[string]Encoding{name: enc})
	if err != nil {
		return 0, err
	}
	var w countWriter
	f := &safetensors.File{Tensors: ts, Metadata: map[string]string{FormatKey: FormatCompressedV1, EncodingKey: string(b)}}
	if err := safetensors.WriteSafetensors(&w, f); err != nil {
		return 0, err
	}
	return w.n, nil
}

// countWriter counts the bytes written to it.
type countWriter struct{ n int64 }

func (w *countWriter) Write(b []byte) (int, error) {
	w.n += int64(len(b))
	return len(b), nil
}

// ChooseSparse stores p sparsely if that makes it smaller: it compares the
// size of an artifact holding p alone (header included) in p's dense
// scheme and in its sparse scheme with the best gap width and coding, sets
// p.Sparse, p.GapBits and p.GapHuffman accordingly, and returns both sizes.
// An int4 parameter has no sparse scheme: it stays dense and sparse is −1.
func (p *CompressedParam) ChooseSparse() (dense, sparse int64, err error) {
	d := *p
	d.Sparse = false
	enc, ts, err := encodeParam(&d)
	if err != nil {
		return 0, 0, fmt.Errorf("parameter %q: %w", p.Name, err)
	}
	if dense, err = artifactBytes(p.Name, enc, ts); err != nil {
		return 0, 0, err
	}
	if (p.Quantized != nil && p.Quantized.Bits != 8) || p.Int32 != nil {
		p.Sparse = false
		return dense, -1, nil
	}
	s := *p
	s.Sparse, s.GapBits = true, 0
	if enc, ts, err = encodeParam(&s); err != nil {
		return 0, 0, fmt.Errorf("parameter %q: %w", p.Name, err)
	}
	if sparse, err = artifactBytes(p.Name, enc, ts); err != nil {
		return 0, 0, err
	}
	p.Sparse = sparse < dense
	if p.Sparse {
		_, huff := enc.Components[RoleGapHuffman]
		p.GapBits, p.GapHuffman = enc.Bits, huff
	}
	return dense, sparse, nil
}

// decodeSparse validates and decodes a sparse encoding of n elements,
// taking them from the budget *left.
func decodeSparse(p CompressedParam, n int, enc Encoding, component componentFunc, roles func(allowed ...string) error, left *int64) (CompressedParam, error) {
	fail := func(format string, args ...any) (CompressedParam, error) {
		return CompressedParam{}, fmt.Errorf(format+": %w", append(args, safetensors.ErrFormat)...)
	}
	if enc.Bits < 1 || enc.Bits > MaxGapBits {
		return fail("scheme %s needs bits (the gap width) 1..%d, got %d", enc.Scheme, MaxGapBits, enc.Bits)
	}
	if int64(n) > *left {
		return CompressedParam{}, fmt.Errorf("sparse parameters decode to more than %d elements (shape %v): %w", *left, enc.Shape, safetensors.ErrLimit)
	}
	*left -= int64(n)
	_, gapHuff := enc.Components[RoleGapHuffman]
	allowed := []string{RoleGaps}
	if gapHuff {
		allowed = []string{RoleGapHuffman, RoleGapCodeLens}
	}
	_, huff := enc.Components[RoleHuffman]
	groups := 1
	switch enc.Scheme {
	case SchemeSparseInt8:
		var err error
		if groups, err = scaleGroups(enc); err != nil {
			return CompressedParam{}, err
		}
		allowed = append(allowed, RoleQ, RoleScale)
		if !enc.Symmetric {
			allowed = append(allowed, RoleZeroPoint)
		}
	case SchemeSparseCodebook, SchemeSparseFloat32:
		if enc.Axis != -1 || enc.Symmetric {
			return fail("scheme %s needs axis -1, not symmetric; got axis %d, symmetric %v", enc.Scheme, enc.Axis, enc.Symmetric)
		}
		switch {
		case enc.Scheme == SchemeSparseFloat32:
			allowed = append(allowed, RoleValues)
		case huff:
			allowed = append(allowed, RoleCodebook, RoleHuffman, RoleCodeLens)
		default:
			allowed = append(allowed, RoleCodebook, RoleIndices)
		}
	}
	if err := roles(allowed...); err != nil {
		return CompressedParam{}, err
	}
	pos, err := decodeGaps(n, enc.Bits, gapHuff, component)
	if err != nil {
		return CompressedParam{}, err
	}
	m := len(pos)
	p.Sparse, p.GapBits, p.GapHuffman = true, enc.Bits, gapHuff
	switch enc.Scheme {
	case SchemeSparseFloat32:
		t, err := component(RoleValues, m, safetensors.F32)
		if err != nil {
			return CompressedParam{}, err
		}
		vals, err := t.Float32s()
		if err != nil {
			return CompressedParam{}, err
		}
		p.Values = make([]float32, n)
		for k, i := range pos {
			p.Values[i] = vals[k]
		}
	case SchemeSparseInt8:
		t, err := component(RoleQ, m, safetensors.I8)
		if err != nil {
			return CompressedParam{}, err
		}
		codes, err := t.Int8s()
		if err != nil {
			return CompressedParam{}, err
		}
		q := &quant.Quantized{Shape: cloneShape(enc.Shape), Axis: enc.Axis, Bits: 8, Symmetric: enc.Symmetric, Q: make([]int8, n)}
		if err := decodeScales(q, groups, component); err != nil {
			return CompressedParam{}, err
		}
		if err := q.Validate(); err != nil { // zero points in range before they fill q.Q
			return fail("%v", err)
		}
		if n > 0 {
			gs := n / groups
			for i := range q.Q {
				q.Q[i] = int8(q.ZeroPoint[i/gs])
			}
		}
		for k, i := range pos {
			q.Q[i] = codes[k]
		}
		p.Quantized = q
	case SchemeSparseCodebook:
		s := &quant.Shared{}
		bits := 0
		if s.Centroids, bits, err = decodeCodebook(-1, component); err != nil {
			return CompressedParam{}, err
		}
		idx, err := decodeIndices(m, bits, huff, RoleIndices, RoleHuffman, RoleCodeLens, component)
		if err != nil {
			return CompressedParam{}, err
		}
		z := zeroEntry(s.Centroids)
		if z < 0 && m < n {
			return fail("codebook has no zero entry for the %d elements not stored", n-m)
		}
		s.Index = make([]uint8, n)
		if z > 0 {
			for i := range s.Index {
				s.Index[i] = uint8(z)
			}
		}
		for k, i := range pos {
			s.Index[i] = idx[k]
		}
		p.Shared, p.Huffman = s, huff
	}
	return p, nil
}

// decodeGaps reads the gap stream of a sparse parameter of n elements and
// returns the flat indices of its entries: ascending, the last one n−1. It
// rejects a gap running past the end, a stream ending before n−1 and
// trailing bytes or padding bits.
func decodeGaps(n, bits int, huff bool, component componentFunc) ([]int, error) {
	role := RoleGaps
	r := bitReader{}
	next := func() (uint32, error) { return r.bits(bits) }
	if huff {
		role = RoleGapHuffman
		lt, err := component(RoleGapCodeLens, 1<<bits, safetensors.U8)
		if err != nil {
			return nil, err
		}
		d, err := newHuffmanDecoder(lt.Data)
		if err != nil {
			return nil, fmt.Errorf("component %s: %v: %w", RoleGapCodeLens, err, safetensors.ErrFormat)
		}
		next = func() (uint32, error) {
			s, err := d.next(&r)
			return uint32(s), err
		}
	}
	t, err := component(role, -1, safetensors.U8)
	if err != nil {
		return nil, err
	}
	r.data = t.Data
	var pos []int
	for at := -1; at < n-1; {
		g, err := next()
		if errors.Is(err, errStreamEnd) {
			return nil, fmt.Errorf("component %s: ends after %d entries, at element %d of %d: %w", role, len(pos), at, n, safetensors.ErrFormat)
		}
		if err != nil {
			return nil, fmt.Errorf("component %s: entry %d: %v: %w", role, len(pos), err, safetensors.ErrFormat)
		}
		if at += int(g) + 1; at >= n {
			return nil, fmt.Errorf("component %s: entry %d at element %d runs past the %d elements: %w", role, len(pos), at, n, safetensors.ErrFormat)
		}
		pos = append(pos, at)
	}
	if err := r.finish(); err != nil {
		return nil, fmt.Errorf("component %s: after %d entries: %v: %w", role, len(pos), err, safetensors.ErrFormat)
	}
	return pos, nil
}
