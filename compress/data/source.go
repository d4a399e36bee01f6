package data

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
)

// The four file names of an IDX data set directory (MNIST layout). LoadFS
// accepts each with or without the .gz suffix.
const (
	TrainImagesFile = "train-images-idx3-ubyte"
	TrainLabelsFile = "train-labels-idx1-ubyte"
	TestImagesFile  = "t10k-images-idx3-ubyte"
	TestLabelsFile  = "t10k-labels-idx1-ubyte"
)

// The array names of a NumPy data set: files <name>.npy in a directory, or
// arrays in one .npz (the keras.datasets layout).
const (
	TrainImagesArray = "x_train"
	TrainLabelsArray = "y_train"
	TestImagesArray  = "x_test"
	TestLabelsArray  = "y_test"
)

// ClassesFile, if present at the top of an IDX or NumPy data set, names the
// classes one per line; their number bounds the labels. Without it a set has
// 1 + the largest training label classes.
const ClassesFile = "classes.txt"

// The split directories of an image-folder data set.
const (
	TrainDir = "train"
	TestDir  = "test"
)

// MaxClasses bounds the number of classes of a data set.
const MaxClasses = 1 << 16

// ErrData is wrapped by every error about the content of a data set
// (missing files or arrays, malformed files, labels out of range, images of
// mixed sizes): errors that reading again cannot fix.
var ErrData = errors.New("invalid data set")

// Layout names what LoadFS found.
type Layout string

// The data set layouts LoadFS reads.
const (
	LayoutIDX     Layout = "idx"
	LayoutNPY     Layout = "npy"
	LayoutNPZ     Layout = "npz"
	LayoutFolders Layout = "image-folders"
)

// Splits is a loaded data set: its training and test split, as [0, 1]
// pixels (not yet normalized), and the layout it was read from.
type Splits struct {
	Train, Test *Dataset
	Layout      Layout
}

// LoadDir reads a data set from a local directory (see LoadFS) or, when
// path is a file, from a zip or .npz archive (see LoadArchive).
func LoadDir(ctx context.Context, dir string) (*Splits, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		b, err := os.ReadFile(dir)
		if err != nil {
			return nil, err
		}
		return LoadArchive(ctx, b, dir)
	}
	return LoadFS(ctx, os.DirFS(dir), dir)
}

// LoadArchive reads a data set from a zip archive held in b: a zip of a
// data set directory (its files at the top or inside one top-level
// directory), or a NumPy .npz (itself a zip of .npy files). name labels
// errors.
func LoadArchive(ctx context.Context, b []byte, name string) (*Splits, error) {
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return nil, fmt.Errorf("%s: not a zip or .npz archive: %v: %w", name, err, ErrData)
	}
	s, err := LoadFS(ctx, zr, name)
	if err == nil && s.Layout == LayoutNPY && strings.HasSuffix(strings.ToLower(name), ".npz") {
		s.Layout = LayoutNPZ
	}
	return s, err
}

// LoadFS reads a data set from the top of fsys, recognising the layout by
// the names present (name labels errors):
//
//   - IDX: train-images-idx3-ubyte, train-labels-idx1-ubyte,
//     t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte, each raw or .gz;
//   - NumPy: x_train.npy, y_train.npy, x_test.npy and y_test.npy, or a
//     single .npz holding arrays of those names (an .npz archive given to
//     LoadArchive is read the same way);
//   - image folders: train/<class>/*.png|*.jpg and test/<class>/… with the
//     same class names; classes are numbered in sorted name order.
//
// If the top holds only one directory, the data set is looked for in it
// (the zip of a directory). Images are uint8 (scaled by 1/255) or float32
// (taken as [0, 1] values), shape [N, H, W], [N, C, H, W] or [N, H, W, C];
// labels are integers of shape [N] or [N, 1] in [0, classes). Every error
// about the content names the file and wraps ErrData.
func LoadFS(ctx context.Context, fsys fs.FS, name string) (*Splits, error) {
	s, err := loadFS(ctx, fsys, name)
	if err != nil {
		if errors.Is(err, ErrData) || ctx.Err() != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %w", err, ErrData)
	}
	return s, nil
}

