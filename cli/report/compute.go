package report

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/posture-dev/posture/advisor"
	"github.com/posture-dev/posture/cli/cmdutil"
	"github.com/posture-dev/posture/evidence"
	"github.com/posture-dev/posture/policy"
	"github.com/posture-dev/posture/rollout"
)

// cluster holds what computing the status from a cluster needs; the flags
// mean what they mean for "posture rollout status", so both commands
// judge the same gates the same way.
type cluster struct {
	kubeconfig  string
	context     string
	flows       string
	policies    string
	now         string
	observation time.Duration
	quiet       time.Duration
	coverage    float64
	maxDeny     uint64
	noCronJobs  bool
}

func (c *cluster) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&c.kubeconfig, "kubeconfig", "", "path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
	f.StringVar(&c.context, "context", "", "the kubeconfig context to use")
	f.StringVar(&c.flows, "flows", "", "evidence for the gates, coverage and would-deny flows: posture JSONL or Hubble json/jsonpb (file, directory, or - for stdin)")
	f.StringVar(&c.policies, "policies", "", "the target set being rolled out (posture suggest output); default: suggest from --flows")
	f.StringVar(&c.now, "now", "", "compute the status as of this RFC 3339 time instead of the clock (for recorded evidence)")
	d := rollout.DefaultGates()
	f.DurationVar(&c.observation, "observation-window", d.ObservationWindow, "gate: evidence must span this long, and every CronJob must have run inside it")
	f.DurationVar(&c.quiet, "quiet-window", d.QuietWindow, "gate: no would-deny flows and no new peers for this long before enforcing")
	f.Float64Var(&c.coverage, "min-coverage", d.MinCoverage, "gate: share (0..1) of observed flows the enforced set must allow")
	f.Uint64Var(&c.maxDeny, "max-would-deny", d.MaxWouldDeny, "gate: would-deny flows tolerated inside the quiet window")
	f.BoolVar(&c.noCronJobs, "no-cronjob-gate", false, "do not require every CronJob to have run inside the observation window")
}

// compute asks the rollout engine for the status of the cluster the
// kubeconfig names: its stored stages and history, and the gates judged on
// the evidence against the plans.
func (c *cluster) compute(ctx context.Context, s cmdutil.Streams, namespace string) (*rollout.Status, error) {
	g := rollout.DefaultGates()
	if c.observation <= 0 || c.quiet <= 0 {
		return nil, errors.New("--observation-window and --quiet-window must be positive")
	}
	if c.coverage < 0 || c.coverage > 1 {
		return nil, fmt.Errorf("--min-coverage %v: want a share between 0 and 1", c.coverage)
	}
	g.ObservationWindow, g.QuietWindow, g.MinCoverage, g.MaxWouldDeny = c.observation, c.quiet, c.coverage, c.maxDeny
	g.CronJobs = !c.noCronJobs
	now := time.Now().UTC()
	if c.now != "" {
		t, err := time.Parse(time.RFC3339, c.now)
		if err != nil {
			return nil, fmt.Errorf("--now %q: want RFC 3339 (2026-11-20T12:00:00Z): %w", c.now, err)
		}
		now = t.UTC()
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if c.kubeconfig != "" {
		rules.ExplicitPath = c.kubeconfig
	}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: c.context}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("no rollout status to report on: pass --status FILE, or a cluster (loading kubeconfig: %w)", err)
	}
	cfg.WarningHandler = rest.NoWarnings{}
	cfg.QPS, cfg.Burst = 200, 400
	cfg.Timeout = 30 * time.Second
	dc, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("making a client for %s: %w", cfg.Host, err)
	}

	opts := rollout.StatusOptions{Gates: g, Now: now}
	if namespace != "" {
		opts.Namespaces = []string{namespace}
	}
	var plans map[string]*rollout.NamespacePlan
	if c.flows != "" {
		edges, stats, err := evidence.LoadEdges(ctx, c.flows, s.In)
		if err != nil {
			return nil, fmt.Errorf("reading evidence: %w", err)
		}
		fmt.Fprintf(s.Err, "evidence: %d edges from %d lines\n", len(edges), stats.Lines)
		opts.Evidence = rollout.NewEdgeEvidence(edges)
		if c.policies == "" && len(edges) > 0 {
			aopts := advisor.Options{}
			if namespace != "" {
				aopts.Namespaces = []string{namespace}
			}
			pr, err := advisor.Suggest(edges, aopts)
			if err != nil {
				return nil, fmt.Errorf("suggesting policies from the evidence: %w", err)
			}
			if plans, err = rollout.PlansFromProposal(pr); err != nil {
				return nil, err
			}
		}
	}
	if c.policies != "" {
		ps, err := policy.LoadPath(c.policies)
		if err != nil {
			return nil, fmt.Errorf("loading the target set: %w", err)
		}
		if plans, err = rollout.PlansFromTarget(ps); err != nil {
			return nil, fmt.Errorf("%s: %w", c.policies, err)
		}
	}
	opts.Plans = func(ns string) (*rollout.NamespacePlan, error) { return plans[ns], nil }
	for ns := range plans {
		opts.PlanNamespaces = append(opts.PlanNamespaces, ns)
	}
	st, err := rollout.ComputeStatus(ctx, dc, opts)
	if err != nil {
		return nil, fmt.Errorf("computing the rollout status from %s: %w", cfg.Host, err)
	}
	return st, nil
}
