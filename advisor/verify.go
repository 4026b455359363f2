package advisor

import (
	"errors"
	"fmt"
	"strings"

	"github.com/posture-dev/posture/flow"
	"github.com/posture-dev/posture/policy"
)

// Decision is an evaluator's answer for one flow.
type Decision struct {
	Allowed bool
	// Direction that denied ("ingress" or "egress") and why.
	Direction string
	Reason    string
}

// EvaluateFunc answers for one flow under a compiled policy set.
type EvaluateFunc func(f *flow.Flow) Decision

// VerifyFunc compiles a policy set, as enforced, into an evaluator.
type VerifyFunc func(ps []*policy.Policy) (EvaluateFunc, error)

// ErrBreakage is returned (wrapped) when the target set would deny an
// observed flow.
var ErrBreakage = errors.New("the proposal would deny observed traffic")

// account records what the workload's target rules allow.
func (b *builder) account(a *nsAcc, d *wlDocs, dnsSpecs []ruleSpec) {
	in := b.allowIn[d.wl]
	if in == nil {
		in = map[string]struct{}{}
		b.allowIn[d.wl] = in
	}
	out := b.allowOut[d.wl]
	if out == nil {
		out = map[string]struct{}{}
		b.allowOut[d.wl] = out
	}
	fill := func(set map[string]struct{}, specs []ruleSpec) {
		for i := range specs {
			s := &specs[i]
			for _, id := range s.allowed {
				if anyPort(s.ports) {
					set[id+"|*"] = struct{}{}
					continue
				}
				for _, pk := range s.ports {
					set[id+"|"+pk.String()] = struct{}{}
				}
			}
		}
	}
	fill(in, d.in)
	fill(out, d.out)
	fill(out, dnsSpecs) // the namespace-wide DNS allowance selects every pod
}

func (b *builder) allows(set map[string]struct{}, id string, pk portKey) bool {
	if _, ok := set[id+"|"+pk.String()]; ok {
		return true
	}
	_, ok := set[id+"|*"]
	return ok
}

// selfCheck answers from the advisor's own model of its rules: used when
// no evaluator is available, and always for least-privilege accounting.
func (b *builder) selfCheck(src, dst peer, pk portKey) Decision {
	if src.kind == peerPod && b.proposed[src.cls.ns] {
		if !b.allows(b.allowOut[src.cls.wl], dst.id(), pk) {
			return Decision{Direction: DirEgress, Reason: "no egress rule of " + src.cls.wl.name + " covers it"}
		}
	}
	if dst.kind == peerPod && b.proposed[dst.cls.ns] {
		if !b.allows(b.allowIn[dst.cls.wl], src.id(), pk) {
			return Decision{Direction: DirIngress, Reason: "no ingress rule of " + dst.cls.wl.name + " covers it"}
		}
	}
	return Decision{Allowed: true}
}

