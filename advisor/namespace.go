package advisor

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/posture-dev/posture/flow"
	"github.com/posture-dev/posture/policy"
)

// wlDocs are one workload's documents and the specs behind them.
type wlDocs struct {
	wl       *workload
	acc      *wlAcc
	platform *policy.Policy // nil without host or kube-apiserver traffic
	narrow   *policy.Policy // default deny off
	l7       *policy.Policy // narrow with L7 rules, default deny off
	hasL7    bool
	in, out  [][]ruleSpec    // target specs, for accounting
	expls    [][]Explanation // of its platform and narrow documents
}

func (b *builder) namespaceProposal(a *nsAcc) NamespaceProposal {
	n := a.n
	ns := n.name
	np := NamespaceProposal{
		Namespace: ns, FirstSeen: a.st.first, LastSeen: a.st.last, Flows: a.st.flows,
		narrow: map[string]*policy.Policy{}, l7: map[string]*policy.Policy{},
	}
	add := func(stage, wl, dir string, summary string, ps ...*policy.Policy) {
		np.Stages = append(np.Stages, StageDoc{Stage: stage, Workload: wl, Direction: dir, Policies: ps, Summary: summary})
	}

	// Baseline.
	bp, ex := baseline(ns, &a.st)
	// Explanations are gathered in parts and joined once at the end.
	expls := [][]Explanation{ex}
	add(StageBaseline, "", "", "allow all traffic within "+ns+" (no default deny)", bp)

	// Platform: DNS for the namespace.
	var dnsDoc, dnsL7 *policy.Policy
	var dnsSpecs []ruleSpec
	if len(a.dns.peers) > 0 {
		dnsSpecs = b.specs(specInput{ns: ns, d: &a.dns, forcePorts: dnsPorts, dns: dnsAll})
		d := &docBuilder{p: newPolicy(ns, NamePlatformDNS, KindPlatform, "")}
		d.p.Spec.EndpointSelector = &policy.EndpointSelector{}
		d.egress(dnsSpecs)
		d.describe("posture platform allowance for "+ns+": DNS over UDP and TCP 53 to the DNS servers the namespace was seen using, through Cilium's DNS proxy (matchPattern \"*\") so that names become visible. It never turns default deny on itself: each workload's own policy does, so pods posture never saw keep working.", &a.dns.st)
		dnsDoc = d.p
		expls = append(expls, d.expls)
		add(StagePlatform, "", "", "allow DNS to the observed DNS servers", dnsDoc)
		// L7: the same servers, names narrowed to the lookups observed.
		var fq []policy.FQDNSelector
		for _, w := range a.wls {
			for _, pa := range w.egress.list {
				if pa.p.kind == peerFQDN {
					fq = append(fq, policy.FQDNSelector{MatchName: pa.p.name})
				}
			}
		}
		slices.SortFunc(fq, func(x, y policy.FQDNSelector) int { return strings.Compare(x.MatchName, y.MatchName) })
		if len(a.queries) > 0 {
			l7specs := b.specs(specInput{ns: ns, d: &a.dns, forcePorts: dnsPorts, dns: dnsRules(a.queries, fq, b.o.FQDNPatternSiblings)})
			d7 := &docBuilder{p: newPolicy(ns, NamePlatformDNS, KindPlatform, "")}
			d7.p.Spec.EndpointSelector = &policy.EndpointSelector{}
			d7.egress(l7specs)
			d7.describe("posture platform allowance for "+ns+": DNS to the observed DNS servers, lookups narrowed to the names observed.", &a.dns.st)
			dnsL7 = d7.p
		} else {
			b.note(ns, NoteReserved, "namespace %s: no DNS queries were recorded, so the l7 stage keeps DNS lookups at matchPattern \"*\"", ns)
		}
	}

	var docs []*wlDocs
	for _, wl := range n.workloads {
		w := a.wls[wl]
		if w == nil {
			w = &wlAcc{wl: wl}
		}
		docs = append(docs, b.workloadDocs(a, w, dnsSpecs, &np))
	}
	for _, d := range docs {
		expls = append(expls, d.expls...)
	}
	np.Explanations = slices.Concat(expls...)
	for _, d := range docs {
		if d.platform != nil {
			add(StagePlatform, d.wl.name, "", "platform allowances for "+d.wl.name, d.platform)
		}
	}
	for _, d := range docs {
		add(StageNarrow, d.wl.name, "", "narrow allows for "+d.wl.name+" (no default deny)", d.narrow)
	}
	for _, d := range docs {
		for _, dir := range []string{DirIngress, DirEgress} {
			p := withDefaultDeny(d.narrow, dir == DirIngress, dir == DirEgress)
			np.Stages = append(np.Stages, StageDoc{
				Stage: StageEnforce, Workload: d.wl.name, Direction: dir, Policies: []*policy.Policy{p},
				Summary:   fmt.Sprintf("turn %s default deny on for %s", dir, d.wl.name),
				Readiness: readiness(d.acc, dir),
			})
		}
	}
	if dnsL7 != nil {
		add(StageL7, "", "", "narrow DNS lookups to the observed names", dnsL7)
	}
	for _, d := range docs {
		if d.hasL7 {
			add(StageL7, d.wl.name, "", "application-layer rules for "+d.wl.name, withDefaultDeny(d.l7, true, true))
		}
	}

	// Target: what is in force at the end.
	if dnsDoc != nil {
		if b.o.L7 && dnsL7 != nil {
			np.Target = append(np.Target, dnsL7)
		} else {
			np.Target = append(np.Target, dnsDoc)
		}
	}
	for _, d := range docs {
		if d.platform != nil {
			np.Target = append(np.Target, withDefaultDeny(d.platform, len(d.platform.Spec.Ingress) > 0, len(d.platform.Spec.Egress) > 0))
		}
		src := d.narrow
		if b.o.L7 {
			src = d.l7
		}
		np.Target = append(np.Target, withDefaultDeny(src, true, true))
		np.narrow[d.wl.name] = d.narrow
		np.l7[d.wl.name] = d.l7
		np.Workloads = append(np.Workloads, workloadInfo(d))
		b.account(a, d, dnsSpecs)
	}
	slices.SortFunc(np.Target, func(x, y *policy.Policy) int { return strings.Compare(x.Metadata.Name, y.Metadata.Name) })
	uniqueNames(&np)
	return np
}

