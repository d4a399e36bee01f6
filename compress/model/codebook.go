package model

import (
	"fmt"
	"math"

	"github.com/compressq/compressq/compress/quant"
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

// encodeShared returns the codebook encoding of a shared-weight parameter
// with n elements.
func encodeShared(p *CompressedParam, n int64) (Encoding, []Tensor, error) {
	s := p.Shared
	bits, err := codebookBits(len(s.Centroids))
	if err != nil {
		return Encoding{}, nil, err
	}
	if int64(len(s.Index)) != n {
		return Encoding{}, nil, fmt.Errorf("%d indices for shape %v", len(s.Index), p.Shape)
	}
	for j, c := range s.Centroids {
		if math.IsNaN(float64(c)) || math.IsInf(float64(c), 0) {
			return Encoding{}, nil, fmt.Errorf("codebook entry %d is %v", j, c)
		}
	}
	if s.ZeroCluster && s.Centroids[0] != 0 {
		return Encoding{}, nil, fmt.Errorf("zero cluster with codebook[0] = %v", s.Centroids[0])
	}
	freq := make([]int64, len(s.Centroids))
	for i, j := range s.Index {
		if int(j) >= len(s.Centroids) {
			return Encoding{}, nil, fmt.Errorf("index %d at element %d outside the codebook of %d", j, i, len(s.Centroids))
		}
		freq[j]++
	}
	enc := Encoding{Scheme: SchemeCodebook, Shape: cloneShape(p.Shape), Bits: bits, Axis: -1, Components: map[string]string{}}
	cn := componentName(p.Name, RoleCodebook)
	ts := []Tensor{F32Tensor(cn, []int{len(s.Centroids)}, s.Centroids)}
	enc.Components[RoleCodebook] = cn
	if !p.Huffman {
		in := componentName(p.Name, RoleIndices)
		packed := packBits(s.Index, bits)
		ts = append(ts, Tensor{Name: in, DType: U8, Shape: []int{len(packed)}, Data: packed})
		enc.Components[RoleIndices] = in
		return enc, ts, nil
	}
	lengths := HuffmanLengths(freq)
	if n == 0 {
		lengths[0] = 1 // an empty tensor still needs a valid code table
	}
	stream, err := HuffmanEncode(s.Index, lengths)
	if err != nil {
		return Encoding{}, nil, err
	}
	hn, ln := componentName(p.Name, RoleHuffman), componentName(p.Name, RoleCodeLens)
	ts = append(ts, Tensor{Name: hn, DType: U8, Shape: []int{len(stream)}, Data: stream},
		Tensor{Name: ln, DType: U8, Shape: []int{len(lengths)}, Data: lengths})
	enc.Components[RoleHuffman], enc.Components[RoleCodeLens] = hn, ln
	return enc, ts, nil
}

// decodeShared validates and decodes a codebook encoding.
func decodeShared(p CompressedParam, n int, enc Encoding, component func(role string, numel int, dtypes ...DType) (*Tensor, error), roles func(allowed ...string) error) (CompressedParam, error) {
	fail := func(format string, args ...any) (CompressedParam, error) {
		return CompressedParam{}, fmt.Errorf(format+": %w", append(args, ErrFormat)...)
	}
	if enc.Bits < 1 || enc.Bits > 8 || enc.Axis != -1 || enc.Symmetric {
		return fail("codebook encoding needs bits 1..8, axis -1, not symmetric; got bits %d, axis %d, symmetric %v", enc.Bits, enc.Axis, enc.Symmetric)
	}
	k := 1 << enc.Bits
	_, huff := enc.Components[RoleHuffman]
	allowed := []string{RoleCodebook, RoleIndices}
	if huff {
		allowed = []string{RoleCodebook, RoleHuffman, RoleCodeLens}
	}
	if err := roles(allowed...); err != nil {
		return CompressedParam{}, err
	}
	ct, err := component(RoleCodebook, k, F32)
	if err != nil {
		return CompressedParam{}, err
	}
	s := &quant.Shared{}
	if s.Centroids, err = ct.Float32s(); err != nil {
		return CompressedParam{}, err
	}
	for j, c := range s.Centroids {
		if math.IsNaN(float64(c)) || math.IsInf(float64(c), 0) {
			return fail("codebook entry %d is %v", j, c)
		}
	}
	if !huff {
		t, err := component(RoleIndices, (n*enc.Bits+7)/8, U8)
		if err != nil {
			return CompressedParam{}, err
		}
		if s.Index, err = unpackBits(t.Data, enc.Bits, n); err != nil {
			return fail("component indices: %v", err)
		}
	} else {
		lt, err := component(RoleCodeLens, k, U8)
		if err != nil {
			return CompressedParam{}, err
		}
		ht, err := component(RoleHuffman, -1, U8)
		if err != nil {
			return CompressedParam{}, err
		}
		// A code of at least one bit per symbol bounds the stream from below.
		if len(ht.Data) < (n+7)/8 {
			return fail("component huffman has %d bytes, too few for %d symbols", len(ht.Data), n)
		}
		if s.Index, err = HuffmanDecode(ht.Data, lt.Data, n); err != nil {
			return fail("component huffman: %v", err)
		}
		p.Huffman = true
	}
	if len(s.Index) == 0 {
		s.Index = []uint8{}
	}
	p.Shared = s
	return p, nil
}