// verify evaluates the target set against every observed edge touching a
// proposed namespace, fills coverage and least privilege, and returns an
// error wrapping ErrBreakage if anything observed would be denied.
func (b *builder) verify(p *Proposal, edges []flow.Edge, legit []bool) error {
	var target []*policy.Policy
	for i := range p.Namespaces {
		target = append(target, p.Namespaces[i].Target...)
	}
	verifyFn := b.o.Verify
	if verifyFn == nil {
		verifyFn = DefaultVerifier
	}
	eval, err := verifyFn(target)
	if err != nil {
		return fmt.Errorf("compiling the proposal for verification: %w", err)
	}
	byNS := map[string]*NamespaceProposal{}
	for i := range p.Namespaces {
		byNS[p.Namespaces[i].Namespace] = &p.Namespaces[i]
		p.Namespaces[i].Verification.Checked = eval != nil
	}
	p.Verification.Checked = eval != nil
	observed := map[string]struct{}{}
	nsObserved := map[string]map[string]struct{}{}
	type flip struct {
		ns, wl, dir string
	}
	notCovered := map[flip][]Breakage{}
	notCoveredFlows := map[flip]uint64{}
	notCoveredEdges := map[flip]int{}
	var total int
	for i := range edges {
		if !legit[i] {
			continue
		}
		e := &edges[i]
		srcs := b.ix.resolve(&e.Source, nil, nil)
		dsts := b.ix.resolve(&e.Destination, e.DNSNames, e.DestinationIPs)
		var nss []string
		if srcs[0].kind == peerPod && b.proposed[srcs[0].cls.ns] {
			nss = append(nss, srcs[0].cls.ns)
		}
		if dsts[0].kind == peerPod && b.proposed[dsts[0].cls.ns] && (len(nss) == 0 || nss[0] != dsts[0].cls.ns) {
			nss = append(nss, dsts[0].cls.ns)
		}
		if len(nss) == 0 || srcs[0].kind == peerUnknown || dsts[0].kind == peerUnknown {
			continue
		}
		total++
		p.Verification.Flows += e.Flows
		pk := portKey{proto: e.Protocol, port: e.Port}
		for _, d := range dsts {
			key := srcs[0].id() + "|" + d.id() + "|" + pk.String()
			observed[key] = struct{}{}
			for _, ns := range nss {
				if nsObserved[ns] == nil {
					nsObserved[ns] = map[string]struct{}{}
				}
				nsObserved[ns][key] = struct{}{}
			}
		}
		for _, ns := range nss {
			byNS[ns].Verification.Edges++
			byNS[ns].Verification.Flows += e.Flows
		}
		var dec Decision
		if eval != nil {
			dec = Decision{Allowed: true}
			for _, f := range probes(e) {
				if d := eval(&f); !d.Allowed {
					dec = d
					break
				}
			}
		} else {
			dec = Decision{Allowed: true}
			for _, d := range dsts {
				if x := b.selfCheck(srcs[0], d, pk); !x.Allowed {
					dec = x
					break
				}
			}
		}
		if dec.Allowed {
			continue
		}
		br := Breakage{
			Source: e.Source.String(), Destination: e.Destination.String(), Port: pk.String(),
			Direction: dec.Direction, Flows: e.Flows, Reason: dec.Reason,
		}
		p.Verification.Breakage = append(p.Verification.Breakage, br)
		for _, ns := range nss {
			byNS[ns].Verification.Breakage = append(byNS[ns].Verification.Breakage, br)
		}
		// Attribute to the flip that would cause it.
		if dec.Direction != DirIngress && srcs[0].kind == peerPod && b.proposed[srcs[0].cls.ns] {
			k := flip{srcs[0].cls.ns, srcs[0].cls.wl.name, DirEgress}
			notCovered[k] = append(notCovered[k], br)
			notCoveredFlows[k] += e.Flows
			notCoveredEdges[k]++
		}
		if dec.Direction != DirEgress && dsts[0].kind == peerPod && b.proposed[dsts[0].cls.ns] {
			k := flip{dsts[0].cls.ns, dsts[0].cls.wl.name, DirIngress}
			notCovered[k] = append(notCovered[k], br)
			notCoveredFlows[k] += e.Flows
			notCoveredEdges[k]++
		}
	}
	p.Verification.Edges = total
	p.Verification.ObservedPairs = len(observed)
	for i := range p.Namespaces {
		np := &p.Namespaces[i]
		np.Verification.ObservedPairs = len(nsObserved[np.Namespace])
		np.Verification.AllowedPairs = b.allowedPairs(np.Namespace)
		p.Verification.AllowedPairs += np.Verification.AllowedPairs
		for j := range np.Stages {
			sd := &np.Stages[j]
			if sd.Readiness == nil {
				continue
			}
			k := flip{np.Namespace, sd.Workload, sd.Direction}
			sd.Readiness.NotCovered = notCovered[k]
			sd.Readiness.CoveredFlows = sd.Readiness.Flows - min(sd.Readiness.Flows, notCoveredFlows[k])
			sd.Readiness.CoveredEdges = sd.Readiness.Edges - min(sd.Readiness.Edges, notCoveredEdges[k])
		}
	}
	if n := len(p.Verification.Breakage); n > 0 {
		var parts []string
		for _, br := range p.Verification.Breakage[:min(n, 5)] {
			parts = append(parts, fmt.Sprintf("%s → %s %s (%s)", br.Source, br.Destination, br.Port, br.Reason))
		}
		return fmt.Errorf("%w: %d edges, e.g. %s", ErrBreakage, n, strings.Join(parts, "; "))
	}
	return nil
}

