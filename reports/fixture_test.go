package reports

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/posture-dev/posture/rollout"
)

// fixtureNow is the fixed "now" of every golden report.
var fixtureNow = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

const (
	gateWindow    = "observation-window"
	gateQuiet     = "zero-would-deny"
	gateCoverage  = "coverage"
	gateCronJobs  = "cronjobs-seen"
	actorEngine   = "posture-rollout"
	samplePeriod  = 6 * time.Hour
	windowByStage = 7 * 24 * time.Hour
)

// leg is one stage of a namespace's journey and how long it lasted.
type leg struct {
	stage rollout.Stage
	dur   time.Duration
	// actor and reason of the transition that ended the leg ("" = the
	// engine, on gates passing).
	actor, reason string
	forced        bool
	// to overrides the next stage (a rollback goes backwards).
	to *rollout.Stage
}

type nsSpec struct {
	name      string
	since     time.Duration // time in the current stage
	legs      []leg         // finished legs, oldest first; the last stage is current
	current   rollout.Stage
	workloads []string
	coverage  float64 // current
	deny24    uint64
	deny7d    uint64
	top       []rollout.WouldDeny
	gates     func(since time.Duration) []rollout.GateResult
	blockers  []string
	eta       time.Duration // >0: promotion ETA from now; 0: none
}

func stagePtr(s rollout.Stage) *rollout.Stage { return &s }

func d(days, hours int) time.Duration {
	return time.Duration(days)*24*time.Hour + time.Duration(hours)*time.Hour
}

// standardGates are the gates a namespace in the middle of its rollout
// reports: time at the stage, a quiet would-deny window, coverage.
func standardGates(window time.Duration, quiet time.Duration, cov float64) func(time.Duration) []rollout.GateResult {
	return func(since time.Duration) []rollout.GateResult {
		q := min(since, quiet)
		return []rollout.GateResult{
			{Name: gateWindow, Passing: since >= window, Value: fmtDuration(since), Threshold: fmtDuration(window), Numeric: since.Hours()},
			{Name: gateQuiet, Passing: q >= quiet, Value: "0 flows for " + fmtDuration(q), Threshold: "0 flows for " + fmtDuration(quiet), Numeric: 0},
			{Name: gateCoverage, Passing: cov >= 0.99, Value: fmtPercent(cov), Threshold: "≥ 99.0%", Numeric: cov},
		}
	}
}

