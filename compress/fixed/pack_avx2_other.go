//go:build !amd64 || purego

package fixed

func packAI16x6(dst *int16, a *uint8, off *int, segs *int, nseg, sg int) { panic(noAsm) }
