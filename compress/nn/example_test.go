package nn_test

import (
	"fmt"

	"github.com/compressq/compressq/compress/nn"
)

// Build a reference architecture and list its parameters.
func ExampleBuild() {
	arch, err := nn.ArchByName("lenet-5")
	if err != nil {
		panic(err)
	}
	net, err := nn.Build(arch, 1)
	if err != nil {
		panic(err)
	}
	for _, p := range net.Params() {
		fmt.Println(p.Name, p.Value.Shape())
	}
	fmt.Println("parameters:", net.NumParams())
	// Output:
	// layers.0.weight (20, 1, 5, 5)
	// layers.0.bias (20)
	// layers.2.weight (50, 20, 5, 5)
	// layers.2.bias (50)
	// layers.5.weight (500, 800)
	// layers.5.bias (500)
	// layers.7.weight (10, 500)
	// layers.7.bias (10)
	// parameters: 431080
}

// Validate reports shape problems by layer.
func ExampleArch_Validate() {
	a := nn.Arch{Input: []int{1, 28, 28}, Layers: []nn.LayerSpec{
		{Type: nn.TypeConv2D, Filters: 8, Kernel: 5, Pad: 2},
		{Type: nn.TypeReLU},
		{Type: nn.TypeMaxPool2D, Kernel: 2},
		{Type: nn.TypeDense, Units: 10},
	}}
	fmt.Println(a.Validate())
	// Output:
	// layers[3] (dense): input [8 14 14] has 3 dims, flatten first
}
