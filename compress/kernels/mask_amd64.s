//go:build !purego

#include "textflag.h"

// tailMask is sixteen all-ones int32 lanes then sixteen zero lanes. The 8
// lanes from index 16-n mask the first n (0 ≤ n ≤ 16) elements of a vector,
// and the 8 from 24-n the elements 8..n-1 of a 16-wide pair.
DATA ·tailMask+0(SB)/8, $0xffffffffffffffff
DATA ·tailMask+8(SB)/8, $0xffffffffffffffff
DATA ·tailMask+16(SB)/8, $0xffffffffffffffff
DATA ·tailMask+24(SB)/8, $0xffffffffffffffff
DATA ·tailMask+32(SB)/8, $0xffffffffffffffff
DATA ·tailMask+40(SB)/8, $0xffffffffffffffff
DATA ·tailMask+48(SB)/8, $0xffffffffffffffff
DATA ·tailMask+56(SB)/8, $0xffffffffffffffff
DATA ·tailMask+64(SB)/8, $0
DATA ·tailMask+72(SB)/8, $0
DATA ·tailMask+80(SB)/8, $0
DATA ·tailMask+88(SB)/8, $0
DATA ·tailMask+96(SB)/8, $0
DATA ·tailMask+104(SB)/8, $0
DATA ·tailMask+112(SB)/8, $0
DATA ·tailMask+120(SB)/8, $0
GLOBL ·tailMask(SB), RODATA|NOPTR, $128
