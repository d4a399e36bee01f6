// Command asm generates compress/sparse's AVX2 kernels, kernels_amd64.s,
// with avo. Their Go declarations, with the reference loop of each, stay
// hand-written in kernels_amd64.go (spmv_int8_amd64.go for the int8 SpMV,
// whose AVX-512 twin is written by hand: avo has no VPDPBUSD). Run it through go generate in
// compress/sparse, or by hand from this directory:
//
//	go run . -out ../kernels_amd64.s
//
// The generator uses fixed (physical) registers: each kernel keeps its
// accumulators, pointers and counters in the registers named below, so the
// output reads like the hand-written kernels it replaced and the register
// pressure (all sixteen YMM registers in the int8 kernels) is explicit.
// TestGenerated checks that the committed file is this program's output.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/mmcloughlin/avo/attr"
	"github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/pass"
	"github.com/mmcloughlin/avo/printer"
	"github.com/mmcloughlin/avo/reg"
)

// argv is the command line recorded in the generated file's header; it is
// fixed so that the output does not depend on how the program was started.
var argv = []string{"go", "run", ".", "-out", "../kernels_amd64.s"}

func main() {
	// Own flag set: importing avo's build package registers its flags on
	// the default one.
	fs := flag.NewFlagSet("asm", flag.ExitOnError)
	out := fs.String("out", "", "write the assembly to this file instead of standard output")
	fs.Parse(os.Args[1:])
	src, err := generate()
	if err != nil {
		fmt.Fprintln(os.Stderr, "asm:", err)
		os.Exit(1)
	}
	if *out == "" {
		os.Stdout.Write(src)
		return
	}
	if err := os.WriteFile(*out, src, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "asm:", err)
		os.Exit(1)
	}
}

// generate builds every kernel and returns the assembly file.
func generate() ([]byte, error) {
	g := &gen{build.NewContext()}
	g.ConstraintExpr("!purego")
	g.csrStrip64()
	g.csrStrip8()
	g.csrSpMV()
	g.bsrStrip64()
	g.bsrDot8()
	g.nm24Rows64()
	g.nm24Rows8()
	g.i8nm24Rows64()
	g.i8nm24Rows8()
	g.i8PackPairs64()
	g.i8PackRowPairs64()
	g.i8csrRows64()
	g.i8bsrRow64()
	g.spmvI8AVX2()
	g.spmvI8AVX2x4()
	f, err := g.Result()
	if err != nil {
		return nil, err
	}
	if err := pass.Compile.Execute(f); err != nil {
		return nil, err
	}
	p := printer.NewGoAsm(printer.Config{Argv: argv, Pkg: "sparse"})
	return p.Print(f)
}

// gen is the build context with the helpers the kernels share.
type gen struct{ *build.Context }

// Registers by the names the Go assembler prints.
var (
	AX, BX, CX, DX = reg.RAX, reg.RBX, reg.RCX, reg.RDX
	SI, DI         = reg.RSI, reg.RDI
	R8, R9, R10    = reg.R8, reg.R9, reg.R10
	R11, R12, R13  = reg.R11, reg.R12, reg.R13

	Y = [16]reg.VecPhysical{reg.Y0, reg.Y1, reg.Y2, reg.Y3, reg.Y4, reg.Y5, reg.Y6, reg.Y7,
		reg.Y8, reg.Y9, reg.Y10, reg.Y11, reg.Y12, reg.Y13, reg.Y14, reg.Y15}
	X = [16]reg.VecPhysical{reg.X0, reg.X1, reg.X2, reg.X3, reg.X4, reg.X5, reg.X6, reg.X7,
		reg.X8, reg.X9, reg.X10, reg.X11, reg.X12, reg.X13, reg.X14, reg.X15}
)

// acc8 are the eight YMM accumulators of a 64-column strip, Y0…Y7: 8
// float32 or int32 columns each.
var acc8 = Y[:8]

// mem returns the operand disp(base).
func mem(base reg.Register, disp int) operand.Mem { return operand.Mem{Base: base, Disp: disp} }

// idx returns the operand disp(base)(index*scale).
func idx(base, index reg.Register, scale uint8, disp int) operand.Mem {
	return operand.Mem{Base: base, Index: index, Scale: scale, Disp: disp}
}

// arg returns the frame slot of the named argument, name+off(FP), or of
// the unnamed result for "ret".
func (g *gen) arg(name string) operand.Mem {
	c := g.Param(name)
	if name == "ret" {
		c = g.ReturnIndex(0)
	}
	b, err := c.Resolve()
	if err != nil {
		panic(fmt.Sprintf("asm: argument %q: %v", name, err))
	}
	return b.Addr
}

// load moves the named argument into r.
func (g *gen) load(name string, r reg.Register) { g.Load(g.Param(name), r) }

// zero clears the vector registers: VXORPS for float32, VPXOR for integers.
func (g *gen) zero(float bool, rs ...reg.VecPhysical) {
	for _, r := range rs {
		if float {
			g.VXORPS(r, r, r)
		} else {
			g.VPXOR(r, r, r)
		}
	}
}

// loadAcc8 loads the 64-column strip at (p) into Y0…Y7 (VMOVUPS for
// float32, VMOVDQU for int32).
func (g *gen) loadAcc8(float bool, p reg.Register) {
	for i, r := range acc8 {
		if float {
			g.VMOVUPS(mem(p, 32*i), r)
		} else {
			g.VMOVDQU(mem(p, 32*i), r)
		}
	}
}

// storeAcc8 stores Y0…Y7 to the 64-column strip at (p).
func (g *gen) storeAcc8(float bool, p reg.Register) {
	for i, r := range acc8 {
		if float {
			g.VMOVUPS(r, mem(p, 32*i))
		} else {
			g.VMOVDQU(r, mem(p, 32*i))
		}
	}
}

// fma8 adds w times the 64 floats at (p) to Y0…Y7.
func (g *gen) fma8(p reg.Register, w reg.VecPhysical) {
	for i, r := range acc8 {
		g.VFMADD231PS(mem(p, 32*i), w, r)
	}
}

