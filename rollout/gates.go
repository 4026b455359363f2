package rollout

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/posture-dev/posture/flow"
)

// Gate names, as reported in GateResult.Name.
const (
	GateObservation = "observation-window"
	GateCronJobs    = "cronjobs-seen"
	GateWouldDeny   = "zero-would-deny"
	GateCoverage    = "coverage"
	GateNewPeers    = "no-new-peers"
	GateEvidence    = "evidence-fresh"
)

// GateConfig holds the thresholds. The zero value is not useful; start
// from DefaultGates.
type GateConfig struct {
	// ObservationWindow is how long evidence must span before anything is
	// staged, and the window inside which every CronJob must have run.
	ObservationWindow time.Duration
	// QuietWindow is how long the staged set must have seen zero
	// would-deny flows and no new peers before enforcing.
	QuietWindow time.Duration
	// MinCoverage is the share of observed flows of the subjects being
	// enforced that the enforced set must allow (0..1).
	MinCoverage float64
	// MaxWouldDeny is how many would-deny flows inside QuietWindow are
	// tolerated (0 for a cautious rollout).
	MaxWouldDeny uint64
	// CronJobs requires every CronJob in the namespace to have run inside
	// the observation window.
	CronJobs bool
	// TopN bounds the offending flows listed when a gate fails.
	TopN int
}

// DefaultGates are the cautious defaults: a week of evidence, a quiet day,
// full coverage, every CronJob seen.
func DefaultGates() GateConfig {
	return GateConfig{
		ObservationWindow: 7 * 24 * time.Hour,
		QuietWindow:       24 * time.Hour,
		MinCoverage:       1,
		CronJobs:          true,
		TopN:              5,
	}
}

// subject is a workload direction whose enforcement a promotion turns on.
type subject struct {
	workload string
	egress   bool
}

// GateInput is everything one gate evaluation looks at.
type GateInput struct {
	Plan     *NamespacePlan
	Current  Snapshot
	Target   Snapshot
	Edges    []flow.Edge
	CronJobs []CronJob
	Now      time.Time
}

// GateReport is the outcome of evaluating the gates for one promotion.
type GateReport struct {
	Gates     []GateResult
	TopDenied []WouldDeny
	Coverage  float64 // of the namespace's evidence by the target set, as if enforced
	// WouldDenyWindow and WouldDenyTotal count flows the target set denies
	// (as written) inside the quiet window and over all evidence.
	WouldDenyWindow, WouldDenyTotal uint64
	// WouldDenyObservation counts them inside the observation window.
	WouldDenyObservation uint64
	// PerWorkload holds coverage and would-deny counts for each workload.
	PerWorkload map[string]WorkloadEval
	// ETA is when the time-based failing gates would pass if nothing
	// else changes; nil when a failing gate is not time-based.
	ETA *time.Time
	// Samples are coverage and would-deny a day apart over the evidence,
	// as the staged set would have seen them then.
	Samples []Sample
}

// WorkloadEval is a workload's share of a gate evaluation.
type WorkloadEval struct {
	Coverage                          float64
	WouldDenyIngress, WouldDenyEgress uint64
}

// Passing reports whether every gate passed.
func (r *GateReport) Passing() bool {
	for _, g := range r.Gates {
		if !g.Passing {
			return false
		}
	}
	return true
}

// Failing lists the failing gates' names.
func (r *GateReport) Failing() []string {
	var out []string
	for _, g := range r.Gates {
		if !g.Passing {
			out = append(out, g.Name)
		}
	}
	return out
}

