package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/compressq/compressq/compress/nn"
	"github.com/compressq/compressq/compress/packed"
	"github.com/compressq/compressq/compress/recipe"
)

// modelInfo is what `compressq model inspect --json` prints.
type modelInfo struct {
	File   string `json:"file"`
	Format string `json:"format"`
	// Input is the per-sample input shape; the batch dimension is free.
	Input []int `json:"input"`
	// Output is the per-sample output shape.
	Output []int `json:"output"`
	// Mean and Std are the input transform the file states (pixels/255,
	// then per channel (x − mean)/std); absent when it states none.
	Mean   []float64         `json:"mean,omitempty"`
	Std    []float64         `json:"std,omitempty"`
	Params int               `json:"params"`
	MACs   int64             `json:"macs"`
	Layers []nn.LayerSummary `json:"layers"`
	// Storage, for a compressed artifact, is where its bytes go: per
	// parameter the scheme and bytes stored against float32.
	Storage *packed.SizeReport `json:"storage,omitempty"`
}

func newModelCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "model",
		Short: "Look at model files",
	}
	var asJSON bool
	inspect := &cobra.Command{
		Use:   "inspect FILE",
		Short: "Print a model file's layers, parameter counts, MACs and input shape",
		Long: `Inspect reads a model file in any format compressq reads — a safetensors model, a
compressed artifact or an ONNX model, recognised by content — and prints the network it
makes: per layer its type, inputs (-1 is the network input), settings, output shape,
parameters and multiply-accumulates per sample; for a compressed artifact also where its
bytes go (scheme and bytes per parameter against float32). An ONNX model compressq cannot represent
is refused with every unsupported op and node named.`,
		Example: `  compressq model inspect resnet.onnx
  compressq model inspect lenet.cq.safetensors --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withEnv(cmd, 0, func(e *env) error {
				raw, err := readLimited(args[0], e.cfg.Artifacts.MaxBytes)
				if err != nil {
					return err
				}
				m, err := recipe.LoadModel("model", raw, e.limits())
				if err != nil {
					return fmt.Errorf("%s: %w", args[0], err)
				}
				info := modelInfo{File: args[0], Format: m.Format, Input: m.Net.InputShape(), Output: m.Net.OutputShape(),
					Params: m.Net.NumParams(), MACs: m.Net.MACs(), Layers: m.Net.Summary()}
				if m.Stated {
					info.Mean, info.Std = m.Transform.Mean, m.Transform.Std
				}
				if m.Format == recipe.FormatCompressed {
					if info.Storage, err = packed.ReportSize(raw, e.limits()); err != nil {
						return fmt.Errorf("%s: %w", args[0], err)
					}
				}
				if asJSON {
					return writeJSONTo(cmd.OutOrStdout(), &info)
				}
				return printModelInfo(cmd.OutOrStdout(), &info)
			})
		},
	}
	inspect.Flags().BoolVar(&asJSON, "json", false, "print the description as JSON")
	cmd.AddCommand(inspect)
	return cmd
}

func printModelInfo(w io.Writer, m *modelInfo) error {
	fmt.Fprintf(w, "%s: %s, input [N %s], output [N %s], %d parameters, %s MACs per sample\n",
		m.File, m.Format, dims(m.Input), dims(m.Output), m.Params, grouped(m.MACs))
	if m.Mean != nil {
		fmt.Fprintf(w, "input transform: pixels/255, then mean %v std %v\n", m.Mean, m.Std)
	} else {
		fmt.Fprintln(w, "input transform: none stated ([0, 1] pixels unless --mean/--std say otherwise)")
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tTYPE\tINPUTS\tDETAIL\tOUTPUT\tPARAMS\tMACS\t")
	for _, l := range m.Layers {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%s\t\n", l.Index, l.Type, ints(l.Inputs), l.Detail, dims(l.Output), l.Params, grouped(l.MACs))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if m.Storage != nil {
		fmt.Fprintf(w, "\nstorage:\n%s", m.Storage)
	}
	return nil
}

// dims renders a shape as "1 28 28".
func dims(s []int) string { return strings.Trim(fmt.Sprint(s), "[]") }

// ints renders a list as "3,4".
func ints(s []int) string { return strings.ReplaceAll(dims(s), " ", ",") }

// grouped renders n with thousands separators.
func grouped(n int64) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
