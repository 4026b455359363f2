package demo

import (
	"context"
	"fmt"

	"github.com/posture-dev/posture/cli/flows"
	"github.com/posture-dev/posture/evidence"
)

// stepSummarize does what "posture flows summarize --flows <evidence>"
// does with the evidence the previous step wrote.
func stepSummarize(ctx context.Context, e *env) error {
	if e.evidence == "" {
		fmt.Fprintln(e.s.Out, "(no evidence from the previous step; nothing to summarise)")
		return nil
	}
	fmt.Fprintf(e.s.Out, "$ posture flows summarize --flows %s\n", e.evidence)
	edges, st, err := evidence.LoadEdges(ctx, e.evidence, nil)
	if err != nil {
		return fmt.Errorf("summarising evidence: %w", err)
	}
	if err := flows.RenderTable(e.s.Out, edges); err != nil {
		return err
	}
	flows.WriteFooter(e.s.Out, st, len(edges))
	return nil
}
