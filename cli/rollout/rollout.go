package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/posture-dev/posture/cli/cmdutil"
	"github.com/posture-dev/posture/reports"
	"github.com/posture-dev/posture/rollout"
)

// New returns the rollout command.
func New(s cmdutil.Streams) *cobra.Command {
	c := &common{}
	cmd := &cobra.Command{
		Use:   "rollout",
		Short: "Stage, promote and roll back policies namespace by namespace, with gates",
		Long: `Walks each namespace through the safe-rollout checklist against a cluster:

  observe → baseline → platform → narrow → enforce → l7 → done

baseline allows everything within the namespace, platform adds DNS and API
server allowances, narrow adds each workload's own allows (one workload at a
time with --workload, or all at once), enforce turns default deny on per
workload and direction, l7 adds HTTP/DNS rules, and done removes the
transitional baseline so the namespace runs exactly the target set. Nothing
before enforce can drop traffic: every policy is staged with
enableDefaultDeny false.

A promotion passes only when its gates do (evidence span, every CronJob
seen, zero would-deny flows for the quiet window, full coverage, no new
peers); --force --reason TEXT overrides and is recorded. Rollback never
waits for gates. State and history live in the ConfigMap posture-rollout of
each namespace; policies are server-side applied with field manager
"posture", so hand edits are detected instead of overwritten.`,
		Example: `  posture rollout status --flows flows.jsonl
  posture rollout plan -n shop --flows flows.jsonl
  posture rollout promote -n shop --flows flows.jsonl
  posture rollout promote -n shop --flows flows.jsonl --workload cart --direction ingress
  posture rollout rollback -n shop --flows flows.jsonl
  posture rollout promote -n shop --flows flows.jsonl --export gitops/`,
	}
	c.register(cmd)
	cmd.AddCommand(statusCmd(s, c), planCmd(s, c), stepCmd(s, c, false), stepCmd(s, c, true), serveCmd(s, c))
	return cmd
}

func statusCmd(s cmdutil.Streams, c *common) *cobra.Command {
	out := cmdutil.NewOutput("table", "table", "json")
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show each namespace's stage, gates, coverage and would-deny flows",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := c.Status(cmd.Context(), s, c.namespace)
			if err != nil {
				return err
			}
			if out.String() == "json" {
				enc := json.NewEncoder(s.Out)
				enc.SetIndent("", "  ")
				return enc.Encode(st)
			}
			width, color := cmdutil.TableWidth(s.Out)
			r, err := reports.Build(st, reports.Options{Namespace: c.namespace, Workloads: c.namespace != "", Width: width, Color: color})
			if err != nil {
				return err
			}
			return reports.WriteTable(s.Out, r)
		},
	}
	out.Register(cmd)
	return cmd
}

func planCmd(s cmdutil.Streams, c *common) *cobra.Command {
	var st stepFlags
	cmd := &cobra.Command{
		Use:   "plan -n NAMESPACE",
		Short: "Show what the next promotion (or --to STAGE) would change, as a diff of the policies, and its gates",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			e, req, err := prepare(cmd.Context(), s, c, &st)
			if err != nil {
				return err
			}
			cur, tgt, rep, err := e.Preview(cmd.Context(), req, st.rollback)
			if err != nil {
				return err
			}
			changes, err := rollout.Changes(req.Plan, cur.Snapshot, tgt)
			if err != nil {
				return err
			}
			verb := "promotion"
			if st.rollback {
				verb = "rollback"
			}
			fmt.Fprintf(s.Out, "# %s of %s: %s → %s (%d object(s) change)\n", verb, req.Namespace, cur.Stage, tgt.Stage, len(changes))
			drift, err := rollout.Drift(cmd.Context(), e.Client, req.Plan, cur.Snapshot)
			if err != nil {
				return err
			}
			for _, d := range drift {
				fmt.Fprintf(s.Out, "! %s\n", d)
			}
			for _, ch := range changes {
				fmt.Fprintf(s.Out, "\n## %s ciliumnetworkpolicy/%s\n%s", ch.Action, ch.Name, ch.Diff)
			}
			if rep != nil {
				fmt.Fprintln(s.Out)
				writeGates(s.Out, rep)
				if !rep.Passing() {
					fmt.Fprintf(s.Err, "gates failing: %s (promote would refuse)\n", strings.Join(rep.Failing(), ", "))
				}
			}
			return nil
		},
	}
	st.register(cmd, false)
	cmd.Flags().BoolVar(&st.rollback, "rollback", false, "plan a rollback instead of a promotion")
	return cmd
}

type stepFlags struct {
	to        string
	workloads []string
	direction string
	force     bool
	reason    string
	export    string
	rollback  bool
}

