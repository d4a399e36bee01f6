package packed

import (
	"fmt"
	"math"

	"github.com/compressq/compressq/compress/quant"
	"github.com/compressq/compressq/compress/safetensors"
)

// codebookBits returns log2(k) for a codebook of k entries, which must be a
// power of two in [2, 256].
func codebookBits(k int) (int, error) {
	for b := 1; b <= 8; b++ {
		if k == 1<<b {
			return b, nil
		}
	}
	return 0, fmt.Errorf("codebook has %d entries, want a power of two from 2 to 256", k)
}

// checkShared validates shared weights for writing: a power-of-two
// codebook of finite values, n indices inside it, and codebook[0] = 0 when
// ZeroCluster is set. It returns log2 of the codebook size.
func checkShared(s *quant.Shared, shape []int, n int64) (int, error) {
	bits, err := codebookBits(len(s.Centroids))
	if err != nil {
		return 0, err
	}
	if int64(len(s.Index)) != n {
		return 0, fmt.Errorf("%d indices for shape %v", len(s.Index), shape)
	}
	for j, c := range s.Centroids {
		if math.IsNaN(float64(c)) || math.IsInf(float64(c), 0) {
			return 0, fmt.Errorf("codebook entry %d is %v", j, c)
		}
	}
	if s.ZeroCluster && s.Centroids[0] != 0 {
		return 0, fmt.Errorf("zero cluster with codebook[0] = %v", s.Centroids[0])
	}
	for i, j := range s.Index {
		if int(j) >= len(s.Centroids) {
			return 0, fmt.Errorf("index %d at element %d outside the codebook of %d", j, i, len(s.Centroids))
		}
	}
	return bits, nil
}

// encodeShared returns the codebook encoding of a shared-weight parameter
// with n elements.
func encodeShared(p *CompressedParam, n int64) (Encoding, []safetensors.Tensor, error) {
	s := p.Shared
	bits, err := checkShared(s, p.Shape, n)
	if err != nil {
		return Encoding{}, nil, err
	}
	enc := Encoding{Scheme: SchemeCodebook, Shape: cloneShape(p.Shape), Bits: bits, Axis: -1, Components: map[string]string{}}
	cn := componentName(p.Name, RoleCodebook)
	ts := []safetensors.Tensor{safetensors.F32Tensor(cn, []int{len(s.Centroids)}, s.Centroids)}
	enc.Components[RoleCodebook] = cn
	its, err := indexTensors(p.Name, s.Index, bits, p.Huffman, RoleIndices, RoleHuffman, RoleCodeLens, enc.Components)
	if err != nil {
		return Encoding{}, nil, err
	}
	return enc, append(ts, its...), nil
}

// indexTensors returns the components holding symbols idx (each < 2^bits)
// and records them in comps: packed at bits each under role fixed, or
// Huffman coded under roles huff and lens (the code lengths of the 2^bits
// symbols). Codebook indices and sparse position gaps are both stored this
// way.
func indexTensors(param string, idx []uint8, bits int, huffman bool, fixed, huff, lens string, comps map[string]string) ([]safetensors.Tensor, error) {
	if !huffman {
		name := componentName(param, fixed)
		packed := packBits(idx, bits)
		comps[fixed] = name
		return []safetensors.Tensor{{Name: name, DType: safetensors.U8, Shape: []int{len(packed)}, Data: packed}}, nil
	}
	freq := make([]int64, 1<<bits)
	for _, j := range idx {
		freq[j]++
	}
	lengths := HuffmanLengths(freq)
	if len(idx) == 0 {
		lengths[0] = 1 // an empty stream still needs a valid code table
	}
	stream, err := HuffmanEncode(idx, lengths)
	if err != nil {
		return nil, err
	}
	hn, ln := componentName(param, huff), componentName(param, lens)
	comps[huff], comps[lens] = hn, ln
	return []safetensors.Tensor{{Name: hn, DType: safetensors.U8, Shape: []int{len(stream)}, Data: stream},
		{Name: ln, DType: safetensors.U8, Shape: []int{len(lengths)}, Data: lengths}}, nil
}

