package packed_test

import (
	"bytes"
	"fmt"

	"github.com/compressq/compressq/compress/packed"
	"github.com/compressq/compressq/compress/quant"
	"github.com/compressq/compressq/compress/safetensors"
)

func ExampleWriteCompressed() {
	w := []float32{0.1, -0.2, 0.3, -0.4, 0.5, -0.6, 0.7, -0.8}
	q, err := quant.QuantizeTensor(w, []int{2, 4}, quant.Params{Bits: 4, Scheme: quant.PerChannel})
	if err != nil {
		fmt.Println(err)
		return
	}
	c := &packed.Compressed{Params: []packed.CompressedParam{
		{Name: "layers.0.weight", Shape: []int{2, 4}, Quantized: q},
		{Name: "layers.0.bias", Shape: []int{2}, Values: []float32{0.5, -0.5}},
	}}
	var buf bytes.Buffer
	if err := packed.WriteCompressed(&buf, c); err != nil {
		fmt.Println(err)
		return
	}
	rep, err := packed.ReportSize(buf.Bytes(), safetensors.Limits{})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, p := range rep.Params {
		fmt.Printf("%s %s: %d bytes\n", p.Name, p.Scheme, p.Bytes)
		for _, cs := range p.Components {
			fmt.Printf("  %s %s %d\n", cs.Tensor, cs.DType, cs.Bytes)
		}
	}
	fmt.Println("header + data = file:", rep.HeaderBytes+rep.DataBytes == int64(buf.Len()))
	// Output:
	// layers.0.bias float32: 8 bytes
	//   layers.0.bias F32 8
	// layers.0.weight int4: 14 bytes
	//   layers.0.weight.q U8 4
	//   layers.0.weight.scale F32 8
	//   layers.0.weight.zero_point I8 2
	// header + data = file: true
}