// prefetchRow fetches lines (of 64 bytes) from (p) on.
func (g *gen) prefetchRow(p reg.Register, lines int) {
	for l := range lines {
		g.PREFETCHT0(mem(p, 64*l))
	}
}

// hsum leaves the sum of Y0's eight floats in X0, using X1.
func (g *gen) hsum() {
	g.VEXTRACTF128(operand.U8(1), Y[0], X[1])
	g.VADDPS(X[1], X[0], X[0])
	g.VMOVHLPS(X[0], X[0], X[1])
	g.VADDPS(X[1], X[0], X[0])
	g.VMOVSHDUP(X[0], X[1])
	g.VADDSS(X[1], X[0], X[0])
}

func (g *gen) csrStrip64() {
	g.Function("csrStrip64")
	g.Attributes(attr.NOSPLIT)
	g.SignatureExpr("func(val *float32, col *int32, nnz int, b *float32, ldb int, c *float32)")
	g.load("val", SI)
	g.load("col", DI)
	g.load("nnz", CX)
	g.load("b", DX)
	g.load("ldb", R8)
	g.SHLQ(operand.U8(2), R8)
	g.load("c", R9)
	g.zero(true, acc8...)
	g.TESTQ(CX, CX)
	g.JEQ(operand.LabelRef("s64done"))

	g.Label("s64loop")
	g.PREFETCHNTA(mem(SI, 1024))
	g.PREFETCHNTA(mem(DI, 1024))
	g.MOVLQSX(mem(DI, 0), AX)
	g.IMULQ(R8, AX)
	g.ADDQ(DX, AX)
	g.VBROADCASTSS(mem(SI, 0), Y[8])
	g.fma8(AX, Y[8])
	g.ADDQ(operand.U8(4), SI)
	g.ADDQ(operand.U8(4), DI)
	g.DECQ(CX)
	g.JNE(operand.LabelRef("s64loop"))

	g.Label("s64done")
	g.storeAcc8(true, R9)
	g.VZEROUPPER()
	g.RET()
}

func (g *gen) csrStrip8() {
	g.Function("csrStrip8")
	g.Attributes(attr.NOSPLIT)
	g.SignatureExpr("func(val *float32, col *int32, nnz int, b *float32, ldb int, c *float32)")
	g.load("val", SI)
	g.load("col", DI)
	g.load("nnz", CX)
	g.load("b", DX)
	g.load("ldb", R8)
	g.SHLQ(operand.U8(2), R8)
	g.load("c", R9)
	g.zero(true, Y[0], Y[1])
	g.CMPQ(CX, operand.U8(2))
	g.JLT(operand.LabelRef("s8one"))

	g.Label("s8loop")
	g.MOVLQSX(mem(DI, 0), AX)
	g.MOVLQSX(mem(DI, 4), BX)
	g.IMULQ(R8, AX)
	g.IMULQ(R8, BX)
	g.VBROADCASTSS(mem(SI, 0), Y[8])
	g.VBROADCASTSS(mem(SI, 4), Y[9])
	g.VFMADD231PS(idx(DX, AX, 1, 0), Y[8], Y[0])
	g.VFMADD231PS(idx(DX, BX, 1, 0), Y[9], Y[1])
	g.ADDQ(operand.U8(8), SI)
	g.ADDQ(operand.U8(8), DI)
	g.SUBQ(operand.U8(2), CX)
	g.CMPQ(CX, operand.U8(2))
	g.JGE(operand.LabelRef("s8loop"))

	g.Label("s8one")
	g.TESTQ(CX, CX)
	g.JEQ(operand.LabelRef("s8done"))
	g.MOVLQSX(mem(DI, 0), AX)
	g.IMULQ(R8, AX)
	g.VBROADCASTSS(mem(SI, 0), Y[8])
	g.VFMADD231PS(idx(DX, AX, 1, 0), Y[8], Y[0])

	g.Label("s8done")
	g.VADDPS(Y[1], Y[0], Y[0])
	g.VMOVUPS(Y[0], mem(R9, 0))
	g.VZEROUPPER()
	g.RET()
}

