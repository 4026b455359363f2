package demo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/posture-dev/posture/cli/cmdutil"
	"github.com/posture-dev/posture/cli/verify"
)

// verifyTail is how many table rows the demo shows.
const verifyTail = 12

// stepVerify decides every observed flow against the suggested policies
// as Cilium would enforce them, and shows the end of the table.
func stepVerify(ctx context.Context, e *env) error {
	if e.policies == "" || e.evidence == "" {
		fmt.Fprintln(e.s.Out, "(skipped: needs the evidence and suggested policies of the earlier steps, which are not built yet)")
		return nil
	}
	var out bytes.Buffer
	s := cmdutil.Streams{In: e.s.In, Out: &out, Err: e.s.Err}
	fmt.Fprintf(e.s.Out, "$ posture verify --policies %s --flows %s --as-enforced --denied-only\n", e.policies, e.evidence)
	sum, err := verify.Run(ctx, s, verify.Options{Policies: e.policies, Flows: e.evidence, AsEnforced: true, Output: "table", DeniedOnly: true})
	var ee *cmdutil.ExitError
	if err != nil && !errors.As(err, &ee) {
		return err
	}
	lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
	if len(lines) > verifyTail+2 {
		fmt.Fprintln(e.s.Out, lines[0])
		fmt.Fprintf(e.s.Out, "... (%d more rows)\n", len(lines)-verifyTail-2)
		lines = lines[len(lines)-verifyTail-1:]
	}
	for _, l := range lines {
		fmt.Fprintln(e.s.Out, l)
	}
	if sum.Denied > 0 {
		fmt.Fprintf(e.s.Out, "With default deny enforced, the suggestion would deny the %d flow(s) listed above and allow the other %d.\n", sum.Denied, sum.Allowed)
		if sum.DeniedDropped > 0 {
			fmt.Fprintf(e.s.Out, "%d of them were already dropped when observed: the advisor does not allow what existing policy only ever dropped.\n", sum.DeniedDropped)
		}
	} else {
		fmt.Fprintf(e.s.Out, "All %d observed flows are allowed by the suggestion, even with default deny enforced.\n", sum.Allowed)
	}
	return nil
}
