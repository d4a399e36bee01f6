package data

import (
	"context"
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg" // registers JPEG with image.Decode
	_ "image/png"  // registers PNG with image.Decode
	"io/fs"
	"path"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// MaxImageSide bounds the width and height of a folder image.
const MaxImageSide = 4096

// imageFile is one image of a folder data set.
type imageFile struct {
	path  string
	label int
}

// loadFolders reads train/<class>/* and test/<class>/*.
func loadFolders(ctx context.Context, fsys fs.FS, name string) (*Splits, error) {
	classes, trainFiles, err := listClasses(fsys, name, TrainDir, nil)
	if err != nil {
		return nil, err
	}
	_, testFiles, err := listClasses(fsys, name, TestDir, classes)
	if err != nil {
		return nil, err
	}
	// First pass: headers only, to fix the size and the channel count before
	// allocating, and to reject a mismatch without decoding everything.
	all := append(slices.Clip(trainFiles), testFiles...)
	cfgs := make([]image.Config, len(all))
	err = forEach(ctx, len(all), func(i int) error {
		cfg, err := decodeConfig(fsys, all[i].path)
		if err != nil {
			return fmt.Errorf("%s: %v: %w", path.Join(name, all[i].path), err, ErrData)
		}
		cfgs[i] = cfg
		return nil
	})
	if err != nil {
		return nil, err
	}
	w, h, gray := 0, 0, true
	first := ""
	for i, f := range all {
		cfg := cfgs[i]
		if first == "" {
			if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width > MaxImageSide || cfg.Height > MaxImageSide {
				return nil, fmt.Errorf("%s: size %dx%d out of range 1..%d: %w", path.Join(name, f.path), cfg.Width, cfg.Height, MaxImageSide, ErrData)
			}
			w, h, first = cfg.Width, cfg.Height, f.path
		} else if cfg.Width != w || cfg.Height != h {
			return nil, fmt.Errorf("%s: size %dx%d differs from %dx%d of %s (every image must have the same size): %w",
				path.Join(name, f.path), cfg.Width, cfg.Height, w, h, first, ErrData)
		}
		gray = gray && (cfg.ColorModel == color.GrayModel || cfg.ColorModel == color.Gray16Model)
	}
	c := 3
	if gray {
		c = 1
	}
	if int64(len(all))*int64(c*w*h) > DefaultMaxElements {
		return nil, fmt.Errorf("%s: %d images of %dx%dx%d exceed the %d-element limit: %w", name, len(all), c, h, w, DefaultMaxElements, ErrData)
	}
	split := func(split string, files []imageFile) (*Dataset, error) {
		d := &Dataset{Name: name + "/" + split, N: len(files), C: c, H: h, W: w, Classes: len(classes), ClassNames: classes}
		d.Images = make([]float32, len(files)*c*h*w)
		d.Labels = make([]int, len(files))
		err := forEach(ctx, len(files), func(i int) error {
			f := files[i]
			if err := decodeInto(fsys, f.path, d.Images[i*c*h*w:(i+1)*c*h*w], c, w, h); err != nil {
				return fmt.Errorf("%s: %v: %w", path.Join(name, f.path), err, ErrData)
			}
			d.Labels[i] = f.label
			return nil
		})
		if err != nil {
			return nil, err
		}
		return d, nil
	}
	train, err := split(TrainDir, trainFiles)
	if err != nil {
		return nil, err
	}
	test, err := split(TestDir, testFiles)
	if err != nil {
		return nil, err
	}
	return &Splits{Train: train, Test: test, Layout: LayoutFolders}, nil
}

// listClasses lists dir/<class>/<image> in sorted order. With want nil the
// classes are the sub-directories found; otherwise every sub-directory must
// be one of want. Empty class folders and files that are not PNG or JPEG
// images are errors; hidden files are skipped.
func listClasses(fsys fs.FS, name, dir string, want []string) ([]string, []imageFile, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %v (an image-folder data set has %s/ and %s/, each with one folder per class): %w", path.Join(name, dir), err, TrainDir, TestDir, ErrData)
	}
	var classes []string
	for _, e := range entries {
		switch {
		case strings.HasPrefix(e.Name(), "."):
		case !e.IsDir():
			return nil, nil, fmt.Errorf("%s: not a class folder (%s/ holds one folder per class): %w", path.Join(name, dir, e.Name()), dir, ErrData)
		default:
			classes = append(classes, e.Name())
		}
	}
	slices.Sort(classes)
	if len(classes) == 0 {
		return nil, nil, fmt.Errorf("%s: no class folders: %w", path.Join(name, dir), ErrData)
	}
	if len(classes) > MaxClasses {
		return nil, nil, fmt.Errorf("%s: %d class folders, more than %d: %w", path.Join(name, dir), len(classes), MaxClasses, ErrData)
	}
	var files []imageFile
	for _, cl := range classes {
		label := slices.Index(classes, cl)
		if want != nil {
			if label = slices.Index(want, cl); label < 0 {
				return nil, nil, fmt.Errorf("%s: class %q is not among the %s classes %v: %w", path.Join(name, dir, cl), cl, TrainDir, want, ErrData)
			}
		}
		imgs, err := fs.ReadDir(fsys, path.Join(dir, cl))
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", path.Join(name, dir, cl), err)
		}
		n := 0
		for _, e := range imgs {
			if strings.HasPrefix(e.Name(), ".") {
				continue
			}
			p := path.Join(dir, cl, e.Name())
			switch strings.ToLower(path.Ext(e.Name())) {
			case ".png", ".jpg", ".jpeg":
			default:
				return nil, nil, fmt.Errorf("%s: not a .png, .jpg or .jpeg file: %w", path.Join(name, p), ErrData)
			}
			if e.IsDir() {
				return nil, nil, fmt.Errorf("%s: a directory, want an image: %w", path.Join(name, p), ErrData)
			}
			files = append(files, imageFile{path: p, label: label})
			n++
		}
		if n == 0 {
			return nil, nil, fmt.Errorf("%s: empty class folder: %w", path.Join(name, dir, cl), ErrData)
		}
	}
	return classes, files, nil
}