// fixtureSpecs is a fixed six-week rollout over eight namespaces, each at a
// different point of the checklist, with one rollback and one namespace
// held back by flows its staged set would deny.
func fixtureSpecs() []nsSpec {
	engine := func(s rollout.Stage, dur time.Duration) leg { return leg{stage: s, dur: dur} }
	return []nsSpec{
		{
			name:  "identity",
			since: d(2, 0),
			legs: []leg{engine(rollout.StageObserve, d(7, 2)), engine(rollout.StageBaseline, d(3, 1)), engine(rollout.StagePlatform, d(3, 4)),
				engine(rollout.StageNarrow, d(7, 0)), engine(rollout.StageEnforce, d(7, 3)), engine(rollout.StageL7, d(5, 0))},
			current:   rollout.StageDone,
			workloads: []string{"keycloak", "keycloak-postgres", "token-exchange"},
			coverage:  1,
			gates:     func(time.Duration) []rollout.GateResult { return nil },
		},
		{
			name:  "payments",
			since: d(4, 3),
			legs: []leg{engine(rollout.StageObserve, d(7, 0)), engine(rollout.StageBaseline, d(3, 0)), engine(rollout.StagePlatform, d(3, 0)),
				engine(rollout.StageNarrow, d(8, 5))},
			current:   rollout.StageEnforce,
			workloads: []string{"api", "ledger", "fraud-scorer", "settlement-cron"},
			coverage:  0.9996,
			deny7d:    3,
			gates:     standardGates(7*24*time.Hour, 72*time.Hour, 0.9996),
			eta:       d(2, 21),
		},
		{
			name:      "checkout",
			since:     d(9, 2),
			legs:      []leg{engine(rollout.StageObserve, d(7, 6)), engine(rollout.StageBaseline, d(3, 2)), engine(rollout.StagePlatform, d(4, 0))},
			current:   rollout.StageNarrow,
			workloads: []string{"cart", "checkout-api", "payment-gateway", "nightly-reconcile", "email-receipts"},
			coverage:  0.9712,
			deny24:    37,
			deny7d:    262,
			top: []rollout.WouldDeny{
				{Source: "checkout/nightly-reconcile", Destination: "fqdn:api.acquirer.example.com", Port: "443/TCP", Direction: "egress", Workload: "nightly-reconcile", Count: 31, LastSeen: fixtureNow.Add(-10 * time.Hour),
					Fix: "egress toFQDNs matchName api.acquirer.example.com, toPorts 443/TCP, plus a dns rule for the name"},
				{Source: "monitoring/prometheus", Destination: "checkout/checkout-api", Port: "9090/TCP", Direction: "ingress", Workload: "checkout-api", Count: 4, LastSeen: fixtureNow.Add(-35 * time.Minute),
					Fix: "ingress fromEndpoints io.kubernetes.pod.namespace=monitoring, app.kubernetes.io/name=prometheus, toPorts 9090/TCP"},
				{Source: "checkout/payment-gateway", Destination: "cidr:10.40.12.0/24", Port: "5432/TCP", Direction: "egress", Workload: "payment-gateway", Count: 2, LastSeen: fixtureNow.Add(-3 * time.Hour),
					Fix: "egress toCIDRSet 10.40.12.0/24, toPorts 5432/TCP"},
			},
			gates: func(since time.Duration) []rollout.GateResult {
				return []rollout.GateResult{
					{Name: gateWindow, Passing: true, Value: fmtDuration(since), Threshold: "7d", Numeric: since.Hours()},
					{Name: gateQuiet, Passing: false, Value: "37 flows in 24h", Threshold: "0 flows for 3d", Detail: "3 edges; see the top would-deny edges", Numeric: 37},
					{Name: gateCoverage, Passing: false, Value: "97.1%", Threshold: "≥ 99.0%", Numeric: 0.9712},
				}
			},
			blockers: []string{"37 would-deny flows in the last 24h (3 edges)", "coverage 97.1% is below 99.0%"},
		},
		{
			name:      "catalog",
			since:     d(1, 6),
			legs:      []leg{engine(rollout.StageObserve, d(8, 0)), engine(rollout.StageBaseline, d(3, 0))},
			current:   rollout.StagePlatform,
			workloads: []string{"catalog-api", "catalog-db", "image-resizer"},
			coverage:  0.9991,
			gates:     standardGates(3*24*time.Hour, 24*time.Hour, 0.9991),
			eta:       d(1, 18),
		},
		{
			name:      "search",
			since:     d(2, 1),
			legs:      []leg{engine(rollout.StageObserve, d(7, 3))},
			current:   rollout.StageBaseline,
			workloads: []string{"search-api", "indexer", "opensearch"},
			coverage:  0.9998,
			gates:     standardGates(2*24*time.Hour, 24*time.Hour, 0.9998),
		},
		{
			name:      "batch",
			since:     d(12, 4),
			current:   rollout.StageObserve,
			workloads: []string{"daily-export", "weekly-cleanup", "monthly-invoices"},
			coverage:  0.9934,
			gates: func(since time.Duration) []rollout.GateResult {
				return []rollout.GateResult{
					{Name: gateWindow, Passing: true, Value: fmtDuration(since), Threshold: "7d", Numeric: since.Hours()},
					{Name: gateCronJobs, Passing: false, Value: "2 of 3", Threshold: "every CronJob", Detail: "monthly-invoices has not run since observation began", Numeric: 2},
				}
			},
			blockers: []string{"CronJob monthly-invoices not seen yet (schedule: 0 3 1 * *, next run 2026-12-01 03:00 UTC)"},
		},
		{
			name:  "monitoring",
			since: d(6, 0),
			legs: []leg{engine(rollout.StageObserve, d(7, 0)), engine(rollout.StageBaseline, d(2, 5)), engine(rollout.StagePlatform, d(3, 0)),
				engine(rollout.StageNarrow, d(7, 2)),
				{stage: rollout.StageEnforce, dur: d(0, 9), actor: "oncall@example.com", reason: "rollback: alertmanager could not reach the pager webhook", forced: true, to: stagePtr(rollout.StageNarrow)},
				engine(rollout.StageNarrow, d(3, 0)), engine(rollout.StageEnforce, d(7, 0))},
			current:   rollout.StageL7,
			workloads: []string{"prometheus", "alertmanager", "grafana", "node-exporter", "kube-state-metrics"},
			coverage:  1,
			gates:     standardGates(7*24*time.Hour, 72*time.Hour, 1),
			eta:       d(1, 0),
		},
		{
			name:      "legacy-erp",
			since:     d(0, 5),
			current:   rollout.StageObserve,
			workloads: []string{"erp-app", "erp-db"},
			coverage:  0.6120,
			gates: func(since time.Duration) []rollout.GateResult {
				return []rollout.GateResult{
					{Name: gateWindow, Passing: false, Value: fmtDuration(since), Threshold: "7d", Numeric: since.Hours()},
					{Name: gateCronJobs, Passing: true, Value: "0 of 0", Threshold: "every CronJob", Numeric: 0},
				}
			},
			eta: d(6, 19),
		},
	}
}

