package flow

import (
	"slices"
)

// Aggregator folds flows into edges. Memory grows with the number of
// distinct edges; per-edge samples are capped.
type Aggregator struct {
	edges   map[string]*Edge
	Replies uint64 // reply flows folded into their connection
}

// NewAggregator returns an empty aggregator.
func NewAggregator() *Aggregator { return &Aggregator{edges: map[string]*Edge{}} }

// Add folds one flow in. Replies are counted but make no edge: connection
// tracking allows them once the request was allowed.
func (a *Aggregator) Add(f *Flow) {
	if f.IsReply {
		a.Replies++
		return
	}
	n := f.Count
	if n == 0 {
		n = 1
	}
	k := EdgeKey(f)
	e := a.edges[k]
	if e == nil {
		e = &Edge{
			Source:      stripInstance(f.Source),
			Destination: stripInstance(f.Destination),
			Protocol:    f.Protocol,
			Port:        f.Port(),
			FirstSeen:   f.Time,
			LastSeen:    f.Time,
		}
		a.edges[k] = e
	}
	e.Flows += n
	if !f.Time.IsZero() {
		if e.FirstSeen.IsZero() || f.Time.Before(e.FirstSeen) {
			e.FirstSeen = f.Time
		}
		if f.Time.After(e.LastSeen) {
			e.LastSeen = f.Time
		}
	}
	if f.Source.Pod != "" {
		e.SourcePods = addCapped(e.SourcePods, f.Source.Pod, MaxPodsPerEdge)
	}
	if f.Destination.Pod != "" {
		e.DestinationPods = addCapped(e.DestinationPods, f.Destination.Pod, MaxPodsPerEdge)
	}
	if !f.Destination.IsPod() && f.Destination.IP != "" {
		e.DestinationIPs = addCapped(e.DestinationIPs, f.Destination.IP, MaxIPsPerEdge)
	}
	for _, name := range f.Destination.Names {
		e.DNSNames = addCapped(e.DNSNames, name, MaxNamesPerEdge)
	}
	if f.Verdict != VerdictUnknown {
		if e.Verdicts == nil {
			e.Verdicts = map[Verdict]uint64{}
		}
		e.Verdicts[f.Verdict] += n
	}
	switch f.Direction {
	case DirectionEgress:
		e.ObservedEgress += n
	case DirectionIngress:
		e.ObservedIngress += n
	}
	if f.HTTP != nil && f.HTTP.Method != "" {
		e.addHTTP(f.HTTP.Method, f.HTTP.Path, n)
	}
}

func (e *Edge) addHTTP(method, path string, n uint64) {
	for i := range e.HTTP {
		if e.HTTP[i].Method == method && e.HTTP[i].Path == path {
			e.HTTP[i].Count += n
			return
		}
	}
	if len(e.HTTP) < MaxHTTPPerEdge {
		e.HTTP = append(e.HTTP, HTTPSample{Method: method, Path: path, Count: n})
	}
}

// Len is the number of distinct edges so far.
func (a *Aggregator) Len() int { return len(a.edges) }

// Edges returns the edges, sorted, with their samples sorted.
func (a *Aggregator) Edges() []Edge {
	out := make([]Edge, 0, len(a.edges))
	for _, e := range a.edges {
		c := *e
		slices.Sort(c.SourcePods)
		slices.Sort(c.DestinationPods)
		slices.Sort(c.DestinationIPs)
		slices.Sort(c.DNSNames)
		slices.SortFunc(c.HTTP, func(x, y HTTPSample) int {
			if x.Method != y.Method {
				if x.Method < y.Method {
					return -1
				}
				return 1
			}
			if x.Path < y.Path {
				return -1
			} else if x.Path > y.Path {
				return 1
			}
			return 0
		})
		out = append(out, c)
	}
	SortEdges(out)
	return out
}

// stripInstance keeps what identifies the workload, not the instance.
func stripInstance(e Endpoint) Endpoint {
	e.Pod, e.IP, e.Names = "", "", nil
	return e
}

func addCapped(s []string, v string, max int) []string {
	if slices.Contains(s, v) || len(s) >= max {
		return s
	}
	return append(s, v)
}
