package packed

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
	d, err := newHuffmanDecoder(lengths)
	if err != nil {
		return nil, err
	}
	r := bitReader{data: stream}
	out := make([]uint8, 0, min(n, 8*len(stream)+1))
	for len(out) < n {
		s, err := d.next(&r)
		if err != nil {
			return nil, fmt.Errorf("huffman: after %d of %d symbols: %w", len(out), n, err)
		}
		out = append(out, s)
	}
	if err := r.finish(); err != nil {
		return nil, fmt.Errorf("huffman: after %d symbols: %w", n, err)
	}
	return out, nil
}

// huffmanDecoder decodes a canonical code symbol by symbol: first[l],
// count[l] and the symbols sorted by (length, symbol) give a bit-by-bit
// decoder.
type huffmanDecoder struct {
	first  [MaxHuffmanBits + 1]uint32
	count  [MaxHuffmanBits + 1]int
	offset [MaxHuffmanBits + 1]int
	sorted []uint8
}

// newHuffmanDecoder checks lengths (at most 256 symbols, a complete code)
// and builds its decoder.
func newHuffmanDecoder(lengths []uint8) (*huffmanDecoder, error) {
	codes, err := canonicalCodes(lengths)
	if err != nil {
		return nil, err
	}
	if len(lengths) > 256 {
		return nil, fmt.Errorf("huffman: %d symbols, at most 256", len(lengths))
	}
	d := &huffmanDecoder{}
	for l := 1; l <= MaxHuffmanBits; l++ {
		d.offset[l] = len(d.sorted)
		for s, sl := range lengths {
			if int(sl) == l {
				if d.count[l] == 0 {
					d.first[l] = codes[s]
				}
				d.count[l]++
				d.sorted = append(d.sorted, uint8(s))
			}
		}
	}
	return d, nil
}

// next reads one symbol from r.
func (d *huffmanDecoder) next(r *bitReader) (uint8, error) {
	code := uint32(0)
	for l := 1; l <= MaxHuffmanBits; l++ {
		bit, err := r.bits(1)
		if err != nil {
			return 0, err
		}
		code = code<<1 | bit
		if d.count[l] > 0 && code >= d.first[l] && code < d.first[l]+uint32(d.count[l]) {
			return d.sorted[d.offset[l]+int(code-d.first[l])], nil
		}
	}
	return 0, errors.New("invalid code in stream")
}

// bitReader reads a bit stream most significant bit first, bytes from
// their top bit, as HuffmanEncode and packBits write it.
type bitReader struct {
	data []byte
	pos  int // bits read
}

// errStreamEnd is returned by bitReader.bits at the end of the data.
var errStreamEnd = errors.New("stream ends early")

// bits reads the next n ≤ 32 bits as an unsigned number.
func (r *bitReader) bits(n int) (uint32, error) {
	if r.pos+n > 8*len(r.data) {
		return 0, errStreamEnd
	}
	var x uint32
	for range n {
		x = x<<1 | uint32(r.data[r.pos/8]>>(7-r.pos%8))&1
		r.pos++
	}
	return x, nil
}

// finish checks that the stream ends in the byte holding the last bit read
// and that the rest of that byte is zero.
func (r *bitReader) finish() error {
	if used := (r.pos + 7) / 8; used != len(r.data) {
		return fmt.Errorf("%d trailing bytes", len(r.data)-used)
	}
	if r.pos%8 != 0 && r.data[len(r.data)-1]&(0xff>>(r.pos%8)) != 0 {
		return errors.New("padding bits are not zero")
	}
	return nil
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
	r := bitReader{data: b}
	out := make([]uint8, n)
	for i := range out {
		x, _ := r.bits(bits) // the length check above guarantees the bits
		out[i] = uint8(x)
	}
	if err := r.finish(); err != nil {
		return nil, err
	}
	return out, nil
}
