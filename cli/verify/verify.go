package verify

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/posture-dev/posture/cli/cmdutil"
	"github.com/posture-dev/posture/evidence"
	"github.com/posture-dev/posture/flow"
	"github.com/posture-dev/posture/policy"
)

// Options are the verify command's inputs.
type Options struct {
	Policies   string // file or directory of CNP/CCNP YAML
	Flows      string // evidence file, directory, or "-" for stdin
	AsEnforced bool
	Output     string // "table" or "json"
	FailOnDeny bool
	// DeniedOnly lists only the flows that would be denied; the summary
	// still counts every flow.
	DeniedOnly bool
	// ClusterName is the local cluster's name (Cilium's cluster-name);
	// empty counts every pod as in the "cluster" entity.
	ClusterName string
}

// Summary counts flows by outcome, weighted by each record's count.
type Summary struct {
	Allowed, Denied uint64
	// DeniedDropped counts the denied flows the evidence already records
	// as dropped: denials that are not news.
	DeniedDropped uint64
	// DeniedRecords counts denied records (events) whatever their weight,
	// so --fail-on-deny trips even on a capture that starts mid-connection.
	DeniedRecords int
	Records       int
}

// New returns the verify command.
func New(s cmdutil.Streams) *cobra.Command {
	var o Options
	out := cmdutil.NewOutput("table", "table", "json")
	cmd := &cobra.Command{
		Use:   "verify --policies PATH --flows FILE|-",
		Short: "Decide every observed flow as Cilium would enforce the policies",
		Long: `verify evaluates each flow (posture JSONL flows and edges, or Hubble
json/jsonpb exports) against a set of CiliumNetworkPolicies and
CiliumClusterwideNetworkPolicies with Cilium's semantics: egress is decided
at the source endpoint, ingress at the destination, deny rules win, and a
direction is in default deny once a selecting policy has rules for it
(unless it sets enableDefaultDeny false). --as-enforced answers "what would
be denied if every policy enforced default deny".

The last line of the table is "N allowed, M denied" (flows weighted by
their counts). With -o json, stdout is one JSON object per flow and that
line goes to stderr.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Output = out.String()
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			_, err := Run(ctx, s, o)
			return err
		},
	}
	cmd.Flags().StringVar(&o.Policies, "policies", "", "policy file or directory (required)")
	cmd.Flags().StringVar(&o.Flows, "flows", "", "evidence file or directory, or - for stdin (required)")
	cmd.Flags().BoolVar(&o.AsEnforced, "as-enforced", false, "evaluate as if every policy set enableDefaultDeny true in both directions")
	cmd.Flags().BoolVar(&o.FailOnDeny, "fail-on-deny", false, "exit 1 when any flow is denied")
	cmd.Flags().BoolVar(&o.DeniedOnly, "denied-only", false, "list only denied flows (the summary counts all)")
	cmd.Flags().StringVar(&o.ClusterName, "cluster-name", "", "the local cluster's name: pods labelled with another io.cilium.k8s.policy.cluster are not in the \"cluster\" entity")
	out.Register(cmd)
	_ = cmd.MarkFlagRequired("policies")
	_ = cmd.MarkFlagRequired("flows")
	return cmd
}

// Run verifies o.Flows against o.Policies, writing the report to s.Out.
// With FailOnDeny it returns a *cmdutil.ExitError when anything is denied.
func Run(ctx context.Context, s cmdutil.Streams, o Options) (Summary, error) {
	var sum Summary
	if o.Policies == "" || o.Flows == "" {
		return sum, errors.New("both --policies and --flows are required")
	}
	ps, err := policy.LoadPath(o.Policies)
	if err != nil {
		return sum, fmt.Errorf("loading policies: %w", err)
	}
	eng, err := policy.Compile(ps, policy.CompileOptions{AsEnforced: o.AsEnforced, ClusterName: o.ClusterName})
	if err != nil {
		return sum, fmt.Errorf("compiling policies: %w", err)
	}
	var w writer
	if o.Output == "json" {
		w = newJSONWriter(s.Out)
	} else {
		w = newTableWriter(s.Out)
	}
	emit := func(it *evidence.Item, f *flow.Flow, weight uint64) error {
		r := eng.Evaluate(f)
		if r.Verdict.Allows() {
			sum.Allowed += weight
		} else {
			sum.Denied += weight
			sum.DeniedRecords++
			if f.Verdict == flow.VerdictDropped {
				sum.DeniedDropped += weight
			}
		}
		sum.Records++
		if o.DeniedOnly && r.Verdict.Allows() {
			return nil
		}
		return w.write(row{item: it, flow: f, weight: weight, result: r})
	}
	stats, err := evidence.Scan(ctx, o.Flows, s.In, func(it evidence.Item) error {
		switch {
		case it.Edge != nil:
			reps := it.Edge.Representatives()
			total := it.Edge.Flows
			for i := range reps {
				// Spread the edge's count over its representatives.
				n := total / uint64(len(reps))
				if uint64(i) < total%uint64(len(reps)) {
					n++
				}
				if err := emit(&it, &reps[i], n); err != nil {
					return err
				}
			}
		case it.Flow != nil:
			// Weigh by connections, as edges count them: Hubble emits one
			// event per trace point and per reply, which the tracker gives
			// zero weight; posture records carry their own count.
			return emit(&it, it.Flow, it.Counts.Flows)
		}
		return nil
	})
	if err != nil {
		return sum, fmt.Errorf("reading flows: %w", err)
	}
	if stats.Malformed > 0 {
		fmt.Fprintf(s.Err, "skipped %d malformed line(s); first: %v\n", stats.Malformed, stats.FirstMalformed)
		if sum.Records == 0 {
			return sum, fmt.Errorf("reading flows: no valid flow in %s", o.Flows)
		}
	}
	if err := w.flush(); err != nil {
		return sum, err
	}
	if sum.Records == 0 {
		fmt.Fprintf(s.Err, "no flows or edges in %s\n", o.Flows)
	}
	line := fmt.Sprintf("%d allowed, %d denied", sum.Allowed, sum.Denied)
	if o.Output == "json" {
		fmt.Fprintln(s.Err, line)
	} else {
		fmt.Fprintln(s.Out, line)
	}
	if o.FailOnDeny && sum.DeniedRecords > 0 {
		return sum, &cmdutil.ExitError{Code: 1}
	}
	return sum, nil
}
