//go:build linux

package fixed

import (
	"syscall"
	"testing"
)

// tailGuarded returns a zeroed slice of n bytes that ends where an
// unreadable page begins, so that a kernel reading past its end faults
// instead of reading a neighbour's bytes.
func tailGuarded(t testing.TB, n int) []uint8 {
	t.Helper()
	ps := syscall.Getpagesize()
	size := (n+ps-1)/ps*ps + ps
	mem, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		t.Fatalf("mmap %d bytes: %v", size, err)
	}
	t.Cleanup(func() { _ = syscall.Munmap(mem) })
	if err := syscall.Mprotect(mem[size-ps:], syscall.PROT_NONE); err != nil {
		t.Fatalf("mprotect the guard page: %v", err)
	}
	return mem[size-ps-n : size-ps : size-ps]
}
