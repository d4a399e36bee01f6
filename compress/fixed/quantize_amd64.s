//go:build amd64 && !purego

#include "textflag.h"

// func quantizeF32x16(dst *uint8, x *float32, n int, inv float64, zero int)
// Sixteen values per step: two halves of eight widened to float64 (Z0,
// Z1), multiplied by inv (Z4), clamped to [−512 (Z5), 512 (Z6)], rounded to
// nearest even into int32 and joined (Z0), offset by the zero point (Z7),
// raised to 0 (Z8) and stored as bytes saturated at 255.
TEXT ·quantizeF32x16(SB), NOSPLIT, $0-40
	MOVQ         dst+0(FP), DI
	MOVQ         x+8(FP), SI
	MOVQ         n+16(FP), CX
	VBROADCASTSD inv+24(FP), Z4
	MOVQ         $0xc080000000000000, AX
	VPBROADCASTQ AX, Z5
	MOVQ         $0x4080000000000000, AX
	VPBROADCASTQ AX, Z6
	MOVQ         zero+32(FP), AX
	VPBROADCASTD AX, Z7
	VPXORD       Z8, Z8, Z8

loop:
	TESTQ            CX, CX
	JZ               done
	VCVTPS2PD        (SI), Z0
	VCVTPS2PD        32(SI), Z1
	VMULPD           Z4, Z0, Z0
	VMULPD           Z4, Z1, Z1
	VMAXPD           Z5, Z0, Z0
	VMAXPD           Z5, Z1, Z1
	VMINPD           Z6, Z0, Z0
	VMINPD           Z6, Z1, Z1
	VCVTPD2DQ.RN_SAE Z0, Y0
	VCVTPD2DQ.RN_SAE Z1, Y1
	VINSERTI64X4     $1, Y1, Z0, Z0
	VPADDD           Z7, Z0, Z0
	VPMAXSD          Z8, Z0, Z0
	VPMOVUSDB        Z0, (DI)
	ADDQ             $64, SI
	ADDQ             $16, DI
	SUBQ             $16, CX
	JMP              loop

done:
	VZEROUPPER
	RET
