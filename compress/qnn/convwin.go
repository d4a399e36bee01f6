package qnn

import "github.com/compressq/compressq/compress/fixed"

// convWin is how a Conv2D reads its A operand in place (fixed.GEMMWindows)
// instead of through im2row: from its input images, copied into [hp, wp,
// C] images with their padding when the convolution pads, one window row
// per output pixel. Each window segment (a kernel row of k·C bytes, or
// with dilation one tap of C bytes) is read rounded up to seg, a multiple
// of 4, so that it fills whole groups of the VNNI kernel and is read
// straight from the image: the extra bytes belong to the next pixels and
// meet zero weights (packed), so they add nothing. Each layer that copies
// has its own padded images in a workspace (slot), whose padding is
// written once, when the workspace is made.
type convWin struct {
	// win holds the window origins of l.group images' output pixels, image
	// j's at j·hp·wp·C, and the offsets of the segments from an origin.
	win    *fixed.Windows
	pads   [4]int // top, left, bottom, right
	hp, wp int
	// copied is set when the input is copied into padded images of size
	// bytes (a little more than l.group images where segments read past
	// the last one).
	copied bool
	size   int
	// packed holds the weights laid out for rounded-up segments (nil when
	// no segment is rounded: the layer's own are used).
	packed *fixed.PackedB
	// slot indexes the layer's padded images in workspace.pads.
	slot int
	// taps and init serve a depthwise Conv2D (planDepthwise): the offsets
	// of its taps from a window origin and the zero-point correction per
	// channel.
	taps []int
	init []int32
}

// planWindows returns the windows of Conv2D l (for l.group images), or nil
// when it keeps im2row: a grouped convolution whose segments would need
// rounding up.
func (l *Layer) planWindows() *convWin {
	c, h, wd := l.In[0], l.In[1], l.In[2]
	k, s, d := l.Kernel, l.Stride, max(1, l.Dilation)
	seg := k * c // one segment per kernel row
	if d > 1 {
		seg = c // one per tap
	}
	segp := (seg + 3) &^ 3
	if segp != seg && l.Groups > 1 {
		return nil
	}
	pads := l.Pads
	if l.Inputs == nil {
		pads = [4]int{l.Pad, l.Pad, l.Pad, l.Pad}
	}
	w := &convWin{pads: pads, hp: h + pads[0] + pads[2], wp: wd + pads[1] + pads[3], slot: -1}
	w.copied = pads != [4]int{} || segp != seg
	if segp != seg {
		w.packed = roundSegments(l.W.Q, l.Out[0], c, k, d, segp)
	}
	oh, ow := l.Out[1], l.Out[2]
	per := w.hp * w.wp * c
	rows := make([]int, 0, l.group*oh*ow)
	for j := range l.group {
		for oy := range oh {
			for ox := range ow {
				rows = append(rows, j*per+(oy*s*w.wp+ox*s)*c)
			}
		}
	}
	var segs []int
	for ki := range k {
		if d == 1 {
			segs = append(segs, ki*w.wp*c)
			continue
		}
		for kj := range k {
			segs = append(segs, (ki*w.wp+kj)*d*c)
		}
	}
	win, err := fixed.NewWindows(rows, segs, segp)
	if err != nil {
		panic(err) // offsets of a valid layer are not negative
	}
	w.win = win
	// Rows and segments ascend: the last window ends last.
	w.size = max(l.group*per, rows[len(rows)-1]+segs[len(segs)-1]+segp)
	return w
}

// roundSegments packs OIHW weights w [out, c·k·k] for windows whose
// segments (kernel rows of k·c, or with dilation d > 1 taps of c, in
// (ki, kj, channel) order) are rounded up to segp bytes, with zero weights
// for the bytes past each segment.
func roundSegments(w []int8, out, c, k, d, segp int) *fixed.PackedB {
	kk := k * k
	nseg := k
	if d > 1 {
		nseg = kk
	}
	kp := nseg * segp
	dst := make([]int8, out*kp)
	for o := range out {
		for ch := range c {
			for ki := range k {
				for kj := range k {
					at := ki*segp + kj*c + ch
					if d > 1 {
						at = (ki*k+kj)*segp + ch
					}
					dst[o*kp+at] = w[(o*c+ch)*kk+ki*k+kj]
				}
			}
		}
	}
	return fixed.PackBT(dst, out, kp, kp)
}

