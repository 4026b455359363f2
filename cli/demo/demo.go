package demo

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/posture-dev/posture/cli/cmdutil"
)

// env is what the steps share: where to write, and what earlier steps made.
type env struct {
	s   cmdutil.Streams
	dir string
	// Paths filled in by earlier steps for later ones.
	evidence string // posture JSONL evidence
	policies string // suggested target policy set (directory)
	status   string // rollout status JSON (rollout step), for the report
}

type step struct {
	title string
	run   func(ctx context.Context, e *env) error
}

// steps run in order; each lives in its own file.
func steps() []step {
	return []step{
		{"Generate example evidence (synthetic shop topology)", stepEvidence},
		{"Summarise the evidence into identity-to-identity edges", stepSummarize},
		{"Suggest policies from the evidence", stepSuggest},
		{"Verify the suggestion against the evidence", stepVerify},
		{"Stage and promote through a local Kubernetes API server", stepRollout},
		{"Report rollout progress", stepReport},
	}
}

// New returns the demo command.
func New(s cmdutil.Streams) *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run posture end to end on generated example data (no cluster needed)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return fmt.Errorf("creating demo directory: %w", err)
			}
			abs, err := filepath.Abs(dir)
			if err != nil {
				return err
			}
			e := &env{s: s, dir: abs}
			for i, st := range steps() {
				fmt.Fprintf(s.Out, "\n== %d. %s\n", i+1, st.title)
				if err := st.run(cmd.Context(), e); err != nil {
					return fmt.Errorf("demo step %d (%s): %w", i+1, st.title, err)
				}
			}
			fmt.Fprintf(s.Out, "\nDemo output is in %s\n", abs)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "out/demo", "directory for the demo's files")
	return cmd
}
