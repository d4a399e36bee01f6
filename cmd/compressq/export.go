package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/recipe"
	"github.com/compressq/compressq/compress/safetensors"
	"github.com/compressq/compressq/configs"
	"github.com/compressq/compressq/internal/taskmap"
	"github.com/compressq/compressq/tasks"
)

func newExportCmd() *cobra.Command {
	var (
		p      = tasks.ExportPayload{V: tasks.Version}
		out    string
		asJSON bool
	)
	var pre preprocessFlags
	cmd := &cobra.Command{
		Use:   "export --model FILE --format onnx [--form float|qdq|qoperator] --out FILE",
		Short: "Export a model as ONNX locally, as the compress:export task does, without Redis",
		Long: `Export writes a model file, a compressed artifact or an ONNX model as a standard ONNX
model (opset 13) that ONNX Runtime runs. The model's input transform (pixels/255, then
per-channel mean and std) is recorded in the ONNX metadata.

  float      float32 weights (an artifact's weights dequantized)
  qdq        int8 weights behind DequantizeLinear; with --data, the calibrated integer-only
             model, its activations between QuantizeLinear/DequantizeLinear pairs
  qoperator  the calibrated integer-only model as QLinearConv/MatMulInteger on uint8
             activations (needs --data)

k-means and sparse artifacts are written as dense values; a warning says what is lost.`,
		Example: `  compressq export --model lenet.safetensors --format onnx --out lenet.onnx
  compressq export --model lenet.cq.safetensors --form qdq --out lenet-int8.onnx
  compressq export --model lenet.safetensors --form qoperator --data mnist/ --out lenet-qop.onnx --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return modelTask[*tasks.ExportResult]{
				payload: &p, model: &p.Model, data: &p.Data, pre: &p.Preprocess, flags: pre, needData: p.Data != "",
				run: func(ctx context.Context, raw []byte, limits safetensors.Limits, s *data.Splits) ([]byte, *tasks.ExportResult, error) {
					o := taskmap.ExportOptions(&p, raw, limits, s)
					o.ProducerVersion = version
					r, err := recipe.Export(ctx, o)
					if err != nil {
						return nil, nil, err
					}
					return r.ONNX, taskmap.ExportResult(r), nil
				},
				done: func(w io.Writer, res *tasks.ExportResult, out string, asJSON bool) error {
					res.Artifact = out
					if asJSON {
						return writeJSONTo(w, res)
					}
					printExportResult(w, res)
					return nil
				},
			}.exec(cmd, out, asJSON)
		},
	}
	f := cmd.Flags()
	addPreprocessFlags(f, &pre)
	configs.BindArtifactFlags(f)
	f.StringVar(&p.Model, "model", "", "model file: safetensors model, compressed artifact or ONNX")
	f.StringVar(&p.Format, "format", "onnx", "output format: onnx")
	f.StringVar(&p.Form, "form", tasks.FormFloat, "float, qdq or qoperator")
	f.StringVar(&p.Data, "data", "", "calibration data for an integer-only model: a directory, a .zip or .npz, or a data set URI")
	f.StringVar(&p.Calibration, "calibration", "", "with --data: minmax (default), percentile, mse or kl")
	f.IntVar(&p.CalibSize, "calib-size", 0, "with --data: calibration images (default 1000)")
	f.StringVar(&out, "out", "", "where to write the ONNX model")
	f.BoolVar(&asJSON, "json", false, "print the result as JSON")
	cmd.MarkFlagRequired("model")
	return cmd
}

func printExportResult(w io.Writer, r *tasks.ExportResult) {
	fmt.Fprintf(w, "wrote %s: %s ONNX of a %s model, %d bytes\n", r.Artifact, r.Form, r.Source, r.Bytes)
	for _, warn := range r.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
}