func (g *gen) csrSpMV() {
	g.Function("csrSpMV")
	g.Attributes(attr.NOSPLIT)
	g.SignatureExpr("func(rowPtr *int32, col *int32, val *float32, rows int, x *float32, y *float32)")
	g.load("rowPtr", R8)
	g.load("col", DI)
	g.load("val", SI)
	g.load("rows", CX)
	g.load("x", DX)
	g.load("y", R9)
	g.TESTQ(CX, CX)
	g.JEQ(operand.LabelRef("mvdone"))

	g.Label("mvrow")
	g.MOVLQSX(mem(R8, 0), AX)
	g.MOVLQSX(mem(R8, 4), R11)
	g.SUBQ(AX, R11)
	g.LEAQ(idx(DI, AX, 4, 0), R12)
	g.LEAQ(idx(SI, AX, 4, 0), R13)
	g.zero(true, Y[0], Y[6], X[4])
	g.CMPQ(R11, operand.U8(16))
	g.JLT(operand.LabelRef("mv8"))

	g.Label("mv16")
	g.VMOVDQU(mem(R12, 0), Y[1])
	g.VMOVDQU(mem(R12, 32), Y[5])
	g.VPCMPEQD(Y[2], Y[2], Y[2])
	g.VPCMPEQD(Y[7], Y[7], Y[7])
	g.zero(true, Y[3], Y[8])
	g.VGATHERDPS(Y[2], idx(DX, Y[1], 4, 0), Y[3])
	g.VGATHERDPS(Y[7], idx(DX, Y[5], 4, 0), Y[8])
	g.VFMADD231PS(mem(R13, 0), Y[3], Y[0])
	g.VFMADD231PS(mem(R13, 32), Y[8], Y[6])
	g.ADDQ(operand.U8(64), R12)
	g.ADDQ(operand.U8(64), R13)
	g.SUBQ(operand.U8(16), R11)
	g.CMPQ(R11, operand.U8(16))
	g.JGE(operand.LabelRef("mv16"))

	g.Label("mv8")
	g.CMPQ(R11, operand.U8(8))
	g.JLT(operand.LabelRef("mvtail"))
	g.VMOVDQU(mem(R12, 0), Y[1])
	g.VPCMPEQD(Y[2], Y[2], Y[2])
	g.zero(true, Y[3])
	g.VGATHERDPS(Y[2], idx(DX, Y[1], 4, 0), Y[3])
	g.VFMADD231PS(mem(R13, 0), Y[3], Y[0])
	g.ADDQ(operand.U8(32), R12)
	g.ADDQ(operand.U8(32), R13)
	g.SUBQ(operand.U8(8), R11)

	g.Label("mvtail")
	g.TESTQ(R11, R11)
	g.JEQ(operand.LabelRef("mvreduce"))

	g.Label("mvtailloop")
	g.MOVLQSX(mem(R12, 0), AX)
	g.VMOVSS(idx(DX, AX, 4, 0), X[5])
	g.VFMADD231SS(mem(R13, 0), X[5], X[4])
	g.ADDQ(operand.U8(4), R12)
	g.ADDQ(operand.U8(4), R13)
	g.DECQ(R11)
	g.JNE(operand.LabelRef("mvtailloop"))

	g.Label("mvreduce")
	g.VADDPS(Y[6], Y[0], Y[0])
	g.hsum()
	g.VADDSS(X[4], X[0], X[0])
	g.VMOVSS(X[0], mem(R9, 0))
	g.ADDQ(operand.U8(4), R9)
	g.ADDQ(operand.U8(4), R8)
	g.DECQ(CX)
	g.JNE(operand.LabelRef("mvrow"))

	g.Label("mvdone")
	g.VZEROUPPER()
	g.RET()
}

func (g *gen) bsrStrip64() {
	g.Function("bsrStrip64")
	g.Attributes(attr.NOSPLIT)
	g.SignatureExpr("func(val *float32, vstride int, col *int32, nblocks int, bc int, b *float32, ldb int, c *float32)")
	g.load("val", SI)
	g.load("vstride", R11)
	g.SHLQ(operand.U8(2), R11)
	g.load("col", DI)
	g.load("nblocks", CX)
	g.load("bc", R12)
	g.load("b", DX)
	g.load("ldb", R8)
	g.SHLQ(operand.U8(2), R8)
	g.load("c", R9)
	g.MOVQ(R8, R13)
	g.IMULQ(R12, R13)
	g.zero(true, acc8...)
	g.TESTQ(CX, CX)
	g.JEQ(operand.LabelRef("b64done"))

	g.Label("b64blk")
	g.PREFETCHNTA(mem(SI, 1024))
	g.MOVLQSX(mem(DI, 0), AX)
	g.IMULQ(R13, AX)
	g.ADDQ(DX, AX)
	g.MOVQ(SI, BX)
	g.MOVQ(R12, R10)

	g.Label("b64inner")
	g.VBROADCASTSS(mem(BX, 0), Y[8])
	g.fma8(AX, Y[8])
	g.ADDQ(operand.U8(4), BX)
	g.ADDQ(R8, AX)
	g.DECQ(R10)
	g.JNE(operand.LabelRef("b64inner"))
	g.ADDQ(R11, SI)
	g.ADDQ(operand.U8(4), DI)
	g.DECQ(CX)
	g.JNE(operand.LabelRef("b64blk"))

	g.Label("b64done")
	g.storeAcc8(true, R9)
	g.VZEROUPPER()
	g.RET()
}

func (g *gen) bsrDot8() {
	g.Function("bsrDot8")
	g.Attributes(attr.NOSPLIT)
	g.SignatureExpr("func(val *float32, vstride int, col *int32, nblocks int, x *float32) float32")
	g.load("val", SI)
	g.load("vstride", R11)
	g.SHLQ(operand.U8(2), R11)
	g.load("col", DI)
	g.load("nblocks", CX)
	g.load("x", DX)
	g.zero(true, Y[0], Y[2])
	g.CMPQ(CX, operand.U8(2))
	g.JLT(operand.LabelRef("d8one"))

	g.Label("d8loop")
	g.MOVLQSX(mem(DI, 0), AX)
	g.MOVLQSX(mem(DI, 4), BX)
	g.SHLQ(operand.U8(5), AX)
	g.SHLQ(operand.U8(5), BX)
	g.VMOVUPS(mem(SI, 0), Y[1])
	g.VFMADD231PS(idx(DX, AX, 1, 0), Y[1], Y[0])
	g.VMOVUPS(idx(SI, R11, 1, 0), Y[3])
	g.VFMADD231PS(idx(DX, BX, 1, 0), Y[3], Y[2])
	g.LEAQ(idx(SI, R11, 2, 0), SI)
	g.ADDQ(operand.U8(8), DI)
	g.SUBQ(operand.U8(2), CX)
	g.CMPQ(CX, operand.U8(2))
	g.JGE(operand.LabelRef("d8loop"))

	g.Label("d8one")
	g.TESTQ(CX, CX)
	g.JEQ(operand.LabelRef("d8reduce"))
	g.MOVLQSX(mem(DI, 0), AX)
	g.SHLQ(operand.U8(5), AX)
	g.VMOVUPS(mem(SI, 0), Y[1])
	g.VFMADD231PS(idx(DX, AX, 1, 0), Y[1], Y[0])

	g.Label("d8reduce")
	g.VADDPS(Y[2], Y[0], Y[0])
	g.hsum()
	g.VMOVSS(X[0], g.arg("ret"))
	g.VZEROUPPER()
	g.RET()
}