// EvaluateGates runs every gate for moving from in.Current to in.Target.
// Gates that guard enforcement (would-deny, coverage, new peers) only
// block promotions that turn enforcement on for someone; for the others
// they are reported for information.
func EvaluateGates(cfg GateConfig, compile Compiler, in GateInput) (*GateReport, error) {
	if compile == nil {
		compile = DefaultCompiler
	}
	target := Desired(in.Plan, in.Target)
	asWritten, err := compile(target, false)
	if err != nil {
		return nil, fmt.Errorf("compiling staged set: %w", err)
	}
	asEnforced, err := compile(target, true)
	if err != nil {
		return nil, fmt.Errorf("compiling staged set as enforced: %w", err)
	}
	subjects := enforcementSubjects(in.Plan, in.Current, in.Target)
	enforcing := len(subjects) > 0
	// Whatever the step, if the resulting set enforces anything, flows it
	// would deny are real drops (re-applied policies may have changed
	// since they were enforced): the would-deny gate then blocks too.
	enforcesAny := enforcing
	for _, ws := range in.Target.Workloads {
		enforcesAny = enforcesAny || ws.Enforced.Ingress || ws.Enforced.Egress
	}
	rep := &GateReport{PerWorkload: map[string]WorkloadEval{}}
	quietStart := in.Now.Add(-cfg.QuietWindow)

	// Evidence span.
	var first, last time.Time
	for _, e := range in.Edges {
		if !e.FirstSeen.IsZero() && (first.IsZero() || e.FirstSeen.Before(first)) {
			first = e.FirstSeen
		}
		if e.LastSeen.After(last) {
			last = e.LastSeen
		}
	}
	span := time.Duration(0)
	if !first.IsZero() {
		span = in.Now.Sub(first)
		if last.Before(in.Now) {
			span = last.Sub(first)
		}
	}
	var etas []time.Time
	timeBased := true
	obs := GateResult{
		Name:      GateObservation,
		Passing:   span >= cfg.ObservationWindow,
		Value:     humanDuration(span),
		Threshold: "≥ " + humanDuration(cfg.ObservationWindow),
		Numeric:   span.Hours(),
	}
	if first.IsZero() {
		obs.Detail = "no evidence for this namespace"
		timeBased = false
	} else if !obs.Passing {
		etas = append(etas, first.Add(cfg.ObservationWindow))
	}
	rep.Gates = append(rep.Gates, obs)

	fresh := GateResult{
		Name:      GateEvidence,
		Passing:   !last.IsZero() && !last.Before(quietStart),
		Value:     "never",
		Threshold: "within " + humanDuration(cfg.QuietWindow),
	}
	if !last.IsZero() {
		age := max(in.Now.Sub(last), 0)
		fresh.Value = humanDuration(age) + " ago"
		fresh.Numeric = age.Hours()
	}
	if !fresh.Passing {
		fresh.Detail = "the zero-would-deny gate needs recent evidence: feed current flows with --flows"
		timeBased = false
	}
	if !enforcesAny {
		fresh.Passing, fresh.Detail = true, "informational: this promotion enforces nothing"
	}
	rep.Gates = append(rep.Gates, fresh)

	if cfg.CronJobs {
		g := cronGate(cfg, in, first)
		if !g.Passing {
			timeBased = false
		}
		rep.Gates = append(rep.Gates, g)
	}

	// Judge every edge once against the set as written (would-deny) and
	// as if enforced (coverage).
	type denied struct {
		wd   WouldDeny
		edge int
	}
	var offenders []denied
	var pts []point
	var covTotal, covAllowed, subjTotal, subjAllowed uint64
	var lastDeny time.Time
	wl := workloadMatchers(in.Plan)
	perW := map[string]*[4]uint64{} // total, allowed, deny ingress, deny egress
	newIDs, newPairs := newPeers(in.Edges, quietStart)
	for i := range in.Edges {
		e := &in.Edges[i]
		if onlyDropped(e) {
			// Traffic that never got through (something already drops
			// it) cannot break; it neither counts against coverage nor
			// as would-deny.
			continue
		}
		n := max(e.Flows, 1)
		w, e2 := judgeEdge(asWritten, e), judgeEdge(asEnforced, e)
		srcW, dstW := wl.of(&e.Source), wl.of(&e.Destination)
		covTotal += n
		if e2.Allowed {
			covAllowed += n
		}
		for _, pw := range []struct {
			name   string
			egress bool
		}{{srcW, true}, {dstW, false}} {
			if pw.name == "" {
				continue
			}
			c := perW[pw.name]
			if c == nil {
				c = &[4]uint64{}
				perW[pw.name] = c
			}
			c[0] += n
			side := e2.IngressAllowed
			if pw.egress {
				side = e2.EgressAllowed
			}
			if side {
				c[1] += n
			}
			if pw.egress && !w.EgressAllowed {
				c[3] += n
			}
			if !pw.egress && !w.IngressAllowed {
				c[2] += n
			}
			if subjects[subject{pw.name, pw.egress}] {
				subjTotal += n
				if side {
					subjAllowed += n
				}
			}
		}
		pts = append(pts, point{first: e.FirstSeen, last: e.LastSeen, n: n, allowed: e2.Allowed, denied: !w.Allowed})
		if w.Allowed {
			// The datapath has the last word: an AUDIT verdict is a drop
			// that audit mode let through. Inside the quiet window it
			// blocks enforcement even where the evaluator allows the flow.
			audit := e.Verdicts.Get(flow.VerdictAudit)
			if audit == 0 || e.LastSeen.Before(quietStart) {
				continue
			}
			w = Judgement{Direction: auditDirection(e), Reason: "AUDIT verdict observed: the datapath would drop this"}
			n = audit
			pts[len(pts)-1].denied = true
		}
		rep.WouldDenyTotal += n
		if !e.LastSeen.Before(in.Now.Add(-cfg.ObservationWindow)) {
			rep.WouldDenyObservation += n
		}
		if e.LastSeen.Before(quietStart) {
			continue
		}
		rep.WouldDenyWindow += n
		if e.LastSeen.After(lastDeny) {
			lastDeny = e.LastSeen
		}
		owner := dstW
		if w.Direction == "egress" {
			owner = srcW
		}
		offenders = append(offenders, denied{edge: i, wd: WouldDeny{
			Source:      endpointName(&e.Source),
			Destination: endpointName(&e.Destination),
			Port:        fmt.Sprintf("%d/%s", e.Port, e.Protocol),
			Direction:   w.Direction,
			Workload:    owner,
			Count:       n,
			LastSeen:    e.LastSeen,
			Fix:         fixHint(w, e),
		}})
	}
	for name, c := range perW {
		we := WorkloadEval{Coverage: 1, WouldDenyIngress: c[2], WouldDenyEgress: c[3]}
		if c[0] > 0 {
			we.Coverage = float64(c[1]) / float64(c[0])
		}
		rep.PerWorkload[name] = we
	}
	rep.Coverage = ratio(covAllowed, covTotal)
	rep.Samples = samples(pts, first, in.Now, cfg.QuietWindow)
	slices.SortFunc(offenders, func(a, b denied) int {
		return cmp.Or(cmp.Compare(b.wd.Count, a.wd.Count), b.wd.LastSeen.Compare(a.wd.LastSeen), cmp.Compare(a.edge, b.edge))
	})
	for i := 0; i < len(offenders) && i < max(cfg.TopN, 1); i++ {
		rep.TopDenied = append(rep.TopDenied, offenders[i].wd)
	}

	wd := GateResult{
		Name:      GateWouldDeny,
		Passing:   rep.WouldDenyWindow <= cfg.MaxWouldDeny,
		Value:     fmt.Sprintf("%d flows in %s", rep.WouldDenyWindow, humanDuration(cfg.QuietWindow)),
		Threshold: fmt.Sprintf("≤ %d", cfg.MaxWouldDeny),
		Numeric:   float64(rep.WouldDenyWindow),
	}
	if !wd.Passing {
		wd.Detail = fmt.Sprintf("%d edges the staged set would deny were seen in the window", len(offenders))
		etas = append(etas, lastDeny.Add(cfg.QuietWindow))
	}

	cov := GateResult{
		Name:      GateCoverage,
		Threshold: fmt.Sprintf("≥ %s", pct(cfg.MinCoverage)),
	}
	if enforcing {
		c := ratio(subjAllowed, subjTotal)
		cov.Value, cov.Numeric = pct(c), c
		cov.Passing = c >= cfg.MinCoverage
		cov.Detail = fmt.Sprintf("%d of %d observed flows of the workloads being enforced are allowed", subjAllowed, subjTotal)
		if !cov.Passing {
			timeBased = false
		}
	} else {
		cov.Value, cov.Numeric, cov.Passing = pct(rep.Coverage), rep.Coverage, true
		cov.Detail = "informational: this promotion enforces nothing (namespace-wide coverage of the staged set)"
	}

	np := GateResult{
		Name:      GateNewPeers,
		Passing:   len(newIDs)+len(newPairs) == 0,
		Value:     fmt.Sprintf("%d identities, %d peer pairs", len(newIDs), len(newPairs)),
		Threshold: "0 new in " + humanDuration(cfg.QuietWindow),
		Numeric:   float64(len(newIDs) + len(newPairs)),
	}
	if !np.Passing {
		np.Detail = "new: " + strings.Join(firstN(append(newIDs, newPairs...), 3), "; ")
		etas = append(etas, in.Now.Add(cfg.QuietWindow))
	}
	if !enforcesAny {
		wd.Passing = true
		wd.Detail = "informational: the resulting set enforces nothing"
	}
	if !enforcing {
		np.Passing = true
		np.Detail = "informational: this promotion turns no enforcement on"
	}
	rep.Gates = append(rep.Gates, wd, cov, np)

	if !rep.Passing() && timeBased && len(etas) > 0 {
		eta := slices.MaxFunc(etas, time.Time.Compare)
		rep.ETA = &eta
	}
	return rep, nil
}

