package qnn

import "github.com/compressq/compressq/compress/fixed"

// convWin is how a Conv2D reads its A operand in place (fixed.GEMMWindows)
// instead of through im2row: from its input images, copied with their
// padding into [hp, wp, cp] images when the convolution pads or cp > C,
// one window row per output pixel. cp is C rounded up to a multiple of 4,
// so that every window segment fills whole groups of the VNNI kernel and
// is read straight from the image; the extra channels hold the input zero
// point and meet zero weights (packed), so they add nothing.
type convWin struct {
	// rows holds the window origins of l.group images' output pixels,
	// image j's at j·hp·wp·cp; segs the offsets of the kernel rows (or,
	// with dilation, taps) from an origin, each seg bytes long.
	rows, segs []int
	seg        int
	pads       [4]int // top, left, bottom, right
	hp, wp, cp int
	// packed holds the weights with cp input channels when cp > C (else
	// the layer's own are used).
	packed *fixed.PackedB
}

// padded reports whether the input must be copied into padded images.
func (w *convWin) padded() bool { return w.pads != [4]int{} || w.packed != nil }

// planWindows returns the windows of Conv2D l (for l.group images), or nil
// when it keeps im2row: a grouped convolution whose input channels are not
// a multiple of 4.
func (l *Layer) planWindows() *convWin {
	c, h, wd := l.In[0], l.In[1], l.In[2]
	cp := (c + 3) &^ 3
	if cp != c && l.Groups > 1 {
		return nil
	}
	k, s, d := l.Kernel, l.Stride, max(1, l.Dilation)
	pads := l.Pads
	if l.Inputs == nil {
		pads = [4]int{l.Pad, l.Pad, l.Pad, l.Pad}
	}
	w := &convWin{pads: pads, hp: h + pads[0] + pads[2], wp: wd + pads[1] + pads[3], cp: cp}
	if cp != c {
		w.packed = padChannels(l.W.Q, l.Out[0], c, cp, k)
	}
	c = cp
	oh, ow := l.Out[1], l.Out[2]
	per := w.hp * w.wp * c
	w.rows = make([]int, 0, l.group*oh*ow)
	for j := range l.group {
		for oy := range oh {
			for ox := range ow {
				w.rows = append(w.rows, j*per+(oy*s*w.wp+ox*s)*c)
			}
		}
	}
	if d == 1 {
		w.seg = k * c
		for ki := range k {
			w.segs = append(w.segs, ki*w.wp*c)
		}
		return w
	}
	w.seg = c
	for ki := range k {
		for kj := range k {
			w.segs = append(w.segs, (ki*w.wp+kj)*d*c)
		}
	}
	return w
}

// padChannels packs OIHW weights w [out, c·k·k] for GEMMWindows over
// images of cp ≥ c channels: in (ki, kj, channel) order with zero weights
// for the channels from c on.
func padChannels(w []int8, out, c, cp, k int) *fixed.PackedB {
	kk := k * k
	dst := make([]int8, out*kk*cp)
	for o := range out {
		for ch := range c {
			for t := range kk {
				dst[(o*kk+t)*cp+ch] = w[(o*c+ch)*kk+t]
			}
		}
	}
	return fixed.PackBT(dst, out, kk*cp, kk*cp)
}

// padSize returns the bytes of padded input images a call of l needs.
func (l *Layer) padSize() int {
	if l.win == nil || !l.win.padded() {
		return 0
	}
	return l.group * l.win.hp * l.win.wp * l.win.cp
}

// convWindows runs the GEMM of images [i0, i1) of src (each [H, W, C])
// through l's windows into acc: the images padded with the input zero
// point into pad first, unless the convolution does not pad.
func (l *Layer) convWindows(src, pad []uint8, i0, i1 int, acc []int32, opt fixed.Options) {
	w := l.win
	c, h, wd := l.In[0], l.In[1], l.In[2]
	inPer := c * h * wd
	a := src[i0*inPer : i1*inPer]
	if w.padded() {
		per := w.hp * w.wp * w.cp
		a = pad[:(i1-i0)*per]
		for j := range i1 - i0 {
			padImage(a[j*per:(j+1)*per], src[(i0+j)*inPer:(i0+j+1)*inPer], c, h, wd, w, l.InZero)
		}
	}
	b := l.packed
	if w.packed != nil {
		b = w.packed
	}
	np := l.Out[1] * l.Out[2]
	fixed.GEMMWindows(a, fixed.Windows{Rows: w.rows[:(i1-i0)*np], Segs: w.segs, Len: w.seg}, l.InZero, b, acc, l.Out[0], opt)
}

// padImage writes the [h, wd, c] image src into dst [hp, wp, cp] with
// w's padding and channels c…cp−1 filled with zero.
func padImage(dst, src []uint8, c, h, wd int, w *convWin, zero uint8) {
	cp := w.cp
	rowBytes, inRow := w.wp*cp, wd*cp
	fill(dst[:w.pads[0]*rowBytes], zero)
	fill(dst[(w.pads[0]+h)*rowBytes:], zero)
	left, right := w.pads[1]*cp, w.pads[3]*cp
	for y := range h {
		d := dst[(w.pads[0]+y)*rowBytes : (w.pads[0]+y+1)*rowBytes]
		fill(d[:left], zero)
		fill(d[left+inRow:left+inRow+right], zero)
		d = d[left : left+inRow]
		s := src[y*wd*c : (y+1)*wd*c]
		if cp == c {
			copy(d, s)
			continue
		}
		for x := range wd {
			p := d[x*cp : (x+1)*cp]
			copy(p, s[x*c:(x+1)*c])
			fill(p[c:], zero)
		}
	}
}