func loadFS(ctx context.Context, fsys fs.FS, name string) (*Splits, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(entries) == 1 && entries[0].IsDir() && entries[0].Name() != TrainDir {
		sub, err := fs.Sub(fsys, entries[0].Name())
		if err != nil {
			return nil, err
		}
		return loadFS(ctx, sub, path.Join(name, entries[0].Name()))
	}
	has := func(n string) bool {
		return slices.ContainsFunc(entries, func(e fs.DirEntry) bool { return e.Name() == n })
	}
	var npz []string
	for _, e := range entries {
		if !e.IsDir() && strings.HasSuffix(strings.ToLower(e.Name()), ".npz") {
			npz = append(npz, e.Name())
		}
	}
	switch {
	case has(TrainImagesFile) || has(TrainImagesFile+".gz"):
		return loadIDX(fsys, name)
	case has(TrainImagesArray + ".npy"):
		return loadNPY(ctx, fsys, name, LayoutNPY)
	case len(npz) == 1:
		b, err := fs.ReadFile(fsys, npz[0])
		if err != nil {
			return nil, err
		}
		zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return nil, fmt.Errorf("%s: not an .npz archive: %v: %w", path.Join(name, npz[0]), err, ErrData)
		}
		return loadNPY(ctx, zr, path.Join(name, npz[0]), LayoutNPZ)
	case len(npz) > 1:
		return nil, fmt.Errorf("%s: %d .npz files %v; want one: %w", name, len(npz), npz, ErrData)
	case has(TrainDir):
		return loadFolders(ctx, fsys, name)
	}
	return nil, fmt.Errorf("%s: no data set found: want the IDX files %s[.gz] …, the NumPy arrays %s.npy … or one .npz, or %s/ and %s/ class folders: %w",
		name, TrainImagesFile, TrainImagesArray, TrainDir, TestDir, ErrData)
}

// loadIDX reads the four IDX files.
func loadIDX(fsys fs.FS, name string) (*Splits, error) {
	var arrays [4]*Array
	var files [4]string
	for i, base := range []string{TrainImagesFile, TrainLabelsFile, TestImagesFile, TestLabelsFile} {
		file := base + ".gz"
		if _, err := fs.Stat(fsys, file); err != nil {
			file = base
		}
		f, err := fsys.Open(file)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		files[i] = path.Join(name, file)
		m, err := ReadIDX(f, files[i], 0)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%w: %w", err, ErrData)
		}
		arrays[i] = &Array{Shape: m.Dims, Dtype: "|u1", U8: m.Data}
	}
	classes, err := readClasses(fsys, name)
	if err != nil {
		return nil, err
	}
	return assemble(name, LayoutIDX, arrays, files, classes, true)
}

// loadNPY reads the four arrays as <name>.npy files of fsys.
func loadNPY(ctx context.Context, fsys fs.FS, name string, layout Layout) (*Splits, error) {
	var arrays [4]*Array
	var files [4]string
	for i, base := range []string{TrainImagesArray, TrainLabelsArray, TestImagesArray, TestLabelsArray} {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		files[i] = path.Join(name, base+".npy")
		f, err := fsys.Open(base + ".npy")
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s: array %s is missing (want %s, %s, %s and %s): %w", name, base,
				TrainImagesArray, TrainLabelsArray, TestImagesArray, TestLabelsArray, ErrData)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", files[i], err)
		}
		a, err := ReadNPY(bufio.NewReader(f), files[i], 0)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%w: %w", err, ErrData)
		}
		arrays[i] = a
	}
	classes, err := readClasses(fsys, name)
	if err != nil {
		return nil, err
	}
	return assemble(name, layout, arrays, files, classes, false)
}

// readClasses reads the optional class-name file.
func readClasses(fsys fs.FS, name string) ([]string, error) {
	f, err := fsys.Open(ClassesFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 1<<20))
	if err != nil {
		return nil, err
	}
	var names []string
	for l := range strings.SplitSeq(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			names = append(names, l)
		}
	}
	if len(names) == 0 || len(names) > MaxClasses {
		return nil, fmt.Errorf("%s: %d class names, want 1..%d: %w", path.Join(name, ClassesFile), len(names), MaxClasses, ErrData)
	}
	return names, nil
}