// workloadDocs builds one workload's platform, narrow and l7 documents.
func (b *builder) workloadDocs(a *nsAcc, w *wlAcc, dnsSpecs []ruleSpec, np *NamespaceProposal) *wlDocs {
	ns := a.n.name
	wl := w.wl
	r := a.n.exactSelector(wl.classes)
	wl.sel, wl.over = r.sel, r.over
	if len(r.over) > 0 {
		var others []string
		for _, c := range r.over {
			others = append(others, c.key)
		}
		b.note(ns, NoteOvermatch, "workload %s: no label selector tells it apart from %s; its policy selects them too", wl.name, strings.Join(others, "; "))
	}
	for _, c := range wl.classes {
		if c.unlabeled {
			b.note(ns, NoteUnlabelled, "workload %s (pods %s) has no workload labels, only the namespace (and service account) — selected as %q; give it an app label so policy can name it",
				wl.name, strings.Join(c.pods, " "), r.sel.String())
		}
	}
	sel := r.sel.endpointSelector("")
	out := &wlDocs{wl: wl, acc: w}
	wl.ingress = len(w.ingress.peers)+len(w.host.peers) > 0
	wl.egress = len(w.egress.peers)+len(w.apiserv.peers)+len(w.dns.peers) > 0
	var wst stats
	wst.merge(&w.inFlows, b.maxPods)
	wst.merge(&w.outFlows, b.maxPods)
	wl.flows, wl.first, wl.last, wl.pods = wst.flows, wst.first, wst.last, wst.pods

	// Platform: probes from the node, the API server.
	if len(w.host.peers)+len(w.apiserv.peers) > 0 {
		d := &docBuilder{p: newPolicy(ns, "posture-"+wl.name+"-platform", KindPlatform, wl.name), pc: a.pc}
		d.p.Spec.EndpointSelector = &sel
		hostSpecs := b.specs(specInput{ns: ns, d: &w.host})
		apiSpecs := b.specs(specInput{ns: ns, d: &w.apiserv})
		d.ingress(hostSpecs)
		d.egress(apiSpecs)
		var why []string
		if len(hostSpecs) > 0 {
			why = append(why, "probes from the node (kubelet) via fromEntities host — Cilium allows traffic from the local host by default unless configured otherwise (allow-localhost=policy or a host firewall), so this rule states intent and keeps working if that changes")
		}
		if len(apiSpecs) > 0 {
			why = append(why, "the Kubernetes API server via toEntities kube-apiserver")
		}
		var st stats
		st.merge(&w.host.st, b.maxPods)
		st.merge(&w.apiserv.st, b.maxPods)
		d.describe(fmt.Sprintf("posture platform allowances for %s in %s (%s): %s.", wl.name, ns, selText(sel), strings.Join(why, "; ")), &st)
		out.platform = d.p
		out.in = append(out.in, hostSpecs)
		out.out = append(out.out, apiSpecs)
		out.expls = append(out.expls, d.expls)
	}

	// Narrow allows, at L4 and with L7; without HTTP samples or DNS
	// lookups to narrow to, the L7 document is the L4 one.
	variants := []bool{false, true}
	if !w.ingress.hasHTTP && !w.egress.hasHTTP && len(w.queries) == 0 {
		variants = variants[:1]
	}
	for _, l7 := range variants {
		inSpecs := b.specs(specInput{ns: ns, d: &w.ingress, l7: l7, l7Peers: true})
		outSpecs := b.specs(specInput{ns: ns, d: &w.egress, l7: l7, dropped: w.dropped})
		if hasKind(outSpecs, peerFQDN) {
			outSpecs = append(outSpecs, b.pairingSpecs(a, w, outSpecs, l7, dnsSpecs)...)
		}
		d := &docBuilder{p: newPolicy(ns, "posture-"+wl.name, KindNarrow, wl.name), pc: a.pc}
		d.p.Spec.EndpointSelector = &sel
		d.reserve(len(inSpecs) + len(outSpecs) + 2)
		d.ingress(inSpecs)
		d.egress(outSpecs)
		d.denyRest(true, true)
		d.describe(fmt.Sprintf("posture narrow allows for %s in %s (%s): the peers and ports it was seen using, nothing else once default deny is on.", wl.name, ns, selText(sel)), &wst)
		if l7 {
			out.l7 = d.p
			out.hasL7 = hasL7(inSpecs) || hasL7(outSpecs)
			if b.o.L7 {
				out.in, out.out = append(out.in, inSpecs), append(out.out, outSpecs)
			}
		} else {
			out.narrow = d.p
			out.expls = append(out.expls, d.expls)
			if !b.o.L7 || len(variants) == 1 {
				out.in, out.out = append(out.in, inSpecs), append(out.out, outSpecs)
			}
		}
	}
	if out.l7 == nil {
		out.l7 = out.narrow
	}
	return out
}