// nm24Rows emits nm24Rows64 (wide) or nm24Rows8.
func (g *gen) nm24Rows(wide bool) {
	name, l := "nm24Rows8", "r8"
	if wide {
		name, l = "nm24Rows64", "r64"
	}
	g.Function(name)
	g.Attributes(attr.NOSPLIT)
	g.SignatureExpr("func(val *float32, idx *uint8, gs int, rows int, groups int, b *float32, ldb int, c *float32, ldc int, acc int)")
	g.load("val", SI)
	g.load("idx", DI)
	g.Comment("R12: val row stride, 2·gs floats")
	g.load("gs", R12)
	g.SHLQ(operand.U8(3), R12)
	g.load("rows", CX)
	g.load("b", DX)
	g.load("ldb", R8)
	g.SHLQ(operand.U8(2), R8)
	g.load("c", R9)
	g.load("ldc", R10)
	g.SHLQ(operand.U8(2), R10)
	g.TESTQ(CX, CX)
	g.JEQ(operand.LabelRef(l + "done"))

	g.Label(l + "row")
	g.Comment("Rows of A are 2·gs floats apart and each visit reads only a few",
		"lines of them, a stride the hardware prefetchers do not follow:",
		"fetch the part of A and the C row needed four rows ahead.")
	g.LEAQ(idx(SI, R12, 4, 0), AX)
	g.PREFETCHT0(mem(AX, 0))
	g.PREFETCHT0(mem(AX, 64))
	g.PREFETCHT0(mem(AX, 127))
	g.MOVQ(g.arg("gs"), BX)
	g.LEAQ(idx(DI, BX, 4, 0), BX)
	g.PREFETCHT0(mem(BX, 0))
	g.PREFETCHT0(mem(BX, 15))
	if wide {
		g.LEAQ(idx(R9, R10, 4, 0), AX)
		g.prefetchRow(AX, 4)
		g.CMPQ(g.arg("acc"), operand.U8(0))
		g.JEQ(operand.LabelRef(l + "zero"))
		g.loadAcc8(true, R9)
		g.JMP(operand.LabelRef(l + "start"))
		g.Label(l + "zero")
		g.zero(true, acc8...)
	} else {
		g.PREFETCHT0(idx(R9, R10, 4, 0))
		g.zero(true, Y[0], Y[1])
		g.CMPQ(g.arg("acc"), operand.U8(0))
		g.JEQ(operand.LabelRef(l + "start"))
		g.VMOVUPS(mem(R9, 0), Y[0])
	}

	g.Label(l + "start")
	g.Comment("R11: group; R13: the group's rows of b")
	g.XORQ(R11, R11)
	g.MOVQ(DX, R13)
	g.CMPQ(g.arg("groups"), operand.U8(0))
	g.JEQ(operand.LabelRef(l + "store"))

	g.Label(l + "loop")
	g.MOVBQZX(idx(DI, R11, 1, 0), AX)
	g.MOVQ(AX, BX)
	g.ANDQ(operand.U8(3), AX)
	g.SHRQ(operand.U8(2), BX)
	g.IMULQ(R8, AX)
	g.IMULQ(R8, BX)
	if wide {
		g.ADDQ(R13, AX)
		g.ADDQ(R13, BX)
	}
	g.VBROADCASTSS(idx(SI, R11, 8, 0), Y[8])
	g.VBROADCASTSS(idx(SI, R11, 8, 4), Y[9])
	if wide {
		g.fma8(AX, Y[8])
		g.fma8(BX, Y[9])
	} else {
		g.VFMADD231PS(idx(R13, AX, 1, 0), Y[8], Y[0])
		g.VFMADD231PS(idx(R13, BX, 1, 0), Y[9], Y[1])
	}
	g.LEAQ(idx(R13, R8, 4, 0), R13)
	g.INCQ(R11)
	g.CMPQ(R11, g.arg("groups"))
	g.JLT(operand.LabelRef(l + "loop"))

	g.Label(l + "store")
	if wide {
		g.storeAcc8(true, R9)
	} else {
		g.VADDPS(Y[1], Y[0], Y[0])
		g.VMOVUPS(Y[0], mem(R9, 0))
	}
	g.ADDQ(R12, SI)
	g.ADDQ(g.arg("gs"), DI)
	g.ADDQ(R10, R9)
	g.DECQ(CX)
	g.JNE(operand.LabelRef(l + "row"))

	g.Label(l + "done")
	g.VZEROUPPER()
	g.RET()
}

func (g *gen) nm24Rows64() { g.nm24Rows(true) }
func (g *gen) nm24Rows8()  { g.nm24Rows(false) }

// broadcastPair sign-extends the two int8 weights in the low 16 bits of BX
// to an int16 pair and broadcasts it to every dword of Y8.
func (g *gen) broadcastPair() {
	g.VMOVD(reg.EBX, X[8])
	g.VPMOVSXBW(X[8], X[8])
	g.VPBROADCASTD(X[8], Y[8])
}

// maddAcc8 adds the VPMADDWD of the weight pair in Y8 with the 64 int16
// pairs at (p) to Y0…Y7, each product into one of Y9…Y15 in turn. grouped
// issues four VPMADDWDs before their four VPADDDs (the 2:4 kernel);
// otherwise each VPADDD follows its VPMADDWD.
func (g *gen) maddAcc8(p reg.Register, grouped bool) {
	tmp := func(i int) reg.VecPhysical { return Y[9+i%7] }
	if !grouped {
		for i, r := range acc8 {
			g.VPMADDWD(mem(p, 32*i), Y[8], tmp(i))
			g.VPADDD(tmp(i), r, r)
		}
		return
	}
	for h := 0; h < 8; h += 4 {
		for i := h; i < h+4; i++ {
			g.VPMADDWD(mem(p, 32*i), Y[8], tmp(i))
		}
		for i := h; i < h+4; i++ {
			g.VPADDD(tmp(i), acc8[i], acc8[i])
		}
	}
}

