//go:build !amd64 || purego

package kernels

// asmImpls returns no assembly paths: this build has none.
func asmImpls() []namedSgemm { return nil }
