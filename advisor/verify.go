package advisor

import (
	"errors"
	"fmt"
	"strings"

	"github.com/posture-dev/posture/flow"
	"github.com/posture-dev/posture/policy"
)

// Decision is an evaluator's answer for one flow, per direction: egress
// is decided at the source, ingress at the destination.
type Decision struct {
	EgressAllowed, IngressAllowed bool
	EgressReason, IngressReason   string
}

// EvaluateFunc answers for one flow under a compiled policy set.
type EvaluateFunc func(f *flow.Flow) Decision

// VerifyFunc compiles a policy set, as enforced, into an evaluator.
type VerifyFunc func(ps []*policy.Policy) (EvaluateFunc, error)

// ErrBreakage is returned (wrapped) when the target set would deny an
// observed flow.
var ErrBreakage = errors.New("the proposal would deny observed traffic")

// selfCheck answers from the advisor's own model of its rules: used when
// no evaluator is available. Only the sides in the namespace being checked
// are answered (srcIn: egress, dstIn: ingress): other namespaces' sets may
// still be being filled.
func (b *builder) selfCheck(src, dst peer, pk portKey, srcIn, dstIn bool) Decision {
	d := Decision{EgressAllowed: true, IngressAllowed: true}
	if srcIn && src.kind == peerPod && b.proposed[src.cls.ns] {
		if !b.allows(b.allow[src.cls.wl].out, b.peerNum(dst), pk) {
			d.EgressAllowed, d.EgressReason = false, "no egress rule of "+src.cls.wl.name+" covers it"
		}
	}
	if dstIn && dst.kind == peerPod && b.proposed[dst.cls.ns] {
		if !b.allows(b.allow[dst.cls.wl].in, b.peerNum(src), pk) {
			d.IngressAllowed, d.IngressReason = false, "no ingress rule of "+dst.cls.wl.name+" covers it"
		}
	}
	return d
}

// edgeCheck is an edge verification evaluates, prepared when the edge was
// read for the proposal: its probes end at probeEnd in the list's probes.
type edgeCheck struct {
	ei           int32
	probeEnd     int32
	srcIn, dstIn bool
}

// checkList is one namespace's edges to verify, with their probes; a
// worker reuses it from namespace to namespace.
type checkList struct {
	checks   []edgeCheck
	probes   []flow.Flow
	edges    int
	flows    uint64
	compiler policy.Compiler // one namespace's engine at a time
}

func (cl *checkList) reset() {
	cl.checks, cl.probes, cl.edges, cl.flows = cl.checks[:0], cl.probes[:0], 0, 0
}

// add records an allowed edge with known ends; srcIn and dstIn say which
// of its sides the namespace enforces.
func (cl *checkList) add(ei int32, e *flow.Edge, srcIn, dstIn bool) {
	cl.edges++
	cl.flows += e.Flows
	cl.probes = appendProbes(cl.probes, e)
	cl.checks = append(cl.checks, edgeCheck{ei: ei, probeEnd: int32(len(cl.probes)), srcIn: srcIn, dstIn: dstIn})
}

