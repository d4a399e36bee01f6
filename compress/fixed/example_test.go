package fixed_test

import (
	"fmt"

	"github.com/compressq/compressq/compress/fixed"
)

// A fully connected layer y = x·Wᵀ with uint8 activations (zero point 128)
// and int8 weights stored [out, in], requantized to uint8 with a fused ReLU.
func Example() {
	const batch, in, out = 2, 4, 3
	x := []uint8{
		128, 129, 130, 131,
		255, 0, 128, 128,
	}
	w := []int8{ // [out, in]
		1, 2, 3, 4,
		-1, -1, -1, -1,
		127, -128, 0, 0,
	}
	wp := fixed.PackBT(w, out, in, in) // once per model

	acc := make([]int32, batch*out)
	fixed.GEMM(batch, x, in, 128, wp, acc, out, fixed.Options{})
	fmt.Println("int32:", acc)

	mult, shift := fixed.QuantizeMultiplier(0.25)                          // scaleX·scaleW/scaleY
	mults, shifts := []int32{mult, mult, mult}, []int{shift, shift, shift} // one per output
	rq, err := fixed.NewRequantizer(nil, mults, shifts, 10, 10, 255)       // zero point 10, fused ReLU
	if err != nil {
		fmt.Println(err)
		return
	}
	y := make([]uint8, batch*out)
	for i := range batch {
		rq.Uint8(y[i*out:(i+1)*out], acc[i*out:(i+1)*out])
	}
	fmt.Println("uint8:", y)
	// 1·0.25 requantizes to 1, not 0: gemmlowp rounds twice (0.5 up in the
	// doubling high multiply, then 0.5 away from zero in the shift), as
	// TFLite does; every result stays within 1 of the float value.

	// Output:
	// int32: [20 -6 -128 -129 1 32513]
	// uint8: [15 10 10 10 11 255]
}
