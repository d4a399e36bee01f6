package qnn

import "github.com/compressq/compressq/compress/fixed"

// convWin is how a Conv2D reads its A operand in place (fixed.GEMMWindows)
// instead of through im2row: from its input images, copied into [hp, wp,
// cp] images with their padding when the convolution pads or cp > C, one
// window row per output pixel. cp is C rounded up to a multiple of 4, so
// that every window segment fills whole groups of the VNNI kernel and is
// read straight from the image; the extra channels hold the input zero
// point and meet zero weights (packed), so they add nothing. Each such
// layer has its own padded images in a workspace (slot), whose padding is
// written once, when the workspace is made.
type convWin struct {
	// win holds the window origins of l.group images' output pixels, image
	// j's at j·hp·wp·cp, and the offsets of the kernel rows (or, with
	// dilation, taps) from an origin.
	win        *fixed.Windows
	pads       [4]int // top, left, bottom, right
	hp, wp, cp int
	// packed holds the weights with cp input channels when cp > C (else
	// the layer's own are used).
	packed *fixed.PackedB
	// slot indexes the layer's padded images in workspace.pads.
	slot int
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
	w := &convWin{pads: pads, hp: h + pads[0] + pads[2], wp: wd + pads[1] + pads[3], cp: cp, slot: -1}
	if cp != c {
		w.packed = padChannels(l.W.Q, l.Out[0], c, cp, k)
	}
	oh, ow := l.Out[1], l.Out[2]
	per := w.hp * w.wp * cp
	rows := make([]int, 0, l.group*oh*ow)
	for j := range l.group {
		for oy := range oh {
			for ox := range ow {
				rows = append(rows, j*per+(oy*s*w.wp+ox*s)*cp)
			}
		}
	}
	var segs []int
	seg := k * cp
	if d == 1 {
		for ki := range k {
			segs = append(segs, ki*w.wp*cp)
		}
	} else {
		seg = cp
		for ki := range k {
			for kj := range k {
				segs = append(segs, (ki*w.wp+kj)*d*cp)
			}
		}
	}
	win, err := fixed.NewWindows(rows, segs, seg)
	if err != nil {
		panic(err) // offsets of a valid layer are not negative
	}
	w.win = win
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

// newPads returns l's padded images for a workspace, every byte the input
// zero point (the padding and extra channels stay so).
func (l *Layer) newPads() []uint8 {
	w := l.win
	p := make([]uint8, l.group*w.hp*w.wp*w.cp)
	fill(p, l.InZero)
	return p
}

// convWindows runs the GEMM of images [i0, i1) of src (each [H, W, C])
// through l's windows into acc: the images copied into the inside of
// pad, l's padded images, first, unless the convolution does not pad.
func (l *Layer) convWindows(src, pad []uint8, i0, i1 int, acc []int32, opt fixed.Options) {
	w := l.win
	c, h, wd := l.In[0], l.In[1], l.In[2]
	inPer := c * h * wd
	a := src[i0*inPer : i1*inPer]
	if w.padded() {
		per := w.hp * w.wp * w.cp
		a = pad[:(i1-i0)*per]
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
// wp, cp], whose padding and channels c…cp−1 already hold the zero point.
func padImage(dst, src []uint8, c, h, wd int, w *convWin) {
	cp := w.cp
	rowBytes, left := w.wp*cp, w.pads[1]*cp
	for y := range h {
		d := dst[(w.pads[0]+y)*rowBytes+left:][:wd*cp]
		s := src[y*wd*c : (y+1)*wd*c]
		switch {
		case cp == c:
			copy(d, s)
		case c == 1:
			for x, v := range s {
				d[x*cp] = v
			}
		default:
			for x := range wd {
				copy(d[x*cp:x*cp+c], s[x*c:(x+1)*c])
			}
		}
	}
}
