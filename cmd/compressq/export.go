package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/model"
	"github.com/compressq/compressq/compress/onnx"
	"github.com/compressq/compressq/tasks"
)

func newExportCmd() *cobra.Command {
	var (
		p      = tasks.ExportPayload{V: tasks.Version}
		out    string
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "export --model FILE --format onnx [--form float|qdq|qoperator] --out FILE",
		Short: "Export a model as ONNX locally, as the compress:export task does, without Redis",
		Long: `Export writes a model file, a compressed artifact or an ONNX model as a standard ONNX
model (opset 13) that ONNX Runtime runs.

  float      float32 weights (an artifact's weights dequantized)
  qdq        int8 weights behind DequantizeLinear; with --data, the calibrated integer-only
             model, its activations between QuantizeLinear/DequantizeLinear pairs
  qoperator  the calibrated integer-only model as QLinearConv/MatMulInteger on uint8
             activations (needs --data)

k-means and sparse artifacts are written as dense values; a warning says what is lost.`,
		Example: `  compressq export --model lenet.safetensors --format onnx --out lenet.onnx
  compressq export --model lenet.cq.safetensors --form qdq --out lenet-int8.onnx
  compressq export --model lenet.safetensors --form qoperator --data mnist --out lenet-qop.onnx --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return usageError{fmt.Errorf("--out: required")}
			}
			e, err := loadEnv(cmd)
			if err != nil {
				return err
			}
			in := p.Model
			p.Model = "file://" + in // the payload wants a URI; validation only
			if err := p.Validate(); err != nil {
				return usageError{err}
			}
			raw, err := readLimited(in, e.cfg.Artifacts.MaxBytes)
			if err != nil {
				return err
			}
			req := onnx.Request{Form: onnx.Form(p.Form), Calibration: p.Calibration, CalibSize: p.CalibSize,
				Limits:  model.Limits{MaxFileBytes: e.cfg.Artifacts.MaxBytes},
				Options: onnx.ExportOptions{ProducerVersion: version, Preprocessing: onnx.NewPreprocessing(p.PixelScale, p.Mean, p.Std)}}
			if p.Data != "" {
				dir := p.Data
				if dir == "mnist" {
					dir = ""
				}
				norm := data.MNISTStandard() // as train and quantize load data
				train, _, err := data.Load(cmd.Context(), dir, norm)
				if err != nil {
					return err
				}
				req.Calib, req.InputNorm = train, &norm
				if req.Options.Preprocessing == nil {
					pre := onnx.PreprocessingFromNormalization(norm)
					req.Options.Preprocessing = &pre
				}
			}
			res, err := onnx.Export(cmd.Context(), raw, req)
			if err != nil {
				if onnx.IsInputError(err) {
					return usageError{fmt.Errorf("%s: %w", in, err)}
				}
				return fmt.Errorf("%s: %w", in, err)
			}
			if err := os.WriteFile(out, res.ONNX, 0o644); err != nil {
				return err
			}
			r := tasks.ExportResult{Artifact: out, Form: string(res.Form), Source: res.Source, Bytes: int64(len(res.ONNX)), Warnings: res.Warnings}
			if asJSON {
				for _, w := range r.Warnings {
					e.log.Warn("export: " + w)
				}
				return writeJSONTo(cmd.OutOrStdout(), &r)
			}
			printExportResult(cmd.OutOrStdout(), &r)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&p.Model, "model", "", "model file: safetensors model, compressed artifact or ONNX")
	f.StringVar(&p.Format, "format", "onnx", "output format: onnx")
	f.StringVar(&p.Form, "form", tasks.FormFloat, "float, qdq or qoperator")
	f.StringVar(&p.Data, "data", "", "calibration data for an integer-only model: mnist or a directory of IDX files")
	f.StringVar(&p.Calibration, "calibration", "", "with --data: minmax (default), percentile, mse or kl")
	f.IntVar(&p.CalibSize, "calib-size", 0, "with --data: calibration images (default 1000)")
	f.Float64Var(&p.PixelScale, "pixel-scale", 0, "input preprocessing recorded in the metadata: input = (pixel*pixel-scale - mean)/std")
	f.Float64SliceVar(&p.Mean, "mean", nil, "per-channel means of the input preprocessing (comma-separated)")
	f.Float64SliceVar(&p.Std, "std", nil, "per-channel standard deviations of the input preprocessing (comma-separated)")
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
