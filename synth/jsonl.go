package synth

import (
	"fmt"
	"io"
	"os"
	"time"

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

// WriteFlowsFile writes flows as posture JSONL to a new file at path.
func WriteFlowsFile(path string, fs []flow.Flow) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("writing evidence: %w", err)
	}
	if err := WriteFlows(f, fs); err != nil {
		f.Close()
		return fmt.Errorf("writing evidence to %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing evidence to %s: %w", path, err)
	}
	return nil
}

// Last is the time of the newest flow: "now" when replaying the evidence.
func Last(fs []flow.Flow) time.Time {
	var last time.Time
	for i := range fs {
		if fs[i].Time.After(last) {
			last = fs[i].Time
		}
	}
	return last
}