// i8nm24Rows emits i8nm24Rows64 (wide) or i8nm24Rows8.
func (g *gen) i8nm24Rows(wide bool) {
	name, l, slot := "i8nm24Rows8", "i8", 32
	if wide {
		name, l, slot = "i8nm24Rows64", "i64", 256
	}
	g.Function(name)
	g.Attributes(attr.NOSPLIT)
	g.SignatureExpr("func(val *int8, idx *uint8, gs int, rows int, groups int, bp *uint32, c *int32, ldc int, acc int)")
	g.load("val", SI)
	g.load("idx", DI)
	g.load("gs", R12)
	g.load("rows", CX)
	g.load("bp", DX)
	g.Commentf("DX: slot of index byte x at (x−4)·%d", slot)
	g.SUBQ(operand.U32(4*slot), DX)
	g.load("c", R9)
	g.load("ldc", R10)
	g.SHLQ(operand.U8(2), R10)
	g.TESTQ(CX, CX)
	g.JEQ(operand.LabelRef(l + "done"))

	g.Label(l + "row")
	g.Comment("A rows are 2·gs bytes (values) and gs bytes (indices) apart: fetch",
		"the part four rows ahead, and that row of C.")
	g.LEAQ(idx(SI, R12, 8, 0), AX)
	g.PREFETCHT0(mem(AX, 0))
	g.PREFETCHT0(mem(AX, 31))
	g.LEAQ(idx(DI, R12, 4, 0), BX)
	g.PREFETCHT0(mem(BX, 0))
	g.PREFETCHT0(mem(BX, 15))
	if wide {
		g.LEAQ(idx(R9, R10, 4, 0), AX)
		g.prefetchRow(AX, 4)
		g.CMPQ(g.arg("acc"), operand.U8(0))
		g.JEQ(operand.LabelRef(l + "zero"))
		g.loadAcc8(false, R9)
		g.JMP(operand.LabelRef(l + "start"))
		g.Label(l + "zero")
		g.zero(false, acc8...)
	} else {
		g.PREFETCHT0(idx(R9, R10, 4, 0))
		g.zero(false, Y[0])
		g.CMPQ(g.arg("acc"), operand.U8(0))
		g.JEQ(operand.LabelRef(l + "start"))
		g.VMOVDQU(mem(R9, 0), Y[0])
	}

	g.Label(l + "start")
	g.XORQ(R11, R11)
	g.MOVQ(DX, R13)
	g.CMPQ(g.arg("groups"), operand.U8(0))
	g.JEQ(operand.LabelRef(l + "store"))

	g.Label(l + "loop")
	g.MOVBQZX(idx(DI, R11, 1, 0), AX)
	if wide {
		g.SHLQ(operand.U8(8), AX)
		g.ADDQ(R13, AX)
	} else {
		g.SHLQ(operand.U8(5), AX)
	}
	g.MOVWLZX(idx(SI, R11, 2, 0), reg.EBX)
	g.broadcastPair()
	if wide {
		g.maddAcc8(AX, true)
	} else {
		g.VPMADDWD(idx(R13, AX, 1, 0), Y[8], Y[9])
		g.VPADDD(Y[9], Y[0], Y[0])
	}
	g.Commentf("%d slots of %d bytes per group", i8PairSlots, slot)
	g.ADDQ(operand.U32(i8PairSlots*slot), R13)
	g.INCQ(R11)
	g.CMPQ(R11, g.arg("groups"))
	g.JLT(operand.LabelRef(l + "loop"))

	g.Label(l + "store")
	if wide {
		g.storeAcc8(false, R9)
	} else {
		g.VMOVDQU(Y[0], mem(R9, 0))
	}
	g.LEAQ(idx(SI, R12, 2, 0), SI)
	g.ADDQ(R12, DI)
	g.ADDQ(R10, R9)
	g.DECQ(CX)
	g.JNE(operand.LabelRef(l + "row"))

	g.Label(l + "done")
	g.VZEROUPPER()
	g.RET()
}

// i8PairSlots is the pair slots per 2:4 group of a pair panel (sparse's
// constant of the same name).
const i8PairSlots = 11

func (g *gen) i8nm24Rows64() { g.i8nm24Rows(true) }
func (g *gen) i8nm24Rows8()  { g.i8nm24Rows(false) }

// widen loads 16 uint8 at m into the int16 lanes of y minus the zero
// point in Y15, in the lane order VPUNPCKL/HWD need to interleave two such
// rows into column order.
func (g *gen) widen(m operand.Mem, y reg.VecPhysical) {
	g.VPMOVZXBW(m, y)
	g.VPSUBW(Y[15], y, y)
	g.VPERMQ(operand.U8(0xd8), y, y)
}

// interleave stores the 16 int16 pairs (lo[j], hi[j]) at (DI)+off: columns
// 0…7 at off, 8…15 at off+32.
func (g *gen) interleave(lo, hi reg.VecPhysical, t0, t1 reg.VecPhysical, off int) {
	g.VPUNPCKLWD(hi, lo, t0)
	g.VPUNPCKHWD(hi, lo, t1)
	g.VMOVDQU(t0, mem(DI, off))
	g.VMOVDQU(t1, mem(DI, off+32))
}

// packArgs loads the arguments of the pair packers: dst to DI, b to SI,
// ldb to R8, the count (groups or pairs) to CX and the zero point,
// broadcast to the words of Y15.
func (g *gen) packArgs(count string) {
	g.load("dst", DI)
	g.load("b", SI)
	g.load("ldb", R8)
	g.load("zero", AX)
	g.load(count, CX)
	g.VMOVD(reg.EAX, X[15])
	g.VPBROADCASTW(X[15], Y[15])
}

