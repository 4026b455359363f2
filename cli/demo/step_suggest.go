package demo

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/posture-dev/posture/advisor"
	"github.com/posture-dev/posture/cli/suggest"
	"github.com/posture-dev/posture/evidence"
	"github.com/posture-dev/posture/policy"
)

// stepSuggest does what "posture suggest --flows <evidence> --stage all
// --out <dir>/policies" does, then shows a few of the target policies.
func stepSuggest(ctx context.Context, e *env) error {
	if e.evidence == "" {
		fmt.Fprintln(e.s.Out, "(no evidence from the previous step; nothing to suggest)")
		return nil
	}
	out := filepath.Join(e.dir, "policies")
	fmt.Fprintf(e.s.Out, "$ posture suggest --flows %s --stage all --out %s\n", e.evidence, out)
	edges, _, err := evidence.LoadEdges(ctx, e.evidence, nil)
	if err != nil {
		return fmt.Errorf("reading evidence: %w", err)
	}
	p, err := advisor.Suggest(edges, advisor.Options{})
	if err != nil {
		return fmt.Errorf("suggesting: %w", err)
	}
	files, err := p.Files(advisor.StageAll)
	if err != nil {
		return err
	}
	// A previous run's files would mix with this one's.
	if err := os.RemoveAll(out); err != nil {
		return fmt.Errorf("clearing %s: %w", out, err)
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		full := filepath.Join(out, filepath.FromSlash(n))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return fmt.Errorf("writing policies: %w", err)
		}
		if err := os.WriteFile(full, files[n], 0o644); err != nil {
			return fmt.Errorf("writing policies: %w", err)
		}
	}
	e.policies = filepath.Join(out, advisor.StageTarget)
	fmt.Fprintf(e.s.Out, "wrote %d files: one folder per stage (%v) and target/\n\n", len(files), advisor.Stages)

	// Show the policies a reviewer would look at first.
	var show []*policy.Policy
	for _, np := range p.Namespaces {
		for _, pol := range np.Target {
			if np.Namespace == "shop" && (pol.Metadata.Name == "posture-api" || pol.Metadata.Name == "posture-payments") {
				show = append(show, pol)
			}
		}
	}
	b, err := policy.Marshal(show)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.s.Out, "# two of the target policies (%s/shop/):\n%s\n", e.policies, b)
	suggest.WriteSummary(e.s.Out, p)
	return nil
}
