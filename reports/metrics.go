package reports

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/posture-dev/posture/rollout"
)

// Metric names, exported so dashboards and tests name them once.
const (
	MetricStage           = "posture_rollout_stage"
	MetricStageSince      = "posture_rollout_stage_since_timestamp_seconds"
	MetricNextPromotion   = "posture_rollout_next_promotion_timestamp_seconds"
	MetricBlocked         = "posture_rollout_blocked"
	MetricGatePassing     = "posture_gate_passing"
	MetricWouldDeny       = "posture_would_deny_flows_total"
	MetricCoverage        = "posture_policy_coverage_ratio"
	MetricWorkloads       = "posture_workloads"
	MetricEnforced        = "posture_workloads_enforced"
	MetricStatusGenerated = "posture_rollout_status_timestamp_seconds"
)

// Collector exports a rollout status as Prometheus metrics. It asks its
// source for the status at every scrape, so the process that owns the
// rollout state registers it once:
//
//	prometheus.MustRegister(reports.NewCollector(engine.Status))
type Collector struct {
	source func() (*rollout.Status, error)

	stage, since, next, blocked, gate, wouldDeny, coverage, workloads, enforced, generated *prometheus.Desc
}

// NewCollector returns a collector over the status source gives.
func NewCollector(source func() (*rollout.Status, error)) *Collector {
	ns := []string{"namespace"}
	return &Collector{
		source: source,
		stage: prometheus.NewDesc(MetricStage,
			"Rollout stage of the namespace, in checklist order: 0 observe, 1 baseline, 2 platform, 3 narrow, 4 enforce, 5 l7, 6 done.", ns, nil),
		since: prometheus.NewDesc(MetricStageSince,
			"Unix time at which the namespace entered its current rollout stage.", ns, nil),
		next: prometheus.NewDesc(MetricNextPromotion,
			"Unix time at which the namespace can be promoted if its gates keep passing (absent when blocked or complete).", ns, nil),
		blocked: prometheus.NewDesc(MetricBlocked,
			"1 when a failing gate that time alone will not fix holds the namespace at its stage, else 0.", ns, nil),
		gate: prometheus.NewDesc(MetricGatePassing,
			"1 when the promotion gate passes for the namespace, else 0.", []string{"namespace", "gate"}, nil),
		wouldDeny: prometheus.NewDesc(MetricWouldDeny,
			"Observed flows the to-be-enforced policy set would deny, by workload and by the direction whose policy denies them.",
			[]string{"namespace", "workload", "direction"}, nil),
		coverage: prometheus.NewDesc(MetricCoverage,
			"Share of the namespace's observed flows that the to-be-enforced policy set allows (0..1).", ns, nil),
		workloads: prometheus.NewDesc(MetricWorkloads,
			"Workloads of the namespace under rollout.", ns, nil),
		enforced: prometheus.NewDesc(MetricEnforced,
			"Workloads of the namespace with default deny enforced, by direction.", []string{"namespace", "direction"}, nil),
		generated: prometheus.NewDesc(MetricStatusGenerated,
			"Unix time at which the rollout status was computed.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs() {
		ch <- d
	}
}

func (c *Collector) descs() []*prometheus.Desc {
	return []*prometheus.Desc{c.stage, c.since, c.next, c.blocked, c.gate, c.wouldDeny, c.coverage, c.workloads, c.enforced, c.generated}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	st, err := c.source()
	if err == nil && st == nil {
		err = fmt.Errorf("no rollout status")
	}
	if err != nil {
		// The scrape fails visibly rather than reporting stale or empty
		// numbers as if they were true.
		ch <- prometheus.NewInvalidMetric(c.stage, fmt.Errorf("reading rollout status: %w", err))
		return
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	gauge(c.generated, unix(st.GeneratedAt.Unix()))
	nsSeen := make(map[string]bool, len(st.Namespaces))
	for i := range st.Namespaces {
		ns := &st.Namespaces[i]
		name := ns.Namespace
		if nsSeen[name] {
			continue
		}
		nsSeen[name] = true
		gauge(c.stage, float64(ns.Stage), name)
		gauge(c.since, unix(ns.StageSince.Unix()), name)
		gauge(c.coverage, ratio(ns.Coverage), name)
		p := promotion(ns, st.GeneratedAt)
		if p.ETA != nil {
			gauge(c.next, unix(p.ETA.Unix()), name)
		}
		gauge(c.blocked, boolValue(p.State == PromotionBlocked), name)
		seen := make(map[string]bool, len(ns.Gates))
		for _, g := range ns.Gates {
			if seen[g.Name] { // a duplicate series would fail the whole scrape
				continue
			}
			seen[g.Name] = true
			gauge(c.gate, boolValue(g.Passing), name, g.Name)
		}
		var ing, eg int
		wl := make(map[string]bool, len(ns.Workloads))
		for _, w := range ns.Workloads {
			if w.Enforced.Ingress {
				ing++
			}
			if w.Enforced.Egress {
				eg++
			}
			if wl[w.Name] {
				continue
			}
			wl[w.Name] = true
			counter := func(v uint64, dir string) {
				ch <- prometheus.MustNewConstMetric(c.wouldDeny, prometheus.CounterValue, float64(v), name, w.Name, dir)
			}
			counter(w.WouldDenyIngress, "ingress")
			counter(w.WouldDenyEgress, "egress")
			// A status that only has the total still counts: the part no
			// direction accounts for is reported as such, not dropped.
			if split := w.WouldDenyIngress + w.WouldDenyEgress; w.WouldDeny > split {
				counter(w.WouldDeny-split, "unknown")
			}
		}
		gauge(c.workloads, float64(len(ns.Workloads)), name)
		gauge(c.enforced, float64(ing), name, "ingress")
		gauge(c.enforced, float64(eg), name, "egress")
	}
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func unix(s int64) float64 { return float64(s) }