func (g *gen) i8PackPairs64() {
	g.Function("i8PackPairs64")
	g.Attributes(attr.NOSPLIT)
	g.SignatureExpr("func(dst *uint32, b *uint8, ldb int, zero int, groups int)")
	g.packArgs("groups")
	g.LEAQ(idx(R8, R8, 2, 0), R9)
	g.TESTQ(CX, CX)
	g.JEQ(operand.LabelRef("ppdone"))

	g.Label("pploop")
	// The four rows of a group, as offsets from SI: 0, ldb, 2·ldb, 3·ldb.
	rows := func(chunk int) [4]operand.Mem {
		d := 16 * chunk
		return [4]operand.Mem{mem(SI, d), idx(SI, R8, 1, d), idx(SI, R8, 2, d), idx(SI, R9, 1, d)}
	}
	for chunk := range 4 {
		g.Commentf("columns %d…%d", 16*chunk, 16*chunk+15)
		for p, m := range rows(chunk) {
			g.widen(m, Y[p])
		}
		// Pair (p0, p1), p0 < p1, goes to slot (p0 | p1<<2) − 4 of 256 bytes.
		for _, pr := range [][2]int{{0, 1}, {0, 2}, {0, 3}, {1, 2}, {1, 3}, {2, 3}} {
			slot := pr[0] | pr[1]<<2 - 4
			g.interleave(Y[pr[0]], Y[pr[1]], Y[4], Y[5], slot*256+64*chunk)
		}
	}
	g.LEAQ(idx(SI, R8, 4, 0), SI)
	g.ADDQ(operand.U32(i8PairSlots*256), DI)
	g.DECQ(CX)
	g.JNE(operand.LabelRef("pploop"))

	g.Label("ppdone")
	g.VZEROUPPER()
	g.RET()
}

func (g *gen) i8PackRowPairs64() {
	g.Function("i8PackRowPairs64")
	g.Attributes(attr.NOSPLIT)
	g.SignatureExpr("func(dst *uint32, b *uint8, ldb int, zero int, pairs int)")
	g.packArgs("pairs")
	g.TESTQ(CX, CX)
	g.JEQ(operand.LabelRef("rpdone"))

	g.Label("rploop")
	for chunk := range 4 {
		d := 16 * chunk
		g.VPMOVZXBW(mem(SI, d), Y[0])
		g.VPMOVZXBW(idx(SI, R8, 1, d), Y[1])
		g.VPSUBW(Y[15], Y[0], Y[0])
		g.VPSUBW(Y[15], Y[1], Y[1])
		g.VPERMQ(operand.U8(0xd8), Y[0], Y[0])
		g.VPERMQ(operand.U8(0xd8), Y[1], Y[1])
		g.interleave(Y[0], Y[1], Y[2], Y[3], 64*chunk)
	}
	g.LEAQ(idx(SI, R8, 2, 0), SI)
	g.ADDQ(operand.U32(256), DI)
	g.DECQ(CX)
	g.JNE(operand.LabelRef("rploop"))

	g.Label("rpdone")
	g.VZEROUPPER()
	g.RET()
}

func (g *gen) i8csrRows64() {
	g.Function("i8csrRows64")
	g.Attributes(attr.NOSPLIT)
	g.SignatureExpr("func(rowPtr *int32, col *int32, val *int8, rows int, bp *uint32, c *int32, ldc int)")
	g.load("rowPtr", R8)
	g.load("col", DI)
	g.load("val", SI)
	g.load("rows", R11)
	g.load("bp", DX)
	g.load("c", R9)
	g.load("ldc", R10)
	g.SHLQ(operand.U8(2), R10)
	g.TESTQ(R11, R11)
	g.JEQ(operand.LabelRef("icdone"))

	g.Label("icrow")
	g.zero(false, acc8...)
	g.MOVLQSX(mem(R8, 0), R12)
	g.MOVLQSX(mem(R8, 4), R13)
	g.CMPQ(R12, R13)
	g.JGE(operand.LabelRef("icstore"))

	g.Label("icloop")
	g.MOVLQSX(idx(DI, R12, 4, 0), AX)
	g.MOVBLSX(idx(SI, R12, 1, 0), reg.EBX)
	g.ANDL(operand.U32(0xffff), reg.EBX)
	g.MOVL(reg.EAX, reg.ECX)
	g.ANDL(operand.U8(1), reg.ECX)
	g.SHLL(operand.U8(4), reg.ECX)
	g.Comment("the weight in the half of its row in the pair")
	g.SHLL(reg.CL, reg.EBX)
	g.SHRQ(operand.U8(1), AX)
	g.SHLQ(operand.U8(8), AX)
	g.ADDQ(DX, AX)
	g.VMOVD(reg.EBX, X[8])
	g.VPBROADCASTD(X[8], Y[8])
	g.maddAcc8(AX, false)
	g.INCQ(R12)
	g.CMPQ(R12, R13)
	g.JLT(operand.LabelRef("icloop"))

	g.Label("icstore")
	g.storeAcc8(false, R9)
	g.ADDQ(operand.U8(4), R8)
	g.ADDQ(R10, R9)
	g.DECQ(R11)
	g.JNE(operand.LabelRef("icrow"))

	g.Label("icdone")
	g.VZEROUPPER()
	g.RET()
}

func (g *gen) i8bsrRow64() {
	g.Function("i8bsrRow64")
	g.Attributes(attr.NOSPLIT)
	g.SignatureExpr("func(val *int8, vstride int, col *int32, nblocks int, halfc int, bp *uint32, c *int32)")
	g.load("val", SI)
	g.load("vstride", R11)
	g.load("col", DI)
	g.load("nblocks", CX)
	g.load("halfc", R12)
	g.load("bp", DX)
	g.load("c", R9)
	g.Comment("R13: panel bytes per block column")
	g.MOVQ(R12, R13)
	g.SHLQ(operand.U8(8), R13)
	g.zero(false, acc8...)
	g.TESTQ(CX, CX)
	g.JEQ(operand.LabelRef("ibstore"))

	g.Label("ibblk")
	g.MOVLQSX(mem(DI, 0), AX)
	g.IMULQ(R13, AX)
	g.ADDQ(DX, AX)
	g.XORQ(R10, R10)

	g.Label("ibpair")
	g.MOVWLZX(idx(SI, R10, 2, 0), reg.EBX)
	g.broadcastPair()
	g.maddAcc8(AX, false)
	g.ADDQ(operand.U32(256), AX)
	g.INCQ(R10)
	g.CMPQ(R10, R12)
	g.JLT(operand.LabelRef("ibpair"))
	g.ADDQ(R11, SI)
	g.ADDQ(operand.U8(4), DI)
	g.DECQ(CX)
	g.JNE(operand.LabelRef("ibblk"))

	g.Label("ibstore")
	g.storeAcc8(false, R9)
	g.VZEROUPPER()
	g.RET()
}