func cronGate(cfg GateConfig, in GateInput, evidenceStart time.Time) GateResult {
	windowStart := in.Now.Add(-cfg.ObservationWindow)
	if evidenceStart.After(windowStart) {
		windowStart = evidenceStart
	}
	var missing []string
	for _, cj := range in.CronJobs {
		switch {
		case cj.LastSchedule == nil:
			missing = append(missing, cj.Name+" (never ran)")
		case cj.LastSchedule.Before(windowStart):
			missing = append(missing, fmt.Sprintf("%s (last ran %s, before the observed window)", cj.Name, cj.LastSchedule.UTC().Format(time.RFC3339)))
		}
		if cj.Suspended && len(missing) > 0 && strings.HasPrefix(missing[len(missing)-1], cj.Name+" ") {
			missing[len(missing)-1] += " [suspended]"
		}
	}
	ran := len(in.CronJobs) - len(missing)
	g := GateResult{
		Name:      GateCronJobs,
		Passing:   len(missing) == 0,
		Value:     fmt.Sprintf("%d/%d ran", ran, len(in.CronJobs)),
		Threshold: "all ran in " + humanDuration(cfg.ObservationWindow),
		Numeric:   float64(ran),
	}
	if len(missing) > 0 {
		g.Detail = "not seen: " + strings.Join(missing, ", ")
	}
	return g
}

// enforcementSubjects lists the workload directions that target enforces
// and current does not. Removing the baseline (to done) and adding L7
// rules tighten every direction of the affected workloads.
func enforcementSubjects(p *NamespacePlan, cur, tgt Snapshot) map[subject]bool {
	out := map[subject]bool{}
	for _, w := range p.Workloads {
		c, t := cur.Workloads[w.Name], tgt.Workloads[w.Name]
		if t.Enforced.Ingress && !c.Enforced.Ingress {
			out[subject{w.Name, false}] = true
		}
		if t.Enforced.Egress && !c.Enforced.Egress {
			out[subject{w.Name, true}] = true
		}
		tightens := (tgt.Stage == StageDone && cur.Stage != StageDone) ||
			(t.Stage >= StageL7 && c.Stage < StageL7 && len(w.L7) > 0)
		if tightens {
			out[subject{w.Name, false}] = t.Enforced.Ingress
			out[subject{w.Name, true}] = t.Enforced.Egress
		}
	}
	for k, v := range out {
		if !v {
			delete(out, k)
		}
	}
	return out
}
