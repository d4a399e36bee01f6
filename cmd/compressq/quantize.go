package main

import (
	"context"
	"io"

	"github.com/spf13/cobra"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/recipe"
	"github.com/compressq/compressq/compress/safetensors"
	"github.com/compressq/compressq/configs"
	"github.com/compressq/compressq/internal/taskmap"
	"github.com/compressq/compressq/tasks"
)

func newQuantizeCmd() *cobra.Command {
	var (
		p      = tasks.QuantizePayload{V: tasks.Version}
		out    string
		asJSON bool
	)
	var pre preprocessFlags
	cmd := &cobra.Command{
		Use:   "quantize --model FILE --out FILE",
		Short: "Quantize a model locally, as the compress:quantize task does, without Redis",
		Example: `  compressq quantize --model lenet.safetensors --bits 8 --granularity per-channel --out lenet.cq.safetensors
  compressq quantize --model lenet.safetensors --bits 4 --out lenet4.cq.safetensors --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return modelTask[*tasks.QuantizeResult]{
				payload: &p, model: &p.Model, data: &p.Data, pre: &p.Preprocess, flags: pre, needData: p.FullRecipe(),
				run: func(ctx context.Context, raw []byte, limits safetensors.Limits, s *data.Splits) ([]byte, *tasks.QuantizeResult, error) {
					r, err := recipe.Quantize(ctx, taskmap.QuantizeOptions(&p, raw, limits, s))
					if err != nil {
						return nil, nil, err
					}
					return r.Artifact, taskmap.QuantizeResult(r), nil
				},
				done: func(w io.Writer, res *tasks.QuantizeResult, out string, asJSON bool) error {
					res.Artifact = out
					if asJSON {
						return writeJSONTo(w, res)
					}
					printQuantizeResult(w, res)
					return nil
				},
			}.exec(cmd, out, asJSON)
		},
	}
	f := cmd.Flags()
	addPreprocessFlags(f, &pre)
	configs.BindArtifactFlags(f)
	f.StringVar(&p.Model, "model", "", "float32 model file (safetensors)")
	f.IntVar(&p.Bits, "bits", 8, "weight bits: 8 or 4")
	f.StringVar(&p.Granularity, "granularity", tasks.PerChannel, "per-tensor or per-channel")
	f.BoolVar(&p.Asymmetric, "asymmetric", false, "affine range with a zero point instead of symmetric")
	f.StringVar(&p.Calibration, "calibration", "", "full recipe: calibrate activations (minmax, percentile, mse, kl) and build an integer-only model")
	f.IntVar(&p.CalibSize, "calib-size", 0, "calibration images (default 1000)")
	f.IntVar(&p.QATEpochs, "qat-epochs", 0, "full recipe: quantization-aware fine-tuning epochs")
	f.IntVar(&p.KMeansBits, "kmeans-bits", 0, "full recipe: k-means weight sharing with this many index bits")
	f.BoolVar(&p.Huffman, "huffman", false, "with --kmeans-bits: Huffman-code the indices")
	f.StringVar(&p.Data, "data", "", "data set: a directory, a .zip or .npz, or a data set URI (compressq data put)")
	f.StringVar(&out, "out", "", "where to write the compressed model")
	f.BoolVar(&asJSON, "json", false, "print the result as JSON")
	cmd.MarkFlagRequired("model")
	return cmd
}