// pairingSpecs is the DNS rule FQDN rules need: lookups must pass Cilium's
// DNS proxy for toFQDNs to learn addresses.
func (b *builder) pairingSpecs(a *nsAcc, w *wlAcc, outSpecs []ruleSpec, l7 bool, nsDNS []ruleSpec) []ruleSpec {
	d := &w.dns
	if len(d.peers) == 0 {
		d = &a.dns
	}
	if len(d.peers) == 0 {
		b.note(a.n.name, NoteReserved, "workload %s uses DNS names but no DNS server was observed; its toFQDNs rules need DNS to be allowed", w.wl.name)
		return nil
	}
	rules := dnsAll
	if l7 {
		var fq []policy.FQDNSelector
		for _, s := range outSpecs {
			fq = append(fq, s.fqdns...)
		}
		if len(w.queries) > 0 {
			rules = dnsRules(w.queries, fq, b.o.FQDNPatternSiblings)
		}
	}
	return b.specs(specInput{ns: a.n.name, d: d, forcePorts: dnsPorts, dns: rules})
}

func hasKind(specs []ruleSpec, k peerKind) bool {
	for _, s := range specs {
		if s.kind == k {
			return true
		}
	}
	return false
}

func hasL7(specs []ruleSpec) bool {
	for _, s := range specs {
		if len(s.http) > 0 {
			return true
		}
		for _, r := range s.dns {
			if r.MatchPattern != "*" {
				return true
			}
		}
	}
	return false
}