// fixtureStatus builds the golden rollout status: every stage's start is
// derived from the legs, so history, samples and time in stage agree.
func fixtureStatus() *rollout.Status {
	st := &rollout.Status{GeneratedAt: fixtureNow}
	for _, sp := range fixtureSpecs() {
		st.Namespaces = append(st.Namespaces, buildSpec(sp, fixtureNow))
	}
	return st
}

func buildSpec(sp nsSpec, now time.Time) rollout.NamespaceStatus {
	since := sp.since
	var total time.Duration
	for _, l := range sp.legs {
		total += l.dur
	}
	start := now.Add(-since - total)
	ns := rollout.NamespaceStatus{Namespace: sp.name, Stage: sp.current, StageSince: now.Add(-since), Coverage: sp.coverage,
		WouldDeny24: sp.deny24, WouldDeny7d: sp.deny7d, TopDenied: sp.top, Blockers: sp.blockers}
	at := start
	for i, l := range sp.legs {
		at = at.Add(l.dur)
		to := sp.current
		if i+1 < len(sp.legs) {
			to = sp.legs[i+1].stage
		}
		if l.to != nil {
			to = *l.to
		}
		tr := rollout.Transition{Time: at, From: l.stage, To: to, Actor: actorEngine, Reason: "gates passed", Forced: l.forced}
		if l.actor != "" {
			tr.Actor, tr.Reason = l.actor, l.reason
		}
		ns.History = append(ns.History, tr)
	}
	if sp.current < rollout.StageDone {
		next := sp.current + 1
		ns.NextStage = &next
	}
	if sp.eta > 0 {
		eta := now.Add(sp.eta)
		ns.ETA = &eta
	}
	ns.Gates = sp.gates(since)
	// Workloads follow the namespace; from enforce on, default deny is on
	// in both directions except for the last workload's egress, which is
	// flipped last (it talks to the most destinations).
	for i, w := range sp.workloads {
		ws := rollout.WorkloadStatus{Name: w, Stage: sp.current, StageSince: ns.StageSince, Coverage: sp.coverage}
		if sp.current >= rollout.StageEnforce {
			ws.Enforced.Ingress = true
			ws.Enforced.Egress = sp.current > rollout.StageEnforce || i < len(sp.workloads)-1
		}
		for _, td := range sp.top {
			if td.Workload == w {
				ws.WouldDeny += td.Count
				if td.Direction == "ingress" {
					ws.WouldDenyIngress += td.Count
				} else {
					ws.WouldDenyEgress += td.Count
				}
				ws.Coverage = 0.95
			}
		}
		ns.Workloads = append(ns.Workloads, ws)
	}
	// Samples every 6h: coverage climbs from the first observation towards
	// the current value, would-deny dips after each promotion's fixes.
	rng := rand.New(rand.NewPCG(uint64(len(sp.name)), 7))
	n := int(now.Sub(start) / samplePeriod)
	for i := 0; i <= n; i++ {
		t := start.Add(time.Duration(i) * samplePeriod)
		frac := float64(i) / float64(max(n, 1))
		cov := 0.55 + (sp.coverage-0.55)*(1-(1-frac)*(1-frac))
		if cov > 1 {
			cov = 1
		}
		wd := uint64(float64(200)*(1-frac)*(1-frac)) + uint64(rng.IntN(5))
		if i == n {
			cov, wd = sp.coverage, sp.deny24
		}
		ns.Samples = append(ns.Samples, rollout.Sample{Time: t, Coverage: cov, WouldDeny: wd})
	}
	return ns
}

