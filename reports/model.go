package reports

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/posture-dev/posture/rollout"
)

// APIVersion names the JSON report's schema; it changes only on a breaking
// change, so consumers can reject documents they do not understand.
const APIVersion = "posture.dev/report/v1"

// Kind is the JSON report's kind field.
const Kind = "RolloutReport"

// Options select what a report shows.
type Options struct {
	// Namespace limits the report to one namespace ("" = all).
	Namespace string
	// Workloads adds the per-workload breakdown of each namespace.
	Workloads bool
	// Brief keeps only the cluster summary and the namespace overview
	// (table and markdown).
	Brief bool
	// Width is the terminal width a table is fitted to (0 = unlimited).
	Width int
	// Color enables ANSI colour in tables; only set it on a terminal.
	Color bool
	// HistoryLimit caps the transitions listed per namespace in table and
	// markdown (0 = 10); JSON and HTML always carry the full history.
	HistoryLimit int
}

// Promotion states of a namespace's next step.
const (
	PromotionComplete = "complete" // at the last stage
	PromotionReady    = "ready"    // every gate passes now
	PromotionWaiting  = "waiting"  // gates pass if they keep passing until the ETA
	PromotionBlocked  = "blocked"  // a gate fails that time alone will not fix
)

// Report is the rendered-format-independent view of a rollout.Status; the
// JSON format is this struct, described by schema/report.v1.json.
type Report struct {
	APIVersion  string            `json:"apiVersion"`
	Kind        string            `json:"kind"`
	GeneratedAt time.Time         `json:"generatedAt"`
	Summary     Summary           `json:"summary"`
	Namespaces  []NamespaceReport `json:"namespaces"`

	opts Options
}

// Summary is the cluster-wide picture.
type Summary struct {
	Namespaces         int            `json:"namespaces"`
	NamespacesPerStage []StageCount   `json:"namespacesPerStage"`
	Workloads          int            `json:"workloads"`
	WorkloadsEnforced  DirectionCount `json:"workloadsEnforced"`
	EnforcedRatio      DirectionRatio `json:"enforcedRatio"`
	WouldDeny24h       uint64         `json:"wouldDeny24h"`
	WouldDeny7d        uint64         `json:"wouldDeny7d"`
	Ready              int            `json:"ready"`
	Waiting            int            `json:"waiting"`
	Blocked            int            `json:"blocked"`
	Complete           int            `json:"complete"`
}

// StageCount is how many namespaces are at one stage.
type StageCount struct {
	Stage string `json:"stage"`
	Count int    `json:"count"`
}

// DirectionCount counts workloads per traffic direction.
type DirectionCount struct {
	Ingress int `json:"ingress"`
	Egress  int `json:"egress"`
}

// DirectionRatio is a share (0..1) per traffic direction.
type DirectionRatio struct {
	Ingress float64 `json:"ingress"`
	Egress  float64 `json:"egress"`
}

// NamespaceReport is one namespace's section.
type NamespaceReport struct {
	Namespace          string           `json:"namespace"`
	Stage              string           `json:"stage"`
	StageSince         time.Time        `json:"stageSince"`
	TimeInStageSeconds int64            `json:"timeInStageSeconds"`
	Coverage           float64          `json:"coverage"`
	Gates              []Gate           `json:"gates"`
	GatesPassing       int              `json:"gatesPassing"`
	WouldDeny          WouldDenyReport  `json:"wouldDeny"`
	Next               Promotion        `json:"nextPromotion"`
	Workloads          []WorkloadReport `json:"workloads,omitempty"`
	WorkloadCount      int              `json:"workloadCount"`
	EnforcedIngress    int              `json:"workloadsEnforcedIngress"`
	EnforcedEgress     int              `json:"workloadsEnforcedEgress"`
	History            []Transition     `json:"history"`
	Samples            []Sample         `json:"samples"`
}

// WouldDenyReport is what the to-be-enforced set would break.
type WouldDenyReport struct {
	Last24h uint64 `json:"last24h"`
	Last7d  uint64 `json:"last7d"`
	Top     []Edge `json:"top"`
}

// Promotion says what happens next to a namespace.
type Promotion struct {
	State     string     `json:"state"`
	Stage     string     `json:"stage,omitempty"`
	ETA       *time.Time `json:"eta,omitempty"`
	InSeconds *int64     `json:"inSeconds,omitempty"`
	Blockers  []string   `json:"blockers"`
}