// verifyNS evaluates one namespace's target set against the observed
// edges touching it (cl). A CiliumNetworkPolicy only selects pods of its
// own namespace, so the egress verdict of an edge depends only on the
// source namespace's policies and the ingress verdict only on the
// destination's: checking each namespace with its own policies, on its
// side of each edge, is exact and keeps one namespace's compiled set in
// memory at a time.
func (b *builder) verifyNS(np *NamespaceProposal, edges []flow.Edge, cl *checkList, rb *resolveBufs) error {
	ns := np.Namespace
	var eval EvaluateFunc
	var err error
	if b.o.Verify != nil {
		eval, err = b.o.Verify(np.Target)
	} else {
		// DefaultVerifier, reusing the worker's previous engine.
		eval, err = evaluatorOf(cl.compiler.Compile(np.Target, verifyOptions))
	}
	if err != nil {
		return fmt.Errorf("compiling the proposal for %s for verification: %w", ns, err)
	}
	np.Verification.Checked = eval != nil
	np.Verification.Edges, np.Verification.Flows = cl.edges, cl.flows
	type flip struct{ wl, dir string }
	notCovered := map[flip][]Breakage{}
	notCoveredFlows := map[flip]uint64{}
	notCoveredEdges := map[flip]int{}
	start := 0
	for _, c := range cl.checks {
		probes := cl.probes[start:c.probeEnd]
		start = int(c.probeEnd)
		e := &edges[c.ei]
		srcIn, dstIn := c.srcIn, c.dstIn
		dec := Decision{EgressAllowed: true, IngressAllowed: true}
		if eval != nil {
			for i := range probes {
				d := eval(&probes[i])
				if srcIn && !d.EgressAllowed && dec.EgressAllowed {
					dec.EgressAllowed, dec.EgressReason = false, d.EgressReason
				}
				if dstIn && !d.IngressAllowed && dec.IngressAllowed {
					dec.IngressAllowed, dec.IngressReason = false, d.IngressReason
				}
			}
		} else {
			srcs, dsts := rb.resolveCached(b.ix, e, b.ends[c.ei])
			pk := edgePort(e)
			for _, d := range dsts {
				x := b.selfCheck(srcs[0], d, pk, srcIn, dstIn)
				if srcIn && !x.EgressAllowed && dec.EgressAllowed {
					dec.EgressAllowed, dec.EgressReason = false, x.EgressReason
				}
				if dstIn && !x.IngressAllowed && dec.IngressAllowed {
					dec.IngressAllowed, dec.IngressReason = false, x.IngressReason
				}
			}
		}
		if dec.EgressAllowed && dec.IngressAllowed {
			continue
		}
		srcs, dsts := rb.resolveCached(b.ix, e, b.ends[c.ei])
		pk := edgePort(e)
		add := func(dir, reason string, wl *workload) {
			br := Breakage{
				Source: srcs[0].String(), Destination: peersText(dsts), Port: pk.String(),
				Direction: dir, Flows: e.Flows, Reason: reason,
			}
			np.Verification.Breakage = append(np.Verification.Breakage, br)
			k := flip{wl.name, dir}
			notCovered[k] = append(notCovered[k], br)
			notCoveredFlows[k] += e.Flows
			notCoveredEdges[k]++
		}
		if !dec.EgressAllowed {
			add(DirEgress, dec.EgressReason, srcs[0].cls.wl)
		}
		if !dec.IngressAllowed {
			add(DirIngress, dec.IngressReason, dsts[0].cls.wl)
		}
	}
	for j := range np.Stages {
		sd := &np.Stages[j]
		if sd.Readiness == nil {
			continue
		}
		k := flip{sd.Workload, sd.Direction}
		sd.Readiness.NotCovered = notCovered[k]
		sd.Readiness.CoveredFlows = sd.Readiness.Flows - min(sd.Readiness.Flows, notCoveredFlows[k])
		sd.Readiness.CoveredEdges = sd.Readiness.Edges - min(sd.Readiness.Edges, notCoveredEdges[k])
	}
	return nil
}

// finish fills the global verification and least privilege once every
// namespace was proposed and checked.
func (b *builder) finish(p *Proposal, obs *observer) error {
	// Vacuously checked when no namespace needed it.
	p.Verification.Checked = true
	p.Verification.Edges = obs.edges
	p.Verification.Flows = obs.flows
	p.Verification.ObservedPairs = obs.pairs
	// Every namespace's sets are complete now and only read.
	inParallel(len(p.Namespaces), func() func(int) {
		return func(i int) {
			np := &p.Namespaces[i]
			np.Verification.AllowedPairs = b.allowedPairs(np.Namespace)
		}
	})
	for i := range p.Namespaces {
		np := &p.Namespaces[i]
		p.Verification.Checked = p.Verification.Checked && np.Verification.Checked
		p.Verification.Breakage = append(p.Verification.Breakage, np.Verification.Breakage...)
		np.Verification.ObservedPairs = obs.nsPairs[i]
		p.Verification.AllowedPairs += np.Verification.AllowedPairs
	}
	if n := len(p.Verification.Breakage); n > 0 {
		var parts []string
		for _, br := range p.Verification.Breakage[:min(n, 5)] {
			parts = append(parts, fmt.Sprintf("%s → %s %s at %s (%s)", br.Source, br.Destination, br.Port, br.Direction, br.Reason))
		}
		return fmt.Errorf("%w: %d, e.g. %s", ErrBreakage, n, strings.Join(parts, "; "))
	}
	return nil
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
// treated as enforced (default deny on where it has rules). Verification
// asks about each flow once, so verdicts are not memoized.
func DefaultVerifier(ps []*policy.Policy) (EvaluateFunc, error) {
	return evaluatorOf(policy.Compile(ps, verifyOptions))
}

var verifyOptions = policy.CompileOptions{AsEnforced: true, NoVerdictCache: true}

func evaluatorOf(eng *policy.Engine, err error) (EvaluateFunc, error) {
	if err != nil {
		return nil, err
	}
	return func(f *flow.Flow) Decision {
		r := eng.Evaluate(f)
		return Decision{
			EgressAllowed: r.Egress.Decision.Allows(), EgressReason: r.Egress.Reason,
			IngressAllowed: r.Ingress.Decision.Allows(), IngressReason: r.Ingress.Reason,
		}
	}, nil
}

// appendProbes appends the flows verification evaluates for an edge: one per known
// destination address, and one per HTTP sample so that L7 rules are
// checked against the requests seen.
func appendProbes(dst []flow.Flow, e *flow.Edge) []flow.Flow {
	start := len(dst)
	reps := e.AppendRepresentatives(dst)
	for _, h := range e.HTTP {
		f := reps[start]
		f.HTTP = &flow.HTTP{Method: h.Method, Path: h.Path}
		reps = append(reps, f)
	}
	return reps
}
