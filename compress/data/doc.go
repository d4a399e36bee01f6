// Package data reads the image-classification data sets compressq trains,
// fine-tunes, calibrates and evaluates models on, and serves them as float32
// images in NCHW mini-batches.
//
// A data set is a directory, or a zip archive of one, or a NumPy .npz (see
// LoadDir, LoadArchive and LoadFS for the layouts): IDX files (MNIST,
// Fashion-MNIST, KMNIST; raw or gzip), NumPy arrays x_train/y_train/
// x_test/y_test (.npy files or one .npz; uint8 or float32 images, NCHW or
// NHWC; integer labels), or image folders train/<class>/ and test/<class>/
// of PNG or JPEG files of one size. Every error about the content names the
// file and wraps ErrData.
//
// The loaders return pixels in [0, 1]. Preprocessing is a Transform (a
// per-channel mean and std) applied by Dataset.Normalize; Stats computes the
// one of a training split. The transform travels with the model (its
// metadata), not with code: nothing here knows MNIST's statistics.
//
// The package is pure computation and I/O on what it is given (a directory,
// an fs.FS or bytes): no network, no programs, no cache directories. MNIST
// for demos and tests comes from `compressq data mnist` (internal/mnist).
package data