func (f *stepFlags) register(cmd *cobra.Command, act bool) {
	fl := cmd.Flags()
	fl.StringVar(&f.to, "to", "", "target stage: baseline, platform, narrow, enforce, l7, done (promote) or observe … l7 (rollback); default: one step")
	fl.StringSliceVar(&f.workloads, "workload", nil, "only these workloads (from narrow on; repeat or comma-separate)")
	fl.StringVar(&f.direction, "direction", "both", "for enforce steps: ingress, egress or both")
	if act {
		fl.BoolVar(&f.force, "force", false, "go ahead although gates fail or objects were edited by hand (needs --reason; recorded)")
		fl.StringVar(&f.reason, "reason", "", "why: recorded in the history (required with --force)")
		fl.StringVar(&f.export, "export", "", "write the resulting manifests (and rollout state) to this directory for GitOps instead of applying them")
	}
}

func prepare(ctx context.Context, s cmdutil.Streams, c *common, f *stepFlags) (*rollout.Engine, rollout.Request, error) {
	var req rollout.Request
	if c.namespace == "" {
		return nil, req, errors.New("-n/--namespace is required")
	}
	dir, err := rollout.ParseDirection(f.direction)
	if err != nil {
		return nil, req, err
	}
	step := rollout.Step{Workloads: f.workloads, Direction: dir}
	if f.to != "" {
		to, err := rollout.ParseStage(f.to)
		if err != nil {
			return nil, req, fmt.Errorf("--to: %w", err)
		}
		step.To = &to
	}
	if f.force && strings.TrimSpace(f.reason) == "" {
		return nil, req, errors.New("--force needs --reason TEXT: overrides are recorded in the history")
	}
	dc, _, err := c.client()
	if err != nil {
		return nil, req, err
	}
	in, err := c.load(ctx, s, c.namespace, true)
	if err != nil {
		return nil, req, err
	}
	plan, err := in.plan(c.namespace)
	if err != nil {
		return nil, req, err
	}
	g, err := c.gates()
	if err != nil {
		return nil, req, err
	}
	clock, err := c.clock()
	if err != nil {
		return nil, req, err
	}
	e := rollout.NewEngine(dc, c.who())
	e.Gates, e.Now = g, clock
	req = rollout.Request{Namespace: c.namespace, Plan: plan, Step: step, Evidence: in.evidenceOrNil(), Force: f.force, Reason: f.reason}
	return e, req, nil
}

func stepCmd(s cmdutil.Streams, c *common, rollback bool) *cobra.Command {
	f := &stepFlags{rollback: rollback}
	use, short := "promote -n NAMESPACE", "Promote a namespace (or workloads) one stage, or --to STAGE, when the gates pass"
	if rollback {
		use, short = "rollback -n NAMESPACE", "Roll a namespace (or workloads) back one stage, or --to STAGE, at once (no gates)"
	}
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			e, req, err := prepare(ctx, s, c, f)
			if err != nil {
				return err
			}
			if f.export != "" {
				res, files, err := e.Export(ctx, req, f.export, rollback)
				if res != nil && res.Gates != nil {
					writeGates(s.Err, res.Gates)
				}
				if err != nil {
					return err
				}
				for _, p := range files {
					fmt.Fprintln(s.Out, p)
				}
				fmt.Fprintf(s.Err, "exported %s: %s → %s (%d files); nothing was applied\n", req.Namespace, res.From, res.To, len(files))
				return nil
			}
			start := time.Now()
			var res *rollout.Result
			if rollback {
				res, err = e.Rollback(ctx, req)
			} else {
				res, err = e.Promote(ctx, req)
			}
			if res != nil && res.Gates != nil {
				writeGates(s.Err, res.Gates)
			}
			if err != nil {
				return err
			}
			verb := "promoted"
			if rollback {
				verb = "rolled back"
			}
			if res.Resumed {
				verb = "completed the interrupted step:"
			}
			fmt.Fprintf(s.Out, "%s %s %s → %s (%d applied, %d deleted, %s)\n", req.Namespace, verb, res.From, res.To,
				len(res.Applied), len(res.Deleted), time.Since(start).Round(time.Millisecond))
			for _, t := range res.Transitions {
				who := "namespace"
				if t.Workload != "" {
					who = "workload " + t.Workload
				}
				forced := ""
				if t.Forced {
					forced = " [forced]"
				}
				fmt.Fprintf(s.Out, "  %s: %s → %s (%s)%s\n", who, t.From, t.To, t.Reason, forced)
			}
			return nil
		},
	}
	f.register(cmd, true)
	return cmd
}

func writeGates(w io.Writer, rep *rollout.GateReport) {
	fmt.Fprintf(w, "%-20s %-6s %-28s %s\n", "GATE", "PASS", "VALUE", "THRESHOLD")
	for _, g := range rep.Gates {
		pass := "yes"
		if !g.Passing {
			pass = "NO"
		}
		fmt.Fprintf(w, "%-20s %-6s %-28s %s\n", g.Name, pass, g.Value, g.Threshold)
		if g.Detail != "" && !g.Passing {
			fmt.Fprintf(w, "  %s\n", g.Detail)
		}
	}
	if len(rep.TopDenied) > 0 {
		fmt.Fprintln(w, "would-deny flows (top):")
		for _, d := range rep.TopDenied {
			fmt.Fprintf(w, "  %s → %s %s %s ×%d — %s\n", d.Source, d.Destination, d.Port, d.Direction, d.Count, d.Fix)
		}
	}
}