// WorkloadReport is one workload's row.
type WorkloadReport struct {
	Name               string    `json:"name"`
	Stage              string    `json:"stage"`
	StageSince         time.Time `json:"stageSince"`
	TimeInStageSeconds int64     `json:"timeInStageSeconds"`
	EnforcedIngress    bool      `json:"enforcedIngress"`
	EnforcedEgress     bool      `json:"enforcedEgress"`
	Coverage           float64   `json:"coverage"`
	WouldDeny          uint64    `json:"wouldDeny"`
}

// Build turns a status into a report. It never modifies st. An unknown
// namespace in opts is an error so a typo does not print an empty report.
func Build(st *rollout.Status, opts Options) (*Report, error) {
	if st == nil {
		return nil, fmt.Errorf("building report: no rollout status")
	}
	if opts.HistoryLimit == 0 {
		opts.HistoryLimit = 10
	}
	now := st.GeneratedAt
	r := &Report{
		APIVersion:  APIVersion,
		Kind:        Kind,
		GeneratedAt: now.UTC(),
		opts:        opts,
		Namespaces:  make([]NamespaceReport, 0, len(st.Namespaces)),
	}
	perStage := make([]int, int(rollout.StageDone)+1)
	var workloads, ing, eg int
	for i := range st.Namespaces {
		ns := &st.Namespaces[i]
		if opts.Namespace != "" && ns.Namespace != opts.Namespace {
			continue
		}
		nr := buildNamespace(ns, now, opts)
		if s := int(ns.Stage); s >= 0 && s < len(perStage) {
			perStage[s]++
		}
		workloads += nr.WorkloadCount
		ing += nr.EnforcedIngress
		eg += nr.EnforcedEgress
		r.Summary.WouldDeny24h += ns.WouldDeny24
		r.Summary.WouldDeny7d += ns.WouldDeny7d
		switch nr.Next.State {
		case PromotionReady:
			r.Summary.Ready++
		case PromotionWaiting:
			r.Summary.Waiting++
		case PromotionBlocked:
			r.Summary.Blocked++
		case PromotionComplete:
			r.Summary.Complete++
		}
		r.Namespaces = append(r.Namespaces, nr)
	}
	if opts.Namespace != "" && len(r.Namespaces) == 0 {
		return nil, fmt.Errorf("namespace %q is not in the rollout status (%d namespaces known)", opts.Namespace, len(st.Namespaces))
	}
	// Furthest along last would bury the namespaces that need attention;
	// sort by name so the same cluster always reads the same way.
	slices.SortStableFunc(r.Namespaces, func(a, b NamespaceReport) int { return strings.Compare(a.Namespace, b.Namespace) })
	r.Summary.Namespaces = len(r.Namespaces)
	for s, n := range perStage {
		r.Summary.NamespacesPerStage = append(r.Summary.NamespacesPerStage, StageCount{Stage: rollout.Stage(s).String(), Count: n})
	}
	r.Summary.Workloads = workloads
	r.Summary.WorkloadsEnforced = DirectionCount{Ingress: ing, Egress: eg}
	if workloads > 0 {
		r.Summary.EnforcedRatio = DirectionRatio{Ingress: float64(ing) / float64(workloads), Egress: float64(eg) / float64(workloads)}
	}
	return r, nil
}

func buildNamespace(ns *rollout.NamespaceStatus, now time.Time, opts Options) NamespaceReport {
	nr := NamespaceReport{
		Namespace:          ns.Namespace,
		Stage:              ns.Stage.String(),
		StageSince:         ns.StageSince.UTC(),
		TimeInStageSeconds: seconds(now.Sub(ns.StageSince)),
		Coverage:           ratio(ns.Coverage),
		Gates:              gates(ns.Gates),
		WouldDeny:          WouldDenyReport{Last24h: ns.WouldDeny24, Last7d: ns.WouldDeny7d, Top: edges(ns.TopDenied)},
		History:            history(ns.History),
		Samples:            samples(ns.Samples),
		WorkloadCount:      len(ns.Workloads),
	}
	for _, g := range ns.Gates {
		if g.Passing {
			nr.GatesPassing++
		}
	}
	for _, w := range ns.Workloads {
		if w.Enforced.Ingress {
			nr.EnforcedIngress++
		}
		if w.Enforced.Egress {
			nr.EnforcedEgress++
		}
		if opts.Workloads {
			nr.Workloads = append(nr.Workloads, WorkloadReport{
				Name:               w.Name,
				Stage:              w.Stage.String(),
				StageSince:         w.StageSince.UTC(),
				TimeInStageSeconds: seconds(now.Sub(w.StageSince)),
				EnforcedIngress:    w.Enforced.Ingress,
				EnforcedEgress:     w.Enforced.Egress,
				Coverage:           ratio(w.Coverage),
				WouldDeny:          w.WouldDeny,
			})
		}
	}
	nr.Next = promotion(ns, now)
	return nr
}

