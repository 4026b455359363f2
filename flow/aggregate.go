package flow

import (
	"slices"
	"strings"
)

// Counts is what one observed record contributes to its edge. A Hubble
// export reports one packet several times (each trace point, each end of
// the connection); the reader decides which events start a connection and
// passes that here, so the aggregator itself never guesses.
type Counts struct {
	// Flows is the number of connections (or L7 requests) this record starts.
	Flows uint64
	// Egress and Ingress count connections first seen at that observation
	// point by this record.
	Egress, Ingress uint64
	// Verdict is added to the tally of the record's verdict.
	Verdict uint64
	// Requests is added to the record's HTTP method/path sample.
	Requests uint64
}

// CountsOf is the plain accounting for an already-deduplicated record (a
// node agent flow): Count flows (1 when zero), seen where Direction says.
func CountsOf(f *Flow) Counts {
	n := f.Count
	if n == 0 {
		n = 1
	}
	c := Counts{Flows: n, Verdict: n, Requests: n}
	switch f.Direction {
	case DirectionEgress:
		c.Egress = n
	case DirectionIngress:
		c.Ingress = n
	}
	return c
}

// Aggregator folds flows into edges. Memory grows with the number of
// distinct edges; per-edge samples are capped.
type Aggregator struct {
	edges   map[string]*Edge
	key     []byte // scratch for the edge key, so lookups do not allocate
	fast    map[fastKey]*Edge
	Replies uint64 // reply flows folded into their connection
	// SharedSlices promises that the Labels and Names slices of flows
	// passed in are never modified afterwards (hubble.Decoder shares them
	// between flows); it enables a lookup that skips building the key.
	SharedSlices bool
}

// fastKey finds the edge of a flow whose label and name slices are shared
// between flows (as decoders share them) without building and hashing the
// full key. It holds at least everything EdgeKey depends on, by slice
// identity, so two flows with one fastKey always have one EdgeKey; the map
// keeps the slices reachable, so their addresses cannot be reused.
type fastKey struct {
	src, dst fastEndpoint
	proto    Protocol
	port     uint16
}

type fastEndpoint struct {
	id     Identity
	ns     string
	labels *Label
	nl     int
	names  *string
	nn     int
}

func fastEndpointOf(e *Endpoint) fastEndpoint {
	fe := fastEndpoint{id: e.Identity, ns: e.Namespace, nl: len(e.Labels), nn: len(e.Names)}
	if len(e.Labels) > 0 {
		fe.labels = &e.Labels[0]
	}
	if len(e.Names) > 0 {
		fe.names = &e.Names[0]
	}
	return fe
}

const maxFastKeys = 1 << 16

// NewAggregator returns an empty aggregator.
func NewAggregator() *Aggregator { return &Aggregator{edges: map[string]*Edge{}} }

// Add folds one flow in. Replies are counted but make no edge: connection
// tracking allows them once the request was allowed.
func (a *Aggregator) Add(f *Flow) { a.Observe(f, CountsOf(f)) }

// Observe folds one flow in with explicit counts. A record with zero
// counts still creates its edge and adds its samples (pods, IPs, names,
// HTTP paths): it is evidence the connection shape exists.
func (a *Aggregator) Observe(f *Flow, c Counts) {
	if f.IsReply {
		a.Replies++
		return
	}
	e := a.edge(f)
	e.Flows += c.Flows
	e.ObservedEgress += c.Egress
	e.ObservedIngress += c.Ingress
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
	if f.Verdict != VerdictUnknown && c.Verdict > 0 {
		e.Verdicts.Add(f.Verdict, c.Verdict)
	}
	if f.HTTP != nil && f.HTTP.Method != "" {
		e.addHTTP(f.HTTP.Method, f.HTTP.Path, c.Requests)
	}
	if f.DNS != nil && !f.DNS.Response && f.DNS.Query != "" {
		e.DNSQueries = addCapped(e.DNSQueries, strings.TrimSuffix(f.DNS.Query, "."), MaxNamesPerEdge)
	}
}

func (a *Aggregator) edge(f *Flow) *Edge {
	var fk fastKey
	if a.SharedSlices {
		fk = fastKey{src: fastEndpointOf(&f.Source), dst: fastEndpointOf(&f.Destination), proto: f.Protocol, port: f.Port()}
		if e := a.fast[fk]; e != nil {
			return e
		}
	}
	a.key = AppendEdgeKey(a.key[:0], f)
	e := a.edges[string(a.key)]
	if e == nil {
		e = &Edge{
			Source:      stripInstance(f.Source),
			Destination: stripInstance(f.Destination),
			Protocol:    f.Protocol,
			Port:        f.Port(),
		}
		a.edges[string(a.key)] = e
	}
	if a.SharedSlices {
		if a.fast == nil || len(a.fast) >= maxFastKeys {
			a.fast = map[fastKey]*Edge{}
		}
		a.fast[fk] = e
	}
	return e
}

// Merge folds an already aggregated edge in (an Edge record from JSONL
// evidence), adding its counts and samples to the edge with the same key.
func (a *Aggregator) Merge(in *Edge) {
	reps := in.Representatives()
	f := reps[0]
	f.Destination.IP = ""
	e := a.edge(&f)
	e.Flows += in.Flows
	e.ObservedEgress += in.ObservedEgress
	e.ObservedIngress += in.ObservedIngress
	if !in.FirstSeen.IsZero() && (e.FirstSeen.IsZero() || in.FirstSeen.Before(e.FirstSeen)) {
		e.FirstSeen = in.FirstSeen
	}
	if in.LastSeen.After(e.LastSeen) {
		e.LastSeen = in.LastSeen
	}
	for _, p := range in.SourcePods {
		e.SourcePods = addCapped(e.SourcePods, p, MaxPodsPerEdge)
	}
	for _, p := range in.DestinationPods {
		e.DestinationPods = addCapped(e.DestinationPods, p, MaxPodsPerEdge)
	}
	for _, ip := range in.DestinationIPs {
		e.DestinationIPs = addCapped(e.DestinationIPs, ip, MaxIPsPerEdge)
	}
	for _, n := range in.DNSNames {
		e.DNSNames = addCapped(e.DNSNames, n, MaxNamesPerEdge)
	}
	for _, q := range in.DNSQueries {
		e.DNSQueries = addCapped(e.DNSQueries, q, MaxNamesPerEdge)
	}
	for v, n := range in.Verdicts.All() {
		e.Verdicts.Add(v, n)
	}
	for _, h := range in.HTTP {
		e.addHTTP(h.Method, h.Path, h.Count)
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
		c.SourcePods = slices.Clone(c.SourcePods)
		c.DestinationPods = slices.Clone(c.DestinationPods)
		c.DestinationIPs = slices.Clone(c.DestinationIPs)
		c.DNSNames = slices.Clone(c.DNSNames)
		c.DNSQueries = slices.Clone(c.DNSQueries)
		c.HTTP = slices.Clone(c.HTTP)
		slices.Sort(c.SourcePods)
		slices.Sort(c.DestinationPods)
		slices.Sort(c.DestinationIPs)
		slices.Sort(c.DNSNames)
		slices.Sort(c.DNSQueries)
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