// syntheticStatus is a large cluster for benchmarks: nsCount namespaces
// sharing wlCount workloads, every namespace with gates, a week of samples,
// a full history and ten top would-deny edges.
func syntheticStatus(nsCount, wlCount int) *rollout.Status {
	st := &rollout.Status{GeneratedAt: fixtureNow}
	rng := rand.New(rand.NewPCG(1, 2))
	perNS := wlCount / nsCount
	for i := 0; i < nsCount; i++ {
		stage := rollout.Stage(rng.IntN(int(rollout.StageDone) + 1))
		since := time.Duration(1+rng.IntN(14*24)) * time.Hour
		ns := rollout.NamespaceStatus{
			Namespace:   fmt.Sprintf("team-%03d-svc", i),
			Stage:       stage,
			StageSince:  fixtureNow.Add(-since),
			Coverage:    0.9 + rng.Float64()/10,
			WouldDeny24: uint64(rng.IntN(100)),
			WouldDeny7d: uint64(rng.IntN(1000)),
			Gates:       standardGates(7*24*time.Hour, 72*time.Hour, 0.995)(since),
		}
		if stage < rollout.StageDone {
			next := stage + 1
			ns.NextStage = &next
			if rng.IntN(2) == 0 {
				eta := fixtureNow.Add(time.Duration(1+rng.IntN(100)) * time.Hour)
				ns.ETA = &eta
			}
		}
		for j := 0; j < 10; j++ {
			ns.TopDenied = append(ns.TopDenied, rollout.WouldDeny{
				Source: fmt.Sprintf("%s/client-%d", ns.Namespace, j), Destination: fmt.Sprintf("team-%03d-svc/server-%d", rng.IntN(nsCount), j),
				Port: "8080/TCP", Direction: "egress", Count: uint64(100 - j), LastSeen: fixtureNow.Add(-time.Duration(j) * time.Hour),
				Fix: "egress toEndpoints app=server, toPorts 8080/TCP",
			})
		}
		for s := rollout.StageObserve; s < stage; s++ {
			ns.History = append(ns.History, rollout.Transition{Time: fixtureNow.Add(-since - time.Duration(int(stage-s))*72*time.Hour), From: s, To: s + 1, Actor: actorEngine, Reason: "gates passed"})
		}
		for k := 0; k < 7*4; k++ {
			ns.Samples = append(ns.Samples, rollout.Sample{Time: fixtureNow.Add(-time.Duration(7*4-k) * samplePeriod), Coverage: 0.8 + float64(k)/140, WouldDeny: uint64(rng.IntN(50))})
		}
		for j := 0; j < perNS; j++ {
			ns.Workloads = append(ns.Workloads, rollout.WorkloadStatus{
				Name: fmt.Sprintf("workload-%02d", j), Stage: stage, StageSince: ns.StageSince, Coverage: ns.Coverage,
				Enforced:  rollout.DirectionEnforced{Ingress: stage >= rollout.StageEnforce, Egress: stage >= rollout.StageEnforce && j%2 == 0},
				WouldDeny: uint64(rng.IntN(10)), WouldDenyEgress: uint64(rng.IntN(10)),
			})
		}
		st.Namespaces = append(st.Namespaces, ns)
	}
	return st
}
