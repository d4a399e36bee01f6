package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/compressq/compressq/configs"
)

func newArtifactCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "artifact",
		Short: "Put files into the artifact store and get them back",
	}
	configs.BindArtifactFlags(cmd.PersistentFlags())
	cmd.AddCommand(&cobra.Command{
		Use:     "put FILE",
		Short:   "Store a file (e.g. a model) and print its content-addressed URI",
		Example: "  compressq artifact put model.safetensors",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := os.Open(args[0])
			if err != nil {
				return usageError{err}
			}
			defer f.Close()
			return withEnv(cmd, needStore, func(e *env) error {
				uri, err := e.st.Put(cmd.Context(), f, artifactExt(args[0]))
				if err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), uri)
				return nil
			})
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:     "get URI FILE",
		Short:   "Verify an artifact's hash and write it to FILE",
		Example: "  compressq artifact get file:///srv/artifacts/sha256/ab/ab…cq.safetensors small.safetensors",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withEnv(cmd, needStore, func(e *env) error {
				data, err := e.st.Get(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				return os.WriteFile(args[1], data, 0o644)
			})
		},
	})
	return cmd
}

// artifactExt keeps the meaningful extension of a file name.
func artifactExt(name string) string {
	for _, ext := range []string{".cq.safetensors", ".safetensors", ".onnx", ".json", ".csv"} {
		if len(name) > len(ext) && name[len(name)-len(ext):] == ext {
			return ext
		}
	}
	return ""
}
