//go:build !linux

package fixed

import "testing"

// tailGuarded returns a zeroed slice of n bytes; only Linux puts an
// unreadable page after it.
func tailGuarded(_ testing.TB, n int) []uint8 { return make([]uint8, n) }
