package data_test

import (
	"context"
	"fmt"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/internal/mnist"
)

// Iterate over shuffled mini-batches of MNIST.
func ExampleDataset_Batches() {
	train, test, err := mnist.Load(context.Background(), data.UnitRange())
	if err != nil {
		panic(err)
	}
	fmt.Println(train.Len(), test.Len(), train.SampleShape())
	for x, y := range train.Subset(1000).Batches(256, train.Subset(1000).Perm(1)) {
		fmt.Println(x.Shape(), len(y))
	}
	// Output:
	// 60000 10000 [1 28 28]
	// (256, 1, 28, 28) 256
	// (256, 1, 28, 28) 256
	// (256, 1, 28, 28) 256
	// (232, 1, 28, 28) 232
}