func decodeConfig(fsys fs.FS, p string) (image.Config, error) {
	f, err := fsys.Open(p)
	if err != nil {
		return image.Config{}, err
	}
	defer f.Close()
	cfg, _, err := image.DecodeConfig(f)
	return cfg, err
}

// decodeInto decodes the image at p into dst as c planes of h×w values in
// [0, 1] (c is 1 for gray, else 3: RGB, alpha dropped).
func decodeInto(fsys fs.FS, p string, dst []float32, c, w, h int) error {
	f, err := fsys.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		return err
	}
	b := img.Bounds()
	if b.Dx() != w || b.Dy() != h {
		return fmt.Errorf("decoded size %dx%d, header said %dx%d", b.Dx(), b.Dy(), w, h)
	}
	if g, ok := img.(*image.Gray); ok && c == 1 {
		for y := 0; y < h; y++ {
			row := g.Pix[y*g.Stride : y*g.Stride+w]
			for x, v := range row {
				dst[y*w+x] = float32(v) / 255
			}
		}
		return nil
	}
	hw := h * w
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			px := img.At(b.Min.X+x, b.Min.Y+y)
			if c == 1 {
				dst[y*w+x] = float32(color.Gray16Model.Convert(px).(color.Gray16).Y) / 65535
				continue
			}
			r, g, bl, _ := color.NRGBA64Model.Convert(px).RGBA()
			dst[y*w+x] = float32(r) / 65535
			dst[hw+y*w+x] = float32(g) / 65535
			dst[2*hw+y*w+x] = float32(bl) / 65535
		}
	}
	return nil
}

// forEach calls f(0..n-1) on up to GOMAXPROCS goroutines, all of which have
// returned when it does. It returns the error of the lowest index that
// failed (so the file named does not depend on scheduling), or ctx's error.
func forEach(ctx context.Context, n int, f func(i int) error) error {
	errs := make([]error, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				errs[i] = f(i)
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
