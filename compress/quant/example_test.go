package quant_test

import (
	"fmt"

	"github.com/compressq/compressq/compress/quant"
)

func ExampleQuantizeTensor() {
	// A Dense weight [out=2, in=3], quantized per output channel.
	w := []float32{0.5, -1.0, 0.25, 2, 0, -4}
	q, err := quant.QuantizeTensor(w, []int{2, 3}, quant.Params{Bits: 8, Scheme: quant.PerChannel, Symmetric: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("codes:", q.Q)
	fmt.Printf("scales: %.5f %.5f\n", q.Scale[0], q.Scale[1])
	st, _ := quant.ErrorStats(w, q)
	fmt.Printf("max error %.5f, bound %.5f\n", st.MaxAbsError, st.Bound[1])
	// Output:
	// codes: [63 -127 32 63 0 -127]
	// scales: 0.00787 0.03150
	// max error 0.01575, bound 0.01575
}
