package rollout

import (
	"context"
	"slices"
	"time"

	"github.com/posture-dev/posture/flow"
)

// Evidence supplies observed edges per namespace. A --flows file is one
// implementation (EdgeEvidence); the advisor service can be another.
type Evidence interface {
	Edges(ctx context.Context, namespace string) ([]flow.Edge, error)
}

// EdgeEvidence is evidence held in memory, indexed by namespace.
type EdgeEvidence struct {
	byNS map[string][]flow.Edge
}

// NewEdgeEvidence indexes edges by the namespace of each pod end.
func NewEdgeEvidence(edges []flow.Edge) *EdgeEvidence {
	ev := &EdgeEvidence{byNS: map[string][]flow.Edge{}}
	for _, e := range edges {
		src, dst := "", ""
		if e.Source.IsPod() {
			src = e.Source.Namespace
		}
		if e.Destination.IsPod() {
			dst = e.Destination.Namespace
		}
		if src != "" {
			ev.byNS[src] = append(ev.byNS[src], e)
		}
		if dst != "" && dst != src {
			ev.byNS[dst] = append(ev.byNS[dst], e)
		}
	}
	return ev
}

// Edges returns the edges with a pod end in namespace.
func (ev *EdgeEvidence) Edges(_ context.Context, namespace string) ([]flow.Edge, error) {
	if ev == nil {
		return nil, nil
	}
	return ev.byNS[namespace], nil
}

// Namespaces lists the namespaces with evidence.
func (ev *EdgeEvidence) Namespaces() []string {
	var out []string
	for ns := range ev.byNS {
		out = append(out, ns)
	}
	slices.Sort(out)
	return out
}

// CronJob is what the gates need to know about a CronJob.
type CronJob struct {
	Name         string
	Suspended    bool
	LastSchedule *time.Time
}
