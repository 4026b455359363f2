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
	"github.com/spf13/pflag"
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

// Cluster holds what working from a cluster needs: how to reach it, the
// evidence and target set, and the gate thresholds. "posture rollout" and
// "posture report" share it so both judge the same gates the same way.
type Cluster struct {
	Kubeconfig string
	Context    string
	Flows      string
	Policies   string
	Now        string

	Observation time.Duration
	Quiet       time.Duration
	Coverage    float64
	MaxDeny     uint64
	NoCronJobs  bool
}

// Register adds the cluster, evidence and gate flags to fs.
func (c *Cluster) Register(f *pflag.FlagSet) {
	f.StringVar(&c.Kubeconfig, "kubeconfig", "", "path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config)")
	f.StringVar(&c.Context, "context", "", "the kubeconfig context to use")
	f.StringVar(&c.Flows, "flows", "", "evidence for the gates, coverage and would-deny flows: posture JSONL or Hubble json/jsonpb (file, directory, or - for stdin); also the source of the proposal unless --policies is given")
	f.StringVar(&c.Policies, "policies", "", "the target set to roll out (posture suggest output: file or directory); default: suggest from --flows")
	f.StringVar(&c.Now, "now", "", "evaluate gates as of this RFC 3339 time instead of the clock (for replaying recorded evidence)")
	d := rollout.DefaultGates()
	f.DurationVar(&c.Observation, "observation-window", d.ObservationWindow, "gate: evidence must span this long, and every CronJob must have run inside it")
	f.DurationVar(&c.Quiet, "quiet-window", d.QuietWindow, "gate: no would-deny flows and no new peers for this long before enforcing")
	f.Float64Var(&c.Coverage, "min-coverage", d.MinCoverage, "gate: share (0..1) of the enforced workloads' observed flows the enforced set must allow")
	f.Uint64Var(&c.MaxDeny, "max-would-deny", d.MaxWouldDeny, "gate: would-deny flows tolerated inside the quiet window")
	f.BoolVar(&c.NoCronJobs, "no-cronjob-gate", false, "do not require every CronJob to have run inside the observation window")
}

// common holds the flags every rollout subcommand shares.
type common struct {
	Cluster
	namespace string
	actor     string
}

func (c *common) register(cmd *cobra.Command) {
	f := cmd.PersistentFlags()
	c.Cluster.Register(f)
	f.StringVarP(&c.namespace, "namespace", "n", "", "the namespace to act on")
	f.StringVar(&c.actor, "actor", "", "who is recorded in the history (default: user@host)")
}

func (c *Cluster) gates() (rollout.GateConfig, error) {
	g := rollout.DefaultGates()
	if c.Observation <= 0 || c.Quiet <= 0 {
		return g, errors.New("--observation-window and --quiet-window must be positive")
	}
	if c.Coverage < 0 || c.Coverage > 1 {
		return g, fmt.Errorf("--min-coverage %v: want a share between 0 and 1", c.Coverage)
	}
	g.ObservationWindow, g.QuietWindow, g.MinCoverage, g.MaxWouldDeny = c.Observation, c.Quiet, c.Coverage, c.MaxDeny
	g.CronJobs = !c.NoCronJobs
	return g, nil
}

func (c *Cluster) clock() (func() time.Time, error) {
	if c.Now == "" {
		return time.Now, nil
	}
	t, err := time.Parse(time.RFC3339, c.Now)
	if err != nil {
		return nil, fmt.Errorf("--now %q: want RFC 3339 (2026-11-20T12:00:00Z): %w", c.Now, err)
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
func (c *Cluster) restConfig() (*rest.Config, string, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if c.Kubeconfig != "" {
		rules.ExplicitPath = c.Kubeconfig
	}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: c.Context})
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

func (c *Cluster) client() (dynamic.Interface, string, error) {
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

// load reads the evidence and the plans; namespace, when set, limits what
// the advisor proposes.
func (c *Cluster) load(ctx context.Context, s cmdutil.Streams, namespace string, needPlan bool) (*inputs, error) {
	in := &inputs{plans: map[string]*rollout.NamespacePlan{}}
	var edges []flow.Edge
	if c.Flows != "" {
		es, st, err := evidence.LoadEdges(ctx, c.Flows, s.In)
		if err != nil {
			return nil, fmt.Errorf("reading evidence: %w", err)
		}
		edges = es
		in.evidence = rollout.NewEdgeEvidence(es)
		fmt.Fprintf(s.Err, "evidence: %d edges from %d lines\n", len(es), st.Lines)
	}
	switch {
	case c.Policies != "":
		ps, err := policy.LoadPath(c.Policies)
		if err != nil {
			return nil, fmt.Errorf("loading the target set: %w", err)
		}
		plans, err := rollout.PlansFromTarget(ps)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", c.Policies, err)
		}
		in.plans = plans
	case len(edges) > 0:
		opts := advisor.Options{}
		if namespace != "" {
			opts.Namespaces = []string{namespace}
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

// statusOptions asks for the status of namespace (all when empty) as of
// now, judged on these inputs.
func (in *inputs) statusOptions(g rollout.GateConfig, now time.Time, namespace string) rollout.StatusOptions {
	opts := rollout.StatusOptions{Evidence: in.evidenceOrNil(), Gates: g, Now: now,
		Plans: func(ns string) (*rollout.NamespacePlan, error) { return in.plans[ns], nil }}
	for ns := range in.plans {
		opts.PlanNamespaces = append(opts.PlanNamespaces, ns)
	}
	if namespace != "" {
		opts.Namespaces = []string{namespace}
	}
	return opts
}

// Status computes the rollout status of namespace (all when empty) from
// the cluster, judging the gates on the evidence against the plans.
func (c *Cluster) Status(ctx context.Context, s cmdutil.Streams, namespace string) (*rollout.Status, error) {
	dc, _, err := c.client()
	if err != nil {
		return nil, err
	}
	in, err := c.load(ctx, s, namespace, false)
	if err != nil {
		return nil, err
	}
	g, err := c.gates()
	if err != nil {
		return nil, err
	}
	clock, err := c.clock()
	if err != nil {
		return nil, err
	}
	return rollout.ComputeStatus(ctx, dc, in.statusOptions(g, clock().UTC(), namespace))
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