func workloadInfo(d *wlDocs) Workload {
	wl := d.wl
	w := Workload{
		Name: wl.name, Selector: wl.sel.endpointSelector(""), Flows: wl.flows,
		FirstSeen: wl.first, LastSeen: wl.last, Ingress: wl.ingress, Egress: wl.egress,
	}
	for _, c := range wl.classes {
		w.Identities = append(w.Identities, c.key)
	}
	w.Pods = slices.Clone(wl.pods)
	slices.Sort(w.Pods)
	return w
}

// readiness summarises the evidence behind one flip; coverage is filled in
// by verification.
func readiness(w *wlAcc, dir string) *Readiness {
	st := &w.inFlows
	if dir == DirEgress {
		st = &w.outFlows
	}
	r := &Readiness{FirstSeen: st.first, LastSeen: st.last, Flows: st.flows, Edges: st.edges}
	if !st.first.IsZero() {
		r.Span = st.last.Sub(st.first)
	}
	return r
}

// uniqueNames keeps policy names unique in a namespace: a workload called
// "baseline" must not replace the baseline.
func uniqueNames(np *NamespaceProposal) {
	seen := map[string]*policy.Policy{}
	rename := map[*policy.Policy]string{}
	for _, sd := range np.Stages {
		for _, p := range sd.Policies {
			wl := p.Metadata.Labels[LabelWorkload]
			key := p.Metadata.Name
			if q, ok := seen[key]; ok && q.Metadata.Labels[LabelWorkload] != wl {
				rename[p] = key + "-workload"
			} else {
				seen[key] = p
			}
		}
	}
	if len(rename) == 0 {
		return
	}
	fix := func(p *policy.Policy) {
		if p.Metadata.Labels[LabelKind] != KindBaseline && p.Metadata.Labels[LabelWorkload] != "" {
			for q, n := range rename {
				if q.Metadata.Labels[LabelWorkload] == p.Metadata.Labels[LabelWorkload] && q.Metadata.Labels[LabelKind] == p.Metadata.Labels[LabelKind] {
					p.Metadata.Name = n
				}
			}
		}
	}
	for _, sd := range np.Stages {
		for _, p := range sd.Policies {
			fix(p)
		}
	}
	for _, p := range np.Target {
		fix(p)
	}
}

// WorkloadPolicy returns the workload's narrow policy with default deny
// set per direction, for combining flips in any order; l7 selects the
// variant with application-layer rules. Nil for an unknown workload.
func (np *NamespaceProposal) WorkloadPolicy(workload string, ingress, egress, l7 bool) *policy.Policy {
	src := np.narrow[workload]
	if l7 {
		src = np.l7[workload]
	}
	if src == nil {
		return nil
	}
	c := withDefaultDeny(src, ingress, egress)
	c.Metadata.Labels = maps.Clone(src.Metadata.Labels)
	c.Metadata.Annotations = maps.Clone(src.Metadata.Annotations)
	return c
}

// StagePolicies returns the documents of one stage as they stand at the
// end of that stage (enforce: every workload with both directions on).
func (np *NamespaceProposal) StagePolicies(stage string) []*policy.Policy {
	var out []*policy.Policy
	seen := map[string]int{}
	for _, sd := range np.Stages {
		if sd.Stage != stage {
			continue
		}
		for _, p := range sd.Policies {
			if stage == StageEnforce {
				p = np.WorkloadPolicy(sd.Workload, true, true, false)
				if p == nil {
					continue
				}
			}
			if i, ok := seen[p.Metadata.Name]; ok {
				out[i] = p
				continue
			}
			seen[p.Metadata.Name] = len(out)
			out = append(out, p)
		}
	}
	return out
}

var _ = flow.ProtoTCP
