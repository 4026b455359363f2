package rollout

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/posture-dev/posture/policy"
)

// NamespacePlan is what the rollout needs from a proposal for one
// namespace: the policy documents of every stage. The advisor's Proposal
// is converted into it (FromProposal); tests build it directly.
type NamespacePlan struct {
	Namespace string
	// Baseline is the transitional allow-within-namespace set, removed by
	// the final promotion (to done).
	Baseline []*policy.Policy
	// Platform allows DNS, the API server and host probes. A platform
	// policy labelled posture.dev/workload follows that workload's
	// enforcement in the directions it has rules for.
	Platform []*policy.Policy
	// PlatformL7 replaces same-named platform policies once a workload
	// reaches l7 (DNS lookups narrowed to the observed names).
	PlatformL7 []*policy.Policy
	// Workloads hold the narrow allows of each workload, in rollout order.
	Workloads []WorkloadPlan
}

// WorkloadPlan is one workload's narrow allows and, optionally, the same
// allows with L7 rules (which replace the L4 ones at stage l7: an L4 allow
// next to an L7 one on the same port would let every request through).
type WorkloadPlan struct {
	Name   string
	Narrow []*policy.Policy
	L7     []*policy.Policy
}

// Workload returns the named workload's plan.
func (p *NamespacePlan) Workload(name string) (*WorkloadPlan, bool) {
	for i := range p.Workloads {
		if p.Workloads[i].Name == name {
			return &p.Workloads[i], true
		}
	}
	return nil, false
}

// WorkloadNames lists the plan's workloads in order.
func (p *NamespacePlan) WorkloadNames() []string {
	out := make([]string, len(p.Workloads))
	for i, w := range p.Workloads {
		out[i] = w.Name
	}
	return out
}

func (p *NamespacePlan) hasL7(name string) bool {
	w, ok := p.Workload(name)
	return ok && len(w.L7) > 0
}

// Validate checks that the plan can be rolled out: policies are namespaced
// to the plan's namespace, names are unique, workloads are named once.
func (p *NamespacePlan) Validate() error {
	if p.Namespace == "" {
		return fmt.Errorf("plan has no namespace")
	}
	owner := map[string]string{} // policy name -> part or workload owning it
	check := func(who, list string, ps []*policy.Policy) error {
		inList := map[string]bool{}
		for i, pol := range ps {
			if pol == nil || pol.Metadata.Name == "" {
				return fmt.Errorf("plan %s: %s policy %d has no name", p.Namespace, who, i)
			}
			name := pol.Metadata.Name
			if pol.Clusterwide() {
				return fmt.Errorf("plan %s: %s policy %s is clusterwide; rollout stages namespaced policies only", p.Namespace, who, name)
			}
			if pol.Metadata.Namespace != "" && pol.Metadata.Namespace != p.Namespace {
				return fmt.Errorf("plan %s: %s policy %s is in namespace %s", p.Namespace, who, name, pol.Metadata.Namespace)
			}
			// A workload's L7 policies may reuse its narrow names (they
			// replace them in place); anything else must be unique.
			if prev, ok := owner[name]; (ok && prev != who) || inList[name] {
				return fmt.Errorf("plan %s: policy name %s used twice (%s %s)", p.Namespace, name, who, list)
			}
			owner[name], inList[name] = who, true
		}
		return nil
	}
	if err := check(PartBaseline, "", p.Baseline); err != nil {
		return err
	}
	if err := check(PartPlatform, "", p.Platform); err != nil {
		return err
	}
	if err := check(PartPlatform, "l7", p.PlatformL7); err != nil {
		return err
	}
	for _, w := range p.Workloads {
		if w.Name == "" {
			return fmt.Errorf("plan %s: workload without a name", p.Namespace)
		}
		who := "workload " + w.Name
		if _, dup := owner["\x00"+who]; dup {
			return fmt.Errorf("plan %s: workload %s listed twice", p.Namespace, w.Name)
		}
		owner["\x00"+who] = who
		if err := check(who, "narrow", w.Narrow); err != nil {
			return err
		}
		if err := check(who, "l7", w.L7); err != nil {
			return err
		}
	}
	return nil
}

