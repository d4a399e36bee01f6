package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/compressq/compressq/compress/data"
	"github.com/compressq/compressq/compress/nn"
	"github.com/compressq/compressq/compress/recipe"
	"github.com/compressq/compressq/compress/safetensors"
	"github.com/compressq/compressq/configs"
	"github.com/compressq/compressq/internal/taskmap"
	"github.com/compressq/compressq/tasks"
)

func newDistillCmd() *cobra.Command {
	var (
		p       = tasks.DistillPayload{V: tasks.Version}
		student string
		out     string
		asJSON  bool
	)
	var pre preprocessFlags
	cmd := &cobra.Command{
		Use:   "distill --teacher FILE --student ARCH --out FILE",
		Short: "Distil a teacher model into a student locally, as the compress:distill task does, without Redis",
		Example: `  compressq distill --teacher lenet300.safetensors --student student.json --epochs 3 --out student.safetensors
  compressq distill --teacher lenet5.safetensors --student lenet-300-100 --temperature 4 --alpha 0.9 --out small.safetensors`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			raw, err := archFlag(student)
			if err != nil {
				return usageError{fmt.Errorf("--student: %w", err)}
			}
			p.Student = raw
			return modelTask[*tasks.DistillResult]{
				payload: &p, model: &p.Teacher, data: &p.Data, pre: &p.Preprocess, flags: pre, needData: true,
				run: func(ctx context.Context, raw []byte, limits safetensors.Limits, s *data.Splits) ([]byte, *tasks.DistillResult, error) {
					r, err := recipe.Distill(ctx, taskmap.DistillOptions(&p, raw, limits, s))
					if err != nil {
						return nil, nil, err
					}
					return r.Model, taskmap.DistillResult(r), nil
				},
				done: func(w io.Writer, res *tasks.DistillResult, out string, asJSON bool) error {
					res.Artifact = out
					if asJSON {
						return writeJSONTo(w, res)
					}
					printDistillResult(w, res)
					return nil
				},
			}.exec(cmd, out, asJSON)
		},
	}
	f := cmd.Flags()
	addPreprocessFlags(f, &pre)
	configs.BindArtifactFlags(f)
	addOptimFlags(f, &p.Optim, tasks.Optim{}, "schedule")
	f.StringVar(&p.Teacher, "teacher", "", "teacher model file (safetensors with its architecture)")
	f.StringVar(&student, "student", "", "student architecture: a name ("+fmt.Sprint(nn.ArchNames())+") or a JSON file")
	f.Float64Var(&p.Temperature, "temperature", 4, "softmax temperature of the soft targets")
	f.Float64Var(&p.Alpha, "alpha", 0.9, "weight of the soft-target loss (the rest on the labels)")
	f.IntVar(&p.Epochs, "epochs", 3, "training epochs of the student")
	f.Float64Var(&p.LR, "lr", 0, "learning rate (0: the optimizer's default)")
	f.Int64Var(&p.Seed, "seed", 1, "random seed")
	f.StringVar(&p.Data, "data", "", "data set: a directory, a .zip or .npz, or a data set URI (compressq data put)")
	f.StringVar(&out, "out", "", "where to write the student model")
	f.BoolVar(&asJSON, "json", false, "print the result as JSON")
	cmd.MarkFlagRequired("teacher")
	cmd.MarkFlagRequired("student")
	return cmd
}

func printDistillResult(w io.Writer, r *tasks.DistillResult) {
	fmt.Fprintf(w, "  artifact  %s\n  student   %s (%d parameters)\n", r.Artifact, r.Arch, r.Params)
	fmt.Fprintf(w, "  accuracy  student %.2f%% (%d errors), teacher %.2f%% (%d errors)\n  time      %.1fs\n",
		100*r.StudentAccuracy, r.Errors, 100*r.TeacherAccuracy, r.TeacherErrors, r.Seconds)
}