// spmvI8AVX2 is the AVX2 int8 SpMV of a SlicedInt8 (G = 16 rows, windows
// of S = 32 columns, an even number of steps per group;
// spmv_int8_amd64.go states the contract). Row groups in the outer loop:
// the group's sixteen int32 lanes (Y3 rows 0–7, Y4 rows 8–15, and Y8, Y9
// for the odd steps) start at negZero·rowSum and stay in registers over
// its steps, two per iteration. A step broadcasts the two 16-byte halves
// of its window of x to both 128-bit lanes (Y0, Y1), looks its 32 indices
// up in both with VPSHUFB and ORs the results: an index i is stored as
// i + 0x70, which has bit 7 set (VPSHUFB gives 0) exactly when i ≥ 16, and
// flipping bit 7 (Y13) selects the high half instead. It widens the bytes
// to words (VPUNPCK[LH]BW with Y15 = 0), sign-extends the step's int8
// weights (stored in the widening's order) with VPMOVSXBW and VPMADDWDs
// the two. Registers: SI step counts, R10 window starts, R8 indices, R9
// weights, CX the step position (4 per step: the byte offset into the
// window starts, and ·8 into the indices and the weights), BX where the
// group's steps end, DI x, R11 group, R12 rowSum of the group, R13 y of
// the group, DX where its lanes go.
func (g *gen) spmvI8AVX2() {
	g.Function("spmvI8AVX2")
	g.Attributes(attr.NOSPLIT)
	g.SignatureExpr("func(steps *int32, groups int, off *int32, idx *uint8, val *int8, rowSum *int32, negZero int, x *uint8, y *int32, fullGroups int, ytail *int32)")
	g.load("steps", SI)
	g.load("off", R10)
	g.load("idx", R8)
	g.load("val", R9)
	g.load("x", DI)
	g.load("rowSum", R12)
	g.load("y", R13)
	g.zero(false, Y[15])
	g.MOVL(operand.U32(0x80808080), reg.EAX)
	g.VMOVD(reg.EAX, X[13])
	g.VPBROADCASTD(X[13], Y[13])
	g.XORQ(CX, CX)
	g.XORQ(R11, R11)

	g.Label("svgroup")
	g.CMPQ(R11, g.arg("groups"))
	g.JGE(operand.LabelRef("svdone"))
	g.MOVLQSX(mem(SI, 0), BX)
	g.ADDQ(operand.U8(4), SI)
	g.LEAQ(idx(CX, BX, 4, 0), BX)
	g.MOVQ(R13, DX)
	g.CMPQ(R11, g.arg("fullGroups"))
	g.JLT(operand.LabelRef("svfirst"))
	g.load("ytail", DX)

	g.Label("svfirst")
	g.VPBROADCASTD(g.arg("negZero"), Y[6])
	g.VPMULLD(mem(R12, 0), Y[6], Y[3])
	g.VPMULLD(mem(R12, 32), Y[6], Y[4])
	g.zero(false, Y[8], Y[9])
	g.CMPQ(CX, BX)
	g.JEQ(operand.LabelRef("svstore"))

	g.Label("svstep")
	g.spmvI8AVX2Step(0, [4]reg.VecPhysical{Y[0], Y[1], Y[2], Y[5]}, Y[3], Y[4])
	g.spmvI8AVX2Step(1, [4]reg.VecPhysical{Y[10], Y[11], Y[12], Y[14]}, Y[8], Y[9])
	g.ADDQ(operand.U8(8), CX)
	g.CMPQ(CX, BX)
	g.JNE(operand.LabelRef("svstep"))

	g.Label("svstore")
	g.VPADDD(Y[8], Y[3], Y[3])
	g.VPADDD(Y[9], Y[4], Y[4])
	g.VMOVDQU(Y[3], mem(DX, 0))
	g.VMOVDQU(Y[4], mem(DX, 32))
	g.ADDQ(operand.U8(64), R12)
	g.ADDQ(operand.U8(64), R13)
	g.INCQ(R11)
	g.JMP(operand.LabelRef("svgroup"))

	g.Label("svdone")
	g.VZEROUPPER()
	g.RET()
}

// spmvI8AVX2Step emits step k (0 or 1) of the pair at CX of spmvI8AVX2,
// adding its low widening to lo and its high one to hi, with t as scratch
// (the window's halves, the indices, the looked-up bytes) and Y6, Y7 for
// the weights. AX holds the window start.
func (g *gen) spmvI8AVX2Step(k int, t [4]reg.VecPhysical, lo, hi reg.VecPhysical) {
	xlo, xhi, ix, b := t[0], t[1], t[2], t[3]
	g.MOVL(idx(R10, CX, 1, 4*k), reg.EAX)
	g.VBROADCASTI128(idx(DI, AX, 1, 0), xlo)
	g.VBROADCASTI128(idx(DI, AX, 1, 16), xhi)
	g.VMOVDQU(idx(R8, CX, 8, 32*k), ix)
	g.VPSHUFB(ix, xlo, b)
	g.VPXOR(Y[13], ix, ix)
	g.VPSHUFB(ix, xhi, xhi)
	g.VPOR(xhi, b, b)
	g.VPUNPCKLBW(Y[15], b, ix)
	g.VPUNPCKHBW(Y[15], b, b)
	g.VPMOVSXBW(idx(R9, CX, 8, 32*k), Y[6])
	g.VPMOVSXBW(idx(R9, CX, 8, 32*k+16), Y[7])
	g.VPMADDWD(Y[6], ix, ix)
	g.VPMADDWD(Y[7], b, b)
	g.VPADDD(ix, lo, lo)
	g.VPADDD(b, hi, hi)
}

