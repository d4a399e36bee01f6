// Package kernels holds the fp32 compute kernels of compressq's model engine:
// matrix multiplication, im2col/col2im for convolution, and pooling.
//
// All functions work on raw row-major float32 slices; shapes are passed
// explicitly and checked at the boundary. The package is pure computation: it
// imports no queue, Redis or metrics code and keeps no global state beyond the
// CPU features read once at start-up.
package kernels