// newPads returns l's padded images for a workspace, every byte the input
// zero point (the padding stays so).
func (l *Layer) newPads() []uint8 {
	p := make([]uint8, l.win.size)
	fill(p, l.InZero)
	return p
}

// convWindows runs the GEMM of images [i0, i1) of src (each [H, W, C])
// through l's windows into acc: read in place, or first copied into the
// inside of pad, l's padded images (convWin.copied).
func (l *Layer) convWindows(src, pad []uint8, i0, i1 int, acc []int32, opt fixed.Options) {
	w := l.win
	c, h, wd := l.In[0], l.In[1], l.In[2]
	inPer := c * h * wd
	a := src[i0*inPer : i1*inPer]
	if w.copied {
		per := w.hp * w.wp * c
		a = pad
		for j := range i1 - i0 {
			padImage(a[j*per:(j+1)*per], src[(i0+j)*inPer:(i0+j+1)*inPer], c, h, wd, w)
		}
	}
	b := l.packed
	if w.packed != nil {
		b = w.packed
	}
	np := l.Out[1] * l.Out[2]
	fixed.GEMMWindows((i1-i0)*np, a, w.win, l.InZero, b, acc, l.Out[0], opt)
}

// padImage writes the [h, wd, c] image src into the inside of dst [hp,
// wp, c], whose padding already holds the zero point.
func padImage(dst, src []uint8, c, h, wd int, w *convWin) {
	rowBytes, left, run := w.wp*c, w.pads[1]*c, wd*c
	for y := range h {
		copy(dst[(w.pads[0]+y)*rowBytes+left:][:run], src[y*run:(y+1)*run])
	}
}

// planDepthwise returns how depthwise Conv2D l reads its input: one image
// at a time, copied into a padded image when it pads, each output row's
// accumulators summed over the taps by fixed.DepthwiseRows. Taps in the
// padding read the input zero point, so with the correction
// init[j] = −InZero·Σ_t w[t][j] every tap adds (x − InZero)·w as the
// reference does for the taps inside the image (and zero for the others);
// the int32 sums wrap alike.
func (l *Layer) planDepthwise() *convWin {
	c, h, wd := l.In[0], l.In[1], l.In[2]
	k, d := l.Kernel, max(1, l.Dilation)
	w := &convWin{pads: l.Pads, hp: h + l.Pads[0] + l.Pads[2], wp: wd + l.Pads[1] + l.Pads[3], slot: -1}
	w.copied = l.Pads != [4]int{}
	w.size = w.hp * w.wp * c
	for ki := range k {
		for kj := range k {
			w.taps = append(w.taps, (ki*w.wp+kj)*d*c)
		}
	}
	w.init = make([]int32, c)
	for t := range k * k {
		for j := range c {
			w.init[j] -= int32(l.InZero) * l.dw[t*c+j]
		}
	}
	return w
}

// depthwise runs a depthwise Conv2D on one [H, W, C] image src into dst
// [oh, ow, C], through pad (its padded copy, when the layer pads): each
// output row's accumulators by fixed.DepthwiseRows into acc, then
// requantized.
func (l *Layer) depthwise(dst, src, pad []uint8, acc []int32) {
	w := l.win
	c, h, wd := l.In[0], l.In[1], l.In[2]
	oh, ow, s := l.Out[1], l.Out[2], l.Stride
	a := src
	if w.copied {
		padImage(pad, src, c, h, wd, w)
		a = pad
	}
	row := acc[:ow*c]
	for oy := range oh {
		fixed.DepthwiseRows(row, a[oy*s*w.wp*c:], ow, s*c, w.taps, l.dw, w.init, c)
		l.rs.Uint8Rows(dst[oy*ow*c:(oy+1)*ow*c], row, c)
	}
}