// assemble turns the four arrays (train images, labels, test images,
// labels) into splits; nchw says a rank-4 image array is [N, C, H, W] (IDX)
// rather than guessed from its shape.
func assemble(name string, layout Layout, a [4]*Array, files [4]string, classNames []string, nchw bool) (*Splits, error) {
	train, err := fromArrays(name+"/train", a[0], a[1], files[0], files[1], nchw)
	if err != nil {
		return nil, err
	}
	test, err := fromArrays(name+"/test", a[2], a[3], files[2], files[3], nchw)
	if err != nil {
		return nil, err
	}
	if train.C != test.C || train.H != test.H || train.W != test.W {
		return nil, fmt.Errorf("%s: training images are %v but test images are %v: %w", name, train.SampleShape(), test.SampleShape(), ErrData)
	}
	if train.N == 0 {
		return nil, fmt.Errorf("%s: no training samples: %w", files[0], ErrData)
	}
	classes := len(classNames)
	if classes == 0 {
		classes = slices.Max(train.Labels) + 1
	}
	if classes > MaxClasses {
		return nil, fmt.Errorf("%s: label %d means %d classes, more than %d: %w", files[1], classes-1, classes, MaxClasses, ErrData)
	}
	for _, s := range []struct {
		d    *Dataset
		file string
	}{{train, files[1]}, {test, files[3]}} {
		for i, l := range s.d.Labels {
			if l >= classes {
				return nil, fmt.Errorf("%s: label %d of sample %d is out of range [0, %d): %w", s.file, l, i, classes, ErrData)
			}
		}
		s.d.Classes, s.d.ClassNames = classes, classNames
	}
	return &Splits{Train: train, Test: test, Layout: layout}, nil
}

// fromArrays builds one split from an image and a label array, scaling
// uint8 pixels to [0, 1] and reordering NHWC to NCHW.
func fromArrays(name string, x, y *Array, xfile, yfile string, nchw bool) (*Dataset, error) {
	d := &Dataset{Name: name, C: 1}
	switch {
	case len(x.Shape) == 3:
		d.N, d.H, d.W = x.Shape[0], x.Shape[1], x.Shape[2]
	case len(x.Shape) == 4 && (nchw || x.Shape[1] <= 4 && x.Shape[3] > 4):
		d.N, d.C, d.H, d.W = x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
		nchw = true
	case len(x.Shape) == 4 && x.Shape[3] <= 4 && x.Shape[1] > 4:
		d.N, d.H, d.W, d.C = x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	case len(x.Shape) == 4:
		return nil, fmt.Errorf("%s: images of shape %v: cannot tell NCHW from NHWC (channels must be at most 4 and the other side larger): %w", xfile, x.Shape, ErrData)
	default:
		return nil, fmt.Errorf("%s: images of shape %v, want [N H W], [N C H W] or [N H W C]: %w", xfile, x.Shape, ErrData)
	}
	if d.C == 0 || d.H == 0 || d.W == 0 {
		return nil, fmt.Errorf("%s: images of shape %v have no pixels: %w", xfile, x.Shape, ErrData)
	}
	switch {
	case len(y.Shape) == 1 && y.Shape[0] == d.N, len(y.Shape) == 2 && y.Shape[0] == d.N && y.Shape[1] == 1:
	default:
		return nil, fmt.Errorf("%s: labels of shape %v, want [%d] (one per image in %s): %w", yfile, y.Shape, d.N, path.Base(xfile), ErrData)
	}
	if y.F32 != nil {
		return nil, fmt.Errorf("%s: labels are %s, want an integer type: %w", yfile, y.Dtype, ErrData)
	}
	d.Labels = make([]int, d.N)
	for i := range d.Labels {
		var l int64
		if y.U8 != nil {
			l = int64(y.U8[i])
		} else {
			l = y.Int[i]
		}
		if l < 0 || l >= MaxClasses {
			return nil, fmt.Errorf("%s: label %d of sample %d is out of range [0, %d): %w", yfile, l, i, MaxClasses, ErrData)
		}
		d.Labels[i] = int(l)
	}
	if x.Int != nil {
		return nil, fmt.Errorf("%s: images are %s, want uint8 or float32: %w", xfile, x.Dtype, ErrData)
	}
	d.Images = make([]float32, x.Len())
	var pix func(i int) float32
	if x.U8 != nil {
		var lut [256]float32
		for p := range lut {
			lut[p] = float32(p) / 255
		}
		pix = func(i int) float32 { return lut[x.U8[i]] }
	} else {
		pix = func(i int) float32 { return x.F32[i] }
	}
	if nchw || d.C == 1 {
		for i := range d.Images {
			d.Images[i] = pix(i)
		}
		return d, nil
	}
	hw := d.H * d.W
	for n := 0; n < d.N; n++ {
		for p := 0; p < hw; p++ {
			for c := 0; c < d.C; c++ {
				d.Images[(n*d.C+c)*hw+p] = pix((n*hw+p)*d.C + c)
			}
		}
	}
	return d, nil
}
