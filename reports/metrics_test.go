package reports

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/posture-dev/posture/rollout"
)

func smallStatus() *rollout.Status {
	now := time.Unix(1_800_000_000, 0).UTC()
	next := rollout.StageEnforce
	eta := now.Add(2 * time.Hour)
	return &rollout.Status{GeneratedAt: now, Namespaces: []rollout.NamespaceStatus{{
		Namespace: "shop", Stage: rollout.StageNarrow, StageSince: now.Add(-time.Hour), Coverage: 0.75, NextStage: &next, ETA: &eta,
		Gates: []rollout.GateResult{{Name: "coverage", Passing: false}, {Name: "observation-window", Passing: true}},
		Workloads: []rollout.WorkloadStatus{
			{Name: "api", Enforced: rollout.DirectionEnforced{Ingress: true}, WouldDeny: 7, WouldDenyIngress: 3, WouldDenyEgress: 4},
			{Name: "cron", WouldDeny: 5, WouldDenyEgress: 2},
		},
	}}}
}

func TestCollectorMetrics(t *testing.T) {
	c := NewCollector(func() (*rollout.Status, error) { return smallStatus(), nil })
	want := `
# HELP posture_gate_passing 1 when the promotion gate passes for the namespace, else 0.
# TYPE posture_gate_passing gauge
posture_gate_passing{gate="coverage",namespace="shop"} 0
posture_gate_passing{gate="observation-window",namespace="shop"} 1
# HELP posture_policy_coverage_ratio Share of the namespace's observed flows that the to-be-enforced policy set allows (0..1).
# TYPE posture_policy_coverage_ratio gauge
posture_policy_coverage_ratio{namespace="shop"} 0.75
# HELP posture_rollout_next_promotion_timestamp_seconds Unix time at which the namespace can be promoted if its gates keep passing (absent when blocked or complete).
# TYPE posture_rollout_next_promotion_timestamp_seconds gauge
posture_rollout_next_promotion_timestamp_seconds{namespace="shop"} 1.8000072e+09
# HELP posture_rollout_stage Rollout stage of the namespace, in checklist order: 0 observe, 1 baseline, 2 platform, 3 narrow, 4 enforce, 5 l7, 6 done.
# TYPE posture_rollout_stage gauge
posture_rollout_stage{namespace="shop"} 3
# HELP posture_would_deny_flows_total Observed flows the to-be-enforced policy set would deny, by workload and by the direction whose policy denies them.
# TYPE posture_would_deny_flows_total counter
posture_would_deny_flows_total{direction="egress",namespace="shop",workload="api"} 4
posture_would_deny_flows_total{direction="egress",namespace="shop",workload="cron"} 2
posture_would_deny_flows_total{direction="ingress",namespace="shop",workload="api"} 3
posture_would_deny_flows_total{direction="ingress",namespace="shop",workload="cron"} 0
posture_would_deny_flows_total{direction="unknown",namespace="shop",workload="cron"} 3
# HELP posture_workloads_enforced Workloads of the namespace with default deny enforced, by direction.
# TYPE posture_workloads_enforced gauge
posture_workloads_enforced{direction="egress",namespace="shop"} 0
posture_workloads_enforced{direction="ingress",namespace="shop"} 1
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want),
		MetricGatePassing, MetricCoverage, MetricNextPromotion, MetricStage, MetricWouldDeny, MetricEnforced); err != nil {
		t.Error(err)
	}
}

func TestCollectorLint(t *testing.T) {
	for name, st := range map[string]*rollout.Status{"fixture": fixtureStatus(), "hostile": hostileStatus(), "small": smallStatus()} {
		c := NewCollector(func() (*rollout.Status, error) { return st, nil })
		problems, err := testutil.CollectAndLint(c)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, p := range problems {
			t.Errorf("%s: metric %s: %s", name, p.Metric, p.Text)
		}
		// Registering checks descriptors and labels against what Collect
		// sends; gathering fails on duplicate or inconsistent series.
		reg := prometheus.NewPedanticRegistry()
		if err := reg.Register(c); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := reg.Gather(); err != nil {
			t.Errorf("%s: gathering: %v", name, err)
		}
	}
}

func TestCollectorCounts(t *testing.T) {
	st := fixtureStatus()
	c := NewCollector(func() (*rollout.Status, error) { return st, nil })
	workloads := 0
	for _, ns := range st.Namespaces {
		workloads += len(ns.Workloads)
	}
	if n := testutil.CollectAndCount(c, MetricStage); n != len(st.Namespaces) {
		t.Errorf("%d stage series, want %d", n, len(st.Namespaces))
	}
	if n := testutil.CollectAndCount(c, MetricWouldDeny); n != 2*workloads {
		t.Errorf("%d would-deny series, want %d (two directions per workload)", n, 2*workloads)
	}
}

func TestCollectorSourceError(t *testing.T) {
	c := NewCollector(func() (*rollout.Status, error) { return nil, errors.New("apiserver unreachable") })
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	if _, err := reg.Gather(); err == nil || !strings.Contains(err.Error(), "apiserver unreachable") {
		t.Errorf("gather error = %v, want the source's error", err)
	}
}
