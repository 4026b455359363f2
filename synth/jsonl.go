package synth

import (
	"fmt"
	"io"

	"github.com/posture-dev/posture/flow"
)

// Edges aggregates flows as the advisor receives them.
func Edges(fs []flow.Flow) []flow.Edge {
	a := flow.NewAggregator()
	for i := range fs {
		a.Add(&fs[i])
	}
	return a.Edges()
}

// WriteFlows writes flows as posture JSONL.
func WriteFlows(w io.Writer, fs []flow.Flow) error {
	jw := flow.NewWriter(w)
	for i := range fs {
		if err := jw.WriteFlow(&fs[i]); err != nil {
			return fmt.Errorf("writing flow %d: %w", i, err)
		}
	}
	return jw.Flush()
}

// WriteEdges writes edges as posture JSONL.
func WriteEdges(w io.Writer, es []flow.Edge) error {
	jw := flow.NewWriter(w)
	for i := range es {
		if err := jw.WriteEdge(&es[i]); err != nil {
			return fmt.Errorf("writing edge %d: %w", i, err)
		}
	}
	return jw.Flush()
}