// componentFunc fetches the tensor of a role, checking its dtype and
// element count (any count when numel < 0); see decodeParam.
type componentFunc func(role string, numel int, dtypes ...safetensors.DType) (*safetensors.Tensor, error)

// decodeIndices reads m symbols of bits each stored by indexTensors: from
// role fixed, or, when huffman, from roles huff and lens.
func decodeIndices(m, bits int, huffman bool, fixed, huff, lens string, component componentFunc) ([]uint8, error) {
	if !huffman {
		t, err := component(fixed, (m*bits+7)/8, safetensors.U8)
		if err != nil {
			return nil, err
		}
		idx, err := unpackBits(t.Data, bits, m)
		if err != nil {
			return nil, fmt.Errorf("component %s: %v: %w", fixed, err, safetensors.ErrFormat)
		}
		return idx, nil
	}
	lt, err := component(lens, 1<<bits, safetensors.U8)
	if err != nil {
		return nil, err
	}
	ht, err := component(huff, -1, safetensors.U8)
	if err != nil {
		return nil, err
	}
	// A code of at least one bit per symbol bounds the stream from below.
	if len(ht.Data) < (m+7)/8 {
		return nil, fmt.Errorf("component %s has %d bytes, too few for %d symbols: %w", huff, len(ht.Data), m, safetensors.ErrFormat)
	}
	idx, err := HuffmanDecode(ht.Data, lt.Data, m)
	if err != nil {
		return nil, fmt.Errorf("component %s: %v: %w", huff, err, safetensors.ErrFormat)
	}
	return idx, nil
}

// decodeCodebook reads the codebook component: k entries when k > 0, else
// any power of two from 2 to 256; every entry finite. It returns the
// entries and log2 of their count.
func decodeCodebook(k int, component componentFunc) ([]float32, int, error) {
	ct, err := component(RoleCodebook, k, safetensors.F32)
	if err != nil {
		return nil, 0, err
	}
	bits, err := codebookBits(ct.Numel())
	if err != nil {
		return nil, 0, fmt.Errorf("component %s: %v: %w", RoleCodebook, err, safetensors.ErrFormat)
	}
	c, err := ct.Float32s()
	if err != nil {
		return nil, 0, err
	}
	for j, v := range c {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, 0, fmt.Errorf("codebook entry %d is %v: %w", j, v, safetensors.ErrFormat)
		}
	}
	return c, bits, nil
}

// decodeShared validates and decodes a codebook encoding.
func decodeShared(p CompressedParam, n int, enc Encoding, component componentFunc, roles func(allowed ...string) error) (CompressedParam, error) {
	if enc.Bits < 1 || enc.Bits > 8 || enc.Axis != -1 || enc.Symmetric {
		return CompressedParam{}, fmt.Errorf("codebook encoding needs bits 1..8, axis -1, not symmetric; got bits %d, axis %d, symmetric %v: %w", enc.Bits, enc.Axis, enc.Symmetric, safetensors.ErrFormat)
	}
	_, huff := enc.Components[RoleHuffman]
	allowed := []string{RoleCodebook, RoleIndices}
	if huff {
		allowed = []string{RoleCodebook, RoleHuffman, RoleCodeLens}
	}
	if err := roles(allowed...); err != nil {
		return CompressedParam{}, err
	}
	s := &quant.Shared{}
	var err error
	if s.Centroids, _, err = decodeCodebook(1<<enc.Bits, component); err != nil {
		return CompressedParam{}, err
	}
	if s.Index, err = decodeIndices(n, enc.Bits, huff, RoleIndices, RoleHuffman, RoleCodeLens, component); err != nil {
		return CompressedParam{}, err
	}
	if len(s.Index) == 0 {
		s.Index = []uint8{}
	}
	p.Shared, p.Huffman = s, huff
	return p, nil
}