// allowedPairs counts (source, destination, port) triples over the known
// identities, names and addresses that the target set allows, for pairs
// with at least one end in ns. A pair between two proposed workloads needs
// both the source's egress and the destination's ingress.
func (b *builder) allowedPairs(ns string) int {
	n := b.ix.ns[ns]
	count := 0
	proposedClass := func(id string) (*class, bool) {
		rest, ok := strings.CutPrefix(id, "c:")
		if !ok {
			return nil, false
		}
		pns, key, _ := strings.Cut(rest, "/")
		if !b.proposed[pns] {
			return nil, false
		}
		c := b.ix.ns[pns].byKey[key]
		return c, c != nil
	}
	for _, wl := range n.workloads {
		for entry := range b.allowIn[wl] {
			id, port, _ := strings.Cut(entry, "|")
			src, isProposed := proposedClass(id)
			for _, d := range wl.classes {
				if !isProposed {
					count++
					continue
				}
				dstID := "c:" + d.ns + "/" + d.key
				if _, ok := b.allowOut[src.wl][dstID+"|"+port]; ok {
					count++
				} else if _, ok := b.allowOut[src.wl][dstID+"|*"]; ok {
					count++
				}
			}
		}
		for entry := range b.allowOut[wl] {
			id, _, _ := strings.Cut(entry, "|")
			if _, ok := proposedClass(id); ok {
				continue // counted on the destination's ingress side
			}
			count += len(wl.classes)
		}
	}
	return count
}

func (p *Proposal) summarize() {
	s := &p.Summary
	s.Namespaces = len(p.Namespaces)
	for i := range p.Namespaces {
		np := &p.Namespaces[i]
		s.Workloads += len(np.Workloads)
		s.Policies += len(np.Target)
	}
	s.Edges = p.Verification.Edges
	s.Flows = p.Verification.Flows
	var broken uint64
	for _, br := range p.Verification.Breakage {
		broken += br.Flows
	}
	s.CoveredFlows = s.Flows - min(s.Flows, broken)
	s.ObservedPairs = p.Verification.ObservedPairs
	s.AllowedPairs = p.Verification.AllowedPairs
}

// DefaultVerifier compiles with posture's policy evaluator, every policy
// treated as enforced (default deny on where it has rules).
func DefaultVerifier(ps []*policy.Policy) (EvaluateFunc, error) {
	eng, err := policy.Compile(ps, policy.CompileOptions{AsEnforced: true})
	if err != nil {
		return nil, err
	}
	return func(f *flow.Flow) Decision {
		r := eng.Evaluate(f)
		if r.Verdict.Allows() {
			return Decision{Allowed: true}
		}
		if !r.Egress.Decision.Allows() {
			return Decision{Direction: DirEgress, Reason: r.Egress.Reason}
		}
		return Decision{Direction: DirIngress, Reason: r.Ingress.Reason}
	}, nil
}

// probes are the flows verification evaluates for an edge: one per known
// destination address, and one per HTTP sample so that L7 rules are
// checked against the requests seen.
func probes(e *flow.Edge) []flow.Flow {
	reps := e.Representatives()
	for _, h := range e.HTTP {
		f := reps[0]
		f.HTTP = &flow.HTTP{Method: h.Method, Path: h.Path}
		reps = append(reps, f)
	}
	return reps
}
