package recorder

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the agent's Prometheus metrics, on their own registry so
// tests can read them and several recorders can coexist.
type Metrics struct {
	Registry       *prometheus.Registry
	FlowsObserved  *prometheus.CounterVec
	Verdicts       *prometheus.CounterVec
	DNSAnswers     *prometheus.CounterVec
	RingLost       *prometheus.GaugeVec
	Datapath       *prometheus.GaugeVec
	FlowMapEntries prometheus.Gauge
	FlowMapSize    prometheus.Gauge
	Endpoints      prometheus.Gauge
	ShadowEntries  prometheus.Gauge
	PolicyReloads  *prometheus.CounterVec
	Exports        *prometheus.CounterVec
	Reclaimed      prometheus.Counter
}

// NewMetrics creates and registers the metrics.
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		FlowsObserved: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "posture_agent_flows_observed_total",
			Help: "New flows observed at pod interfaces, by pod-relative direction.",
		}, []string{"direction"}),
		Verdicts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "posture_agent_verdicts_total",
			Help: "Shadow verdicts of new flows under the staged set as if enforced (allowed, audit = would be denied, not_selected), by the enforcing pod's namespace and direction.",
		}, []string{"namespace", "direction", "verdict"}),
		DNSAnswers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "posture_agent_dns_answers_total",
			Help: "DNS answers delivered to pods, parsed or rejected (with the reason).",
		}, []string{"result"}),
		RingLost: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "posture_agent_ringbuf_lost_events",
			Help: "Ring-buffer records the datapath could not reserve (the flow map still has the flows; DNS answers are lost).",
		}, []string{"ring"}),
		Datapath: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "posture_agent_datapath_counter",
			Help: "The datapath's own counters (packets, new flows, truncated, non-IP, fragments, ...) since the maps were created.",
		}, []string{"counter"}),
		FlowMapEntries: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "posture_agent_flow_map_entries",
			Help: "Entries in the kernel flow map at the last scan.",
		}),
		FlowMapSize: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "posture_agent_flow_map_capacity",
			Help: "Capacity of the kernel flow maps, IPv4 and IPv6 together (LRU: the oldest flows are evicted beyond it).",
		}),
		Endpoints: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "posture_agent_endpoints",
			Help: "Pod endpoints attached on this node.",
		}),
		ShadowEntries: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "posture_agent_shadow_policy_entries",
			Help: "Entries in the kernel shadow-policy map.",
		}),
		PolicyReloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "posture_agent_policy_reloads_total",
			Help: "Staged policy set reloads, by result.",
		}, []string{"result"}),
		Exports: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "posture_agent_exports_total",
			Help: "Edge exports, by result.",
		}, []string{"result"}),
		Reclaimed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "posture_agent_flow_table_reclaimed_total",
			Help: "Flows the kernel flow table let go of, least recently seen first, after an export had them, to make room.",
		}),
	}
	m.Registry.MustRegister(m.FlowsObserved, m.Verdicts, m.DNSAnswers, m.RingLost, m.Datapath,
		m.FlowMapEntries, m.FlowMapSize, m.Endpoints, m.ShadowEntries, m.PolicyReloads, m.Exports, m.Reclaimed)
	return m
}
