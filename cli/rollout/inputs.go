package rollout

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/posture-dev/posture/advisor"
	"github.com/posture-dev/posture/cli/cmdutil"
	"github.com/posture-dev/posture/evidence"
	"github.com/posture-dev/posture/flow"
	"github.com/posture-dev/posture/policy"
	"github.com/posture-dev/posture/rollout"
)

// common holds the flags every rollout subcommand shares.
type common struct {
	kubeconfig string
	context    string
	namespace  string
	flows      string
	policies   string
	actor      string
	now        string

	observation time.Duration
	quiet       time.Duration
	coverage    float64
	maxDeny     uint64
	noCronJobs  bool
}

func (c *common) register(cmd *cobra.Command) {
	f := cmd.PersistentFlags()
	f.StringVar(&c.kubeconfig, "kubeconfig", "", "path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
	f.StringVar(&c.context, "context", "", "the kubeconfig context to use")
	f.StringVarP(&c.namespace, "namespace", "n", "", "the namespace to act on")
	f.StringVar(&c.flows, "flows", "", "evidence for the gates: posture JSONL or Hubble json/jsonpb (file, directory, or - for stdin); also the source of the proposal unless --policies is given")
	f.StringVar(&c.policies, "policies", "", "the target set to roll out (posture suggest output: file or directory); default: suggest from --flows")
	f.StringVar(&c.actor, "actor", "", "who is recorded in the history (default: user@host)")
	f.StringVar(&c.now, "now", "", "evaluate gates as of this RFC 3339 time instead of the clock (for replaying recorded evidence)")
	d := rollout.DefaultGates()
	f.DurationVar(&c.observation, "observation-window", d.ObservationWindow, "gate: evidence must span this long, and every CronJob must have run inside it")
	f.DurationVar(&c.quiet, "quiet-window", d.QuietWindow, "gate: no would-deny flows and no new peers for this long before enforcing")
	f.Float64Var(&c.coverage, "min-coverage", d.MinCoverage, "gate: share (0..1) of the enforced workloads' observed flows the enforced set must allow")
	f.Uint64Var(&c.maxDeny, "max-would-deny", d.MaxWouldDeny, "gate: would-deny flows tolerated inside the quiet window")
	f.BoolVar(&c.noCronJobs, "no-cronjob-gate", false, "do not require every CronJob to have run inside the observation window")
}

func (c *common) gates() (rollout.GateConfig, error) {
	g := rollout.DefaultGates()
	if c.observation <= 0 || c.quiet <= 0 {
		return g, errors.New("--observation-window and --quiet-window must be positive")
	}
	if c.coverage < 0 || c.coverage > 1 {
		return g, fmt.Errorf("--min-coverage %v: want a share between 0 and 1", c.coverage)
	}
	g.ObservationWindow, g.QuietWindow, g.MinCoverage, g.MaxWouldDeny = c.observation, c.quiet, c.coverage, c.maxDeny
	g.CronJobs = !c.noCronJobs
	return g, nil
}

func (c *common) clock() (func() time.Time, error) {
	if c.now == "" {
		return time.Now, nil
	}
	t, err := time.Parse(time.RFC3339, c.now)
	if err != nil {
		return nil, fmt.Errorf("--now %q: want RFC 3339 (2026-11-20T12:00:00Z): %w", c.now, err)
	}
	return func() time.Time { return t }, nil
}

func (c *common) who() string {
	if c.actor != "" {
		return c.actor
	}
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	host, _ := os.Hostname()
	return name + "@" + host
}

// restConfig loads the kubeconfig the way kubectl does; the namespace of
// the context is the default for -n.
func (c *common) restConfig() (*rest.Config, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if c.kubeconfig != "" {
		rules.ExplicitPath = c.kubeconfig
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: c.context})
	cfg, err := cc.ClientConfig()
	if err != nil {
		return nil, "", fmt.Errorf("loading kubeconfig: %w", err)
	}
	ns, _, err := cc.Namespace()
	if err != nil {
		ns = ""
	}
	cfg.WarningHandler = rest.NoWarnings{}
	cfg.QPS, cfg.Burst = 200, 400
	cfg.Timeout = 30 * time.Second
	return cfg, ns, nil
}

func (c *common) client() (dynamic.Interface, string, error) {
	cfg, ns, err := c.restConfig()
	if err != nil {
		return nil, "", err
	}
	dc, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, "", fmt.Errorf("making a client for %s: %w", cfg.Host, err)
	}
	return dc, ns, nil
}

// inputs are the evidence and the plans a command works from.
type inputs struct {
	evidence *rollout.EdgeEvidence
	plans    map[string]*rollout.NamespacePlan
}

func (c *common) load(ctx context.Context, s cmdutil.Streams, needPlan bool) (*inputs, error) {
	in := &inputs{plans: map[string]*rollout.NamespacePlan{}}
	var edges []flow.Edge
	if c.flows != "" {
		es, st, err := evidence.LoadEdges(ctx, c.flows, s.In)
		if err != nil {
			return nil, fmt.Errorf("reading evidence: %w", err)
		}
		edges = es
		in.evidence = rollout.NewEdgeEvidence(es)
		fmt.Fprintf(s.Err, "evidence: %d edges from %d lines\n", len(es), st.Lines)
	}
	switch {
	case c.policies != "":
		ps, err := policy.LoadPath(c.policies)
		if err != nil {
			return nil, fmt.Errorf("loading the target set: %w", err)
		}
		plans, err := rollout.PlansFromTarget(ps)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.policies, err)
		}
		in.plans = plans
	case len(edges) > 0:
		opts := advisor.Options{}
		if c.namespace != "" {
			opts.Namespaces = []string{c.namespace}
		}
		pr, err := advisor.Suggest(edges, opts)
		if err != nil {
			return nil, fmt.Errorf("suggesting policies from the evidence: %w", err)
		}
		plans, err := rollout.PlansFromProposal(pr)
		if err != nil {
			return nil, err
		}
		in.plans = plans
	case needPlan:
		return nil, errors.New("nothing to roll out: pass --flows FILE (the proposal is suggested from it) or --policies PATH (a target set from posture suggest)")
	}
	return in, nil
}

func (in *inputs) plan(ns string) (*rollout.NamespacePlan, error) {
	p, ok := in.plans[ns]
	if !ok {
		known := make([]string, 0, len(in.plans))
		for k := range in.plans {
			known = append(known, k)
		}
		slices.Sort(known)
		return nil, fmt.Errorf("no proposal for namespace %s (proposals exist for: %s)", ns, orNone(strings.Join(known, ", ")))
	}
	return p, nil
}

func (in *inputs) evidenceOrNil() rollout.Evidence {
	if in.evidence == nil {
		return nil
	}
	return in.evidence
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
