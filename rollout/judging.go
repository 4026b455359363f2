package rollout

import (
	"fmt"
	"slices"
	"time"

	"github.com/posture-dev/posture/flow"
	"github.com/posture-dev/posture/policy"
)

// point is one judged edge, for samples.
type point struct {
	first, last     time.Time
	n               uint64
	allowed, denied bool
}

// samples replays the judged edges day by day: coverage counts the edges
// first seen by then, would-deny those last seen in the quiet window
// before then. Edges aggregate flows, so this is an approximation that
// only moves at edge boundaries.
func samples(pts []point, first, now time.Time, quiet time.Duration) []Sample {
	if first.IsZero() || len(pts) == 0 {
		return nil
	}
	var out []Sample
	for t := now; !t.Before(first) && len(out) < 60; t = t.Add(-24 * time.Hour) {
		var tot, ok, deny uint64
		for _, p := range pts {
			if p.first.After(t) {
				continue
			}
			tot += p.n
			if p.allowed {
				ok += p.n
			}
			if p.denied && !p.last.After(t) && p.last.After(t.Add(-quiet)) {
				deny += p.n
			}
		}
		out = append(out, Sample{Time: t, Coverage: ratio(ok, tot), WouldDeny: deny})
	}
	slices.Reverse(out)
	return out
}

// auditDirection guesses which side's policy audited an edge: the side
// it was observed at (an edge seen only at the destination was audited at
// its ingress).
func auditDirection(e *flow.Edge) string {
	if e.ObservedIngress > 0 && e.ObservedEgress == 0 {
		return "ingress"
	}
	return "egress"
}

func onlyDropped(e *flow.Edge) bool {
	if e.Verdicts.Get(flow.VerdictDropped) == 0 {
		return false
	}
	for v, n := range e.Verdicts.All() {
		if v != flow.VerdictDropped && n > 0 {
			return false
		}
	}
	return true
}

// judgeEdge judges every representative flow of an edge; the edge is
// denied on a side if any of them is.
func judgeEdge(j Judge, e *flow.Edge) Judgement {
	out := Judgement{Allowed: true, EgressAllowed: true, IngressAllowed: true}
	for _, f := range e.Representatives() {
		r := j.Judge(&f)
		out.EgressAllowed = out.EgressAllowed && r.EgressAllowed
		out.IngressAllowed = out.IngressAllowed && r.IngressAllowed
		if !r.Allowed && out.Allowed {
			out.Allowed, out.Direction, out.Reason = false, r.Direction, r.Reason
		}
	}
	return out
}

// newPeers finds identities and identity pairs first seen at or after
// since: traffic the proposals have had no time to account for.
func newPeers(edges []flow.Edge, since time.Time) (ids, pairs []string) {
	firstID := map[string]time.Time{}
	firstPair := map[string]time.Time{}
	note := func(m map[string]time.Time, k string, t time.Time) {
		if old, ok := m[k]; !ok || t.Before(old) {
			m[k] = t
		}
	}
	for _, e := range edges {
		s, d := endpointName(&e.Source), endpointName(&e.Destination)
		note(firstID, s, e.FirstSeen)
		note(firstID, d, e.FirstSeen)
		note(firstPair, s+" → "+d, e.FirstSeen)
	}
	for k, t := range firstID {
		if !t.Before(since) {
			ids = append(ids, k)
		}
	}
	for k, t := range firstPair {
		if !t.Before(since) {
			pairs = append(pairs, k)
		}
	}
	slices.Sort(ids)
	slices.Sort(pairs)
	return ids, pairs
}

// endpointName names an endpoint by what identifies it (workload or
// labels), not by a pod instance.
func endpointName(ep *flow.Endpoint) string {
	switch {
	case ep.IsPod() && ep.Workload != "":
		return ep.Namespace + "/" + ep.Workload
	case ep.IsPod():
		if app, ok := ep.Labels.Get("app"); ok {
			return ep.Namespace + "/app=" + app
		}
		return ep.Namespace + "/" + ep.Labels.Key()
	case len(ep.Names) > 0:
		return ep.Names[0]
	}
	return ep.String()
}

func fixHint(j Judgement, e *flow.Edge) string {
	if j.Direction == "egress" {
		return fmt.Sprintf("add an egress allow from %s to %s on %d/%s (re-run posture suggest with this evidence)", endpointName(&e.Source), endpointName(&e.Destination), e.Port, e.Protocol)
	}
	return fmt.Sprintf("add an ingress allow into %s from %s on %d/%s (re-run posture suggest with this evidence)", endpointName(&e.Destination), endpointName(&e.Source), e.Port, e.Protocol)
}

// workloadIndex maps endpoints to the plan's workloads by the workloads'
// endpoint selectors: a flow concerns a workload exactly when its
// policies select one end.
type workloadIndex struct {
	ns   string
	sels []struct {
		name string
		sel  []*policy.EndpointSelector
	}
}

func workloadMatchers(p *NamespacePlan) *workloadIndex {
	ix := &workloadIndex{ns: p.Namespace}
	for _, w := range p.Workloads {
		var sels []*policy.EndpointSelector
		for _, pol := range w.Narrow {
			for _, r := range pol.Rules() {
				if r.EndpointSelector != nil {
					sels = append(sels, r.EndpointSelector)
				}
			}
		}
		ix.sels = append(ix.sels, struct {
			name string
			sel  []*policy.EndpointSelector
		}{w.Name, sels})
	}
	return ix
}

func (ix *workloadIndex) of(ep *flow.Endpoint) string {
	if !ep.IsPod() || ep.Namespace != ix.ns {
		return ""
	}
	for _, w := range ix.sels {
		for _, s := range w.sel {
			if selects(s, ix.ns, ep) {
				return w.name
			}
		}
	}
	return ""
}

func ratio(a, b uint64) float64 {
	if b == 0 {
		return 1
	}
	return float64(a) / float64(b)
}

func pct(f float64) string {
	if f >= 1 {
		return "100%"
	}
	v := fmt.Sprintf("%.1f%%", f*100)
	if v == "100.0%" {
		v = "99.9%" // never round a gap away
	}
	return v
}

// humanDuration renders 5d 3h, 3h 20m, 45s.
func humanDuration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	switch {
	case d >= 24*time.Hour:
		days := d / (24 * time.Hour)
		h := (d % (24 * time.Hour)) / time.Hour
		if h == 0 {
			return fmt.Sprintf("%dd", days)
		}
		return fmt.Sprintf("%dd %dh", days, h)
	case d >= time.Hour:
		m := (d % time.Hour) / time.Minute
		if m == 0 {
			return fmt.Sprintf("%dh", d/time.Hour)
		}
		return fmt.Sprintf("%dh %dm", d/time.Hour, m)
	case d >= time.Minute:
		return fmt.Sprintf("%dm", d/time.Minute)
	}
	return fmt.Sprintf("%ds", d/time.Second)
}

func firstN(ss []string, n int) []string {
	if len(ss) > n {
		return append(ss[:n:n], fmt.Sprintf("and %d more", len(ss)-n))
	}
	return ss
}
