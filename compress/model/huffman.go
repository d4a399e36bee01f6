package model

import (
	"container/heap"
	"errors"
	"fmt"
)

// MaxHuffmanBits is the longest code compressq writes or accepts.
const MaxHuffmanBits = 24

// HuffmanLengths returns canonical Huffman code lengths for symbol counts
// freq (one per symbol; 0 = unused symbol, length 0). A single used symbol
// gets length 1. Lengths are limited to MaxHuffmanBits by halving the
// counts (keeping them ≥ 1) until the tree is shallow enough.
func HuffmanLengths(freq []int64) []uint8 {
	f := append([]int64(nil), freq...)
	for {
		l, depth := huffmanTree(f)
		if depth <= MaxHuffmanBits {
			return l
		}
		for i, v := range f {
			if v > 0 {
				f[i] = max(1, v/2)
			}
		}
	}
}

type hnode struct {
	w       int64
	sym     int
	l, r    *hnode
	ordinal int
}

type hheap []*hnode

func (h hheap) Len() int { return len(h) }
func (h hheap) Less(i, j int) bool {
	if h[i].w != h[j].w {
		return h[i].w < h[j].w
	}
	return h[i].ordinal < h[j].ordinal
}
func (h hheap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *hheap) Push(x any)   { *h = append(*h, x.(*hnode)) }
func (h *hheap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// huffmanTree builds the tree deterministically and returns the lengths
// and the maximum depth.
func huffmanTree(freq []int64) ([]uint8, int) {
	lengths := make([]uint8, len(freq))
	h := &hheap{}
	n := 0
	for s, w := range freq {
		if w > 0 {
			heap.Push(h, &hnode{w: w, sym: s, ordinal: n})
			n++
		}
	}
	switch h.Len() {
	case 0:
		return lengths, 0
	case 1:
		lengths[(*h)[0].sym] = 1
		return lengths, 1
	}
	for h.Len() > 1 {
		a, b := heap.Pop(h).(*hnode), heap.Pop(h).(*hnode)
		heap.Push(h, &hnode{w: a.w + b.w, sym: -1, l: a, r: b, ordinal: n})
		n++
	}
	depth := 0
	var walk func(x *hnode, d int)
	walk = func(x *hnode, d int) {
		if x.sym >= 0 {
			lengths[x.sym] = uint8(d)
			depth = max(depth, d)
			return
		}
		walk(x.l, d+1)
		walk(x.r, d+1)
	}
	walk(heap.Pop(h).(*hnode), 0)
	return lengths, depth
}

// canonicalCodes assigns canonical codes (shorter codes first, then by
// symbol) to lengths. It checks that the lengths form a complete prefix
// code (Kraft sum exactly 1), or a single symbol of length 1.
func canonicalCodes(lengths []uint8) ([]uint32, error) {
	var count [MaxHuffmanBits + 1]int
	used := 0
	for s, l := range lengths {
		if l > MaxHuffmanBits {
			return nil, fmt.Errorf("huffman: symbol %d has code length %d > %d", s, l, MaxHuffmanBits)
		}
		if l > 0 {
			count[l]++
			used++
		}
	}
	if used == 0 {
		return nil, errors.New("huffman: no symbol has a code")
	}
	if used == 1 {
		for _, l := range lengths {
			if l > 1 {
				return nil, errors.New("huffman: a single symbol must have length 1")
			}
		}
	} else {
		// Kraft sum Σ 2^(MaxBits−l) must equal 2^MaxBits exactly.
		var kraft uint64
		for l := 1; l <= MaxHuffmanBits; l++ {
			kraft += uint64(count[l]) << (MaxHuffmanBits - l)
		}
		if kraft != 1<<MaxHuffmanBits {
			return nil, errors.New("huffman: code lengths do not form a complete prefix code")
		}
	}
	var next [MaxHuffmanBits + 2]uint32
	code := uint32(0)
	for l := 1; l <= MaxHuffmanBits; l++ {
		code = (code + uint32(count[l-1])) << 1
		next[l] = code
	}
	codes := make([]uint32, len(lengths))
	for s, l := range lengths {
		if l > 0 {
			codes[s] = next[l]
			next[l]++
		}
	}
	return codes, nil
}

// HuffmanEncode writes the symbols with the canonical code of lengths,
// most significant code bit first, bytes filled from their top bit; the
// last byte is padded with zero bits.
func HuffmanEncode(symbols []uint8, lengths []uint8) ([]byte, error) {
	codes, err := canonicalCodes(lengths)
	if err != nil {
		return nil, err
	}
	var out []byte
	var acc uint64
	nbits := 0
	for i, s := range symbols {
		if int(s) >= len(lengths) || lengths[s] == 0 {
			return nil, fmt.Errorf("huffman: symbol %d at %d has no code", s, i)
		}
		acc = acc<<lengths[s] | uint64(codes[s])
		nbits += int(lengths[s])
		for nbits >= 8 {
			out = append(out, byte(acc>>(nbits-8)))
			nbits -= 8
		}
	}
	if nbits > 0 {
		out = append(out, byte(acc<<(8-nbits)))
	}
	return out, nil
}

// HuffmanDecode decodes exactly n symbols from stream with the canonical
// code of lengths. It fails on an invalid code, a stream that ends early,
// trailing bytes, or non-zero padding bits.
func HuffmanDecode(stream []byte, lengths []uint8, n int) ([]uint8, error) {
	codes, err := canonicalCodes(lengths)
	if err != nil {
		return nil, err
	}
	if len(lengths) > 256 {
		return nil, fmt.Errorf("huffman: %d symbols, at most 256", len(lengths))
	}
	// first[l], count[l] and the symbols sorted by (length, symbol) give a
	// bit-by-bit canonical decoder.
	var first [MaxHuffmanBits + 1]uint32
	var count [MaxHuffmanBits + 1]int
	var offset [MaxHuffmanBits + 1]int
	var sorted []uint8
	for l := 1; l <= MaxHuffmanBits; l++ {
		offset[l] = len(sorted)
		for s, sl := range lengths {
			if int(sl) == l {
				if count[l] == 0 {
					first[l] = codes[s]
				}
				count[l]++
				sorted = append(sorted, uint8(s))
			}
		}
	}
	out := make([]uint8, 0, min(n, 8*len(stream)+1))
	pos := 0 // bit position
	total := 8 * len(stream)
	for len(out) < n {
		code, l := uint32(0), 0
		for {
			if pos >= total {
				return nil, fmt.Errorf("huffman: stream ends after %d of %d symbols", len(out), n)
			}
			bit := uint32(stream[pos/8]>>(7-pos%8)) & 1
			pos++
			code = code<<1 | bit
			l++
			if l > MaxHuffmanBits {
				return nil, errors.New("huffman: invalid code in stream")
			}
			if count[l] > 0 && code >= first[l] && code < first[l]+uint32(count[l]) {
				out = append(out, sorted[offset[l]+int(code-first[l])])
				break
			}
		}
	}
	if (pos+7)/8 != len(stream) {
		return nil, fmt.Errorf("huffman: %d trailing bytes after %d symbols", len(stream)-(pos+7)/8, n)
	}
	if pos%8 != 0 && stream[len(stream)-1]&(0xff>>(pos%8)) != 0 {
		return nil, errors.New("huffman: padding bits are not zero")
	}
	return out, nil
}

// packBits stores each value (< 2^bits) in bits bits, most significant
// first, as HuffmanEncode orders its bits.
func packBits(v []uint8, bits int) []byte {
	out := make([]byte, (len(v)*bits+7)/8)
	pos := 0
	for _, x := range v {
		for b := bits - 1; b >= 0; b-- {
			if x>>b&1 != 0 {
				out[pos/8] |= 0x80 >> (pos % 8)
			}
			pos++
		}
	}
	return out
}

// unpackBits is the inverse of packBits for n values; padding must be 0.
func unpackBits(b []byte, bits, n int) ([]uint8, error) {
	if len(b) != (n*bits+7)/8 {
		return nil, fmt.Errorf("%d bytes cannot hold exactly %d %d-bit indices", len(b), n, bits)
	}
	out := make([]uint8, n)
	pos := 0
	for i := range out {
		var x uint8
		for range bits {
			x = x<<1 | (b[pos/8]>>(7-pos%8))&1
			pos++
		}
		out[i] = x
	}
	if pos%8 != 0 && b[len(b)-1]&(0xff>>(pos%8)) != 0 {
		return nil, errors.New("padding bits are not zero")
	}
	return out, nil
}