// Desired is the set of policies the namespace runs in snapshot s, with
// posture's labels and enableDefaultDeny set per workload and direction.
// Baseline and platform policies never turn default deny on: they select
// every pod, and enforcement is decided per workload.
func Desired(p *NamespacePlan, s Snapshot) []*policy.Policy {
	var out []*policy.Policy
	if s.Stage >= StageBaseline && s.Stage != StageDone {
		for _, pol := range p.Baseline {
			out = append(out, stamp(p.Namespace, pol, PartBaseline, "", StageBaseline, DirectionEnforced{}))
		}
	}
	if s.Stage >= StagePlatform {
		platform := p.Platform
		if anyAtL7(s) && len(p.PlatformL7) > 0 {
			platform = replaceByName(p.Platform, p.PlatformL7)
		}
		for _, pol := range platform {
			var enf DirectionEnforced
			w := pol.Metadata.Labels[LabelWorkload]
			if ws, ok := s.Workloads[w]; ok && w != "" {
				enf = ws.Enforced
				enf.Ingress = enf.Ingress && hasRules(pol, false)
				enf.Egress = enf.Egress && hasRules(pol, true)
			}
			out = append(out, stamp(p.Namespace, pol, PartPlatform, w, StagePlatform, enf))
		}
	}
	for _, w := range p.Workloads {
		ws, ok := s.Workloads[w.Name]
		if !ok || ws.Stage < StageNarrow {
			continue
		}
		set := w.Narrow
		if ws.Stage >= StageL7 && len(w.L7) > 0 {
			set = w.L7
		}
		for _, pol := range set {
			out = append(out, stamp(p.Namespace, pol, PartWorkload, w.Name, ws.Stage, ws.Enforced))
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Metadata.Name < out[j].Metadata.Name })
	return out
}

func anyAtL7(s Snapshot) bool {
	for _, ws := range s.Workloads {
		if ws.Stage >= StageL7 {
			return true
		}
	}
	return false
}

// replaceByName returns base with same-named policies swapped for those
// in repl, and repl's others appended.
func replaceByName(base, repl []*policy.Policy) []*policy.Policy {
	byName := map[string]*policy.Policy{}
	for _, p := range repl {
		byName[p.Metadata.Name] = p
	}
	var out []*policy.Policy
	for _, p := range base {
		if r, ok := byName[p.Metadata.Name]; ok {
			out = append(out, r)
			delete(byName, p.Metadata.Name)
			continue
		}
		out = append(out, p)
	}
	for _, p := range repl {
		if _, ok := byName[p.Metadata.Name]; ok {
			out = append(out, p)
		}
	}
	return out
}

func hasRules(p *policy.Policy, egress bool) bool {
	for _, r := range p.Rules() {
		if egress && (len(r.Egress) > 0 || len(r.EgressDeny) > 0) {
			return true
		}
		if !egress && (len(r.Ingress) > 0 || len(r.IngressDeny) > 0) {
			return true
		}
	}
	return false
}

// stamp copies pol into the namespace with posture's labels and the
// per-direction default-deny switches.
func stamp(ns string, pol *policy.Policy, part, workload string, st Stage, enf DirectionEnforced) *policy.Policy {
	c := clonePolicy(pol)
	c.APIVersion, c.Kind = policy.APIVersion, policy.KindCNP
	c.Metadata = policy.ObjectMeta{
		Name:        pol.Metadata.Name,
		Namespace:   ns,
		Labels:      maps.Clone(pol.Metadata.Labels),
		Annotations: maps.Clone(pol.Metadata.Annotations),
	}
	if c.Metadata.Labels == nil {
		c.Metadata.Labels = map[string]string{}
	}
	if c.Metadata.Annotations == nil {
		c.Metadata.Annotations = map[string]string{}
	}
	c.Metadata.Labels[LabelManagedBy] = ManagedByValue
	c.Metadata.Labels[LabelPart] = part
	c.Metadata.Labels[LabelStage] = st.String()
	if workload != "" {
		c.Metadata.Labels[LabelWorkload] = workload
	}
	c.Metadata.Annotations[AnnoEnforced] = enf.String()
	c.Status = nil
	for _, r := range c.Rules() {
		in, eg := enf.Ingress, enf.Egress
		r.EnableDefaultDeny = &policy.DefaultDenyConfig{Ingress: &in, Egress: &eg}
	}
	c.Metadata.Annotations[AnnoDigest] = digest(c)
	return c
}

// String is "ingress,egress", "ingress", "egress" or "".
func (d DirectionEnforced) String() string {
	var parts []string
	if d.Ingress {
		parts = append(parts, "ingress")
	}
	if d.Egress {
		parts = append(parts, "egress")
	}
	return strings.Join(parts, ",")
}

func clonePolicy(p *policy.Policy) *policy.Policy {
	b, err := json.Marshal(p)
	if err != nil {
		panic(fmt.Sprintf("policy %s does not marshal: %v", p.Metadata.Name, err)) // types are plain data
	}
	var c policy.Policy
	if err := json.Unmarshal(b, &c); err != nil {
		panic(fmt.Sprintf("policy %s does not round-trip: %v", p.Metadata.Name, err))
	}
	c.Origin = p.Origin
	return &c
}

// digest identifies a policy's content (spec and specs), so that a plan
// can tell unchanged objects from changed ones without a server round trip.
func digest(p *policy.Policy) string {
	b, _ := json.Marshal(struct {
		Spec  *policy.Rule  `json:"spec,omitempty"`
		Specs []policy.Rule `json:"specs,omitempty"`
	}{p.Spec, p.Specs})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// names returns the sorted object names of a set.
func names(ps []*policy.Policy) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Metadata.Name
	}
	slices.Sort(out)
	return out
}