func promotion(ns *rollout.NamespaceStatus, now time.Time) Promotion {
	p := Promotion{Blockers: nonNil(ns.Blockers)}
	if ns.NextStage == nil || ns.Stage >= rollout.StageDone {
		p.State = PromotionComplete
		return p
	}
	p.Stage = ns.NextStage.String()
	failing := false
	for _, g := range ns.Gates {
		failing = failing || !g.Passing
	}
	switch {
	case ns.ETA != nil && ns.ETA.After(now):
		eta := ns.ETA.UTC()
		in := seconds(eta.Sub(now))
		p.ETA, p.InSeconds = &eta, &in
		p.State = PromotionWaiting
	case ns.ETA != nil || (!failing && len(ns.Blockers) == 0):
		if ns.ETA != nil {
			eta := ns.ETA.UTC()
			var zero int64
			p.ETA, p.InSeconds = &eta, &zero
		}
		p.State = PromotionReady
	default:
		p.State = PromotionBlocked
	}
	return p
}

func seconds(d time.Duration) int64 {
	if d < 0 {
		return 0
	}
	return int64(d / time.Second)
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// The report has its own types for what it copies from the status, so
// its JSON schema changes only when the report's version does, not when
// the rollout engine adds a field.

// Gate is one promotion gate's verdict.
type Gate struct {
	Name      string  `json:"name"`
	Passing   bool    `json:"passing"`
	Value     string  `json:"value"`
	Threshold string  `json:"threshold"`
	Detail    string  `json:"detail,omitempty"`
	Numeric   float64 `json:"numeric"`
}

// Edge is an observed edge the to-be-enforced set would deny, with the
// rule change that would cover it.
type Edge struct {
	Source      string    `json:"source"`
	Destination string    `json:"destination"`
	Port        string    `json:"port"`
	Direction   string    `json:"direction"`
	Workload    string    `json:"workload,omitempty"`
	Count       uint64    `json:"count"`
	LastSeen    time.Time `json:"lastSeen"`
	Fix         string    `json:"fix,omitempty"`
}

// Transition is one recorded stage change.
type Transition struct {
	Time     time.Time `json:"time"`
	From     string    `json:"from"`
	To       string    `json:"to"`
	Workload string    `json:"workload,omitempty"`
	Actor    string    `json:"actor"`
	Reason   string    `json:"reason"`
	Forced   bool      `json:"forced,omitempty"`
}

// Sample is a point of a namespace's history.
type Sample struct {
	Time      time.Time `json:"time"`
	Coverage  float64   `json:"coverage"`
	WouldDeny uint64    `json:"wouldDeny"`
}

// gates copies the gates, zeroing non-finite numbers: JSON has no NaN,
// and one bad gate must not lose the whole report.
func gates(in []rollout.GateResult) []Gate {
	out := make([]Gate, len(in))
	for i, g := range in {
		n := g.Numeric
		if math.IsNaN(n) || math.IsInf(n, 0) {
			n = 0
		}
		out[i] = Gate{Name: g.Name, Passing: g.Passing, Value: g.Value, Threshold: g.Threshold, Detail: g.Detail, Numeric: n}
	}
	return out
}

func edges(in []rollout.WouldDeny) []Edge {
	out := make([]Edge, len(in))
	for i, d := range in {
		out[i] = Edge{Source: d.Source, Destination: d.Destination, Port: d.Port, Direction: d.Direction, Workload: d.Workload,
			Count: d.Count, LastSeen: d.LastSeen.UTC(), Fix: d.Fix}
	}
	return out
}

func history(in []rollout.Transition) []Transition {
	out := make([]Transition, len(in))
	for i, t := range in {
		out[i] = Transition{Time: t.Time.UTC(), From: t.From.String(), To: t.To.String(), Workload: t.Workload, Actor: t.Actor, Reason: t.Reason, Forced: t.Forced}
	}
	return out
}

// samples copies the samples, keeping coverage inside 0..1.
func samples(in []rollout.Sample) []Sample {
	out := make([]Sample, len(in))
	for i, x := range in {
		out[i] = Sample{Time: x.Time.UTC(), Coverage: ratio(x.Coverage), WouldDeny: x.WouldDeny}
	}
	return out
}