// spmvI8AVX2x4 is spmvI8AVX2 on four vectors in one pass over the layout
// (spmv_int8_amd64.go states the contract): a step's window start,
// indices and sign-extended weights are loaded once (AX, Y8, Y10, Y11;
// Y9 the indices with bit 7 flipped) and serve the four look-ups and dot
// products, vector v reading x at DI, DX, R11, R13 (x + v·ldx) and adding
// into Y(2v) (rows 0–7) and Y(2v+1) (rows 8–15). One step per iteration;
// Y12–Y14 scratch, Y15 = 0, and the bytes 0x80 in a local. Registers as in
// spmvI8AVX2, except R12, the group's rowSum, which also counts the groups
// (up to rowSum + 64·groups), and AX, which finds where a group's lanes go
// when they are stored.
func (g *gen) spmvI8AVX2x4() {
	g.Function("spmvI8AVX2x4")
	g.Attributes(attr.NOSPLIT)
	g.SignatureExpr("func(steps *int32, groups int, off *int32, idx *uint8, val *int8, rowSum *int32, negZero int, x *uint8, ldx int, y *int32, ldy int, fullGroups int, ytail *int32)")
	flip := g.AllocLocal(32)
	end := g.AllocLocal(8)  // rowSum + 64·groups
	full := g.AllocLocal(8) // rowSum + 64·fullGroups
	g.load("steps", SI)
	g.load("off", R10)
	g.load("idx", R8)
	g.load("val", R9)
	g.load("rowSum", R12)
	g.load("groups", AX)
	g.SHLQ(operand.U8(6), AX)
	g.ADDQ(R12, AX)
	g.MOVQ(AX, end)
	g.load("fullGroups", AX)
	g.SHLQ(operand.U8(6), AX)
	g.ADDQ(R12, AX)
	g.MOVQ(AX, full)
	g.load("x", DI)
	g.load("ldx", AX)
	g.LEAQ(idx(DI, AX, 1, 0), DX)
	g.LEAQ(idx(DX, AX, 1, 0), R11)
	g.LEAQ(idx(R11, AX, 1, 0), R13)
	g.zero(false, Y[15])
	g.MOVL(operand.U32(0x80808080), reg.EAX)
	g.VMOVD(reg.EAX, X[14])
	g.VPBROADCASTD(X[14], Y[14])
	g.VMOVDQU(Y[14], flip)
	g.XORQ(CX, CX)

	g.Label("sv4group")
	g.CMPQ(R12, end)
	g.JEQ(operand.LabelRef("sv4done"))
	g.MOVLQSX(mem(SI, 0), BX)
	g.ADDQ(operand.U8(4), SI)
	g.LEAQ(idx(CX, BX, 4, 0), BX)
	g.VPBROADCASTD(g.arg("negZero"), Y[14])
	g.VPMULLD(mem(R12, 0), Y[14], Y[0])
	g.VPMULLD(mem(R12, 32), Y[14], Y[1])
	for v := 1; v < 4; v++ {
		g.VMOVDQA(Y[0], Y[2*v])
		g.VMOVDQA(Y[1], Y[2*v+1])
	}
	g.CMPQ(CX, BX)
	g.JEQ(operand.LabelRef("sv4store"))

	g.Label("sv4step")
	g.MOVL(idx(R10, CX, 1, 0), reg.EAX)
	g.VMOVDQU(idx(R8, CX, 8, 0), Y[8])
	g.VPXOR(flip, Y[8], Y[9])
	g.VPMOVSXBW(idx(R9, CX, 8, 0), Y[10])
	g.VPMOVSXBW(idx(R9, CX, 8, 16), Y[11])
	for v, xp := range []reg.Register{DI, DX, R11, R13} {
		g.VBROADCASTI128(idx(xp, AX, 1, 0), Y[12])
		g.VBROADCASTI128(idx(xp, AX, 1, 16), Y[13])
		g.VPSHUFB(Y[8], Y[12], Y[14])
		g.VPSHUFB(Y[9], Y[13], Y[13])
		g.VPOR(Y[13], Y[14], Y[14])
		g.VPUNPCKLBW(Y[15], Y[14], Y[12])
		g.VPUNPCKHBW(Y[15], Y[14], Y[14])
		g.VPMADDWD(Y[10], Y[12], Y[12])
		g.VPMADDWD(Y[11], Y[14], Y[14])
		g.VPADDD(Y[12], Y[2*v], Y[2*v])
		g.VPADDD(Y[14], Y[2*v+1], Y[2*v+1])
	}
	g.ADDQ(operand.U8(4), CX)
	g.CMPQ(CX, BX)
	g.JNE(operand.LabelRef("sv4step"))

	// The lanes of vector v go to y + v·ldy (AX, BX its stride in bytes)
	// at the group's offset, or, for the partial group, ytail + 64·v.
	g.Label("sv4store")
	g.CMPQ(R12, full)
	g.JEQ(operand.LabelRef("sv4tail"))
	g.MOVQ(R12, AX)
	g.SUBQ(g.arg("rowSum"), AX)
	g.ADDQ(g.arg("y"), AX)
	g.load("ldy", BX)
	g.SHLQ(operand.U8(2), BX)
	g.JMP(operand.LabelRef("sv4put"))

	g.Label("sv4tail")
	g.load("ytail", AX)
	g.MOVQ(operand.U32(64), BX)

	g.Label("sv4put")
	for v := range 4 {
		g.VMOVDQU(Y[2*v], mem(AX, 0))
		g.VMOVDQU(Y[2*v+1], mem(AX, 32))
		if v < 3 {
			g.ADDQ(BX, AX)
		}
	}
	g.ADDQ(operand.U8(64), R12)
	g.JMP(operand.LabelRef("sv4group"))

	g.Label("sv4done")
	g.VZEROUPPER()
	g.RET()
}
