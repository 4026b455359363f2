package flow

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Caps on per-edge samples keep memory bounded by the number of edges, not
// by the number of flows.
const (
	MaxPodsPerEdge  = 16
	MaxIPsPerEdge   = 256
	MaxNamesPerEdge = 64
	MaxHTTPPerEdge  = 64
)

// Edge aggregates the flows of one connection shape: a source workload
// identity talking to a destination identity (workload, entity, CIDR or DNS
// name) on one protocol and port. A connection seen at both ends (egress at
// the client, ingress at the server) is one edge; ObservedEgress and
// ObservedIngress say where it was seen. Replies never make an edge.
type Edge struct {
	Source      Endpoint `json:"source"`
	Destination Endpoint `json:"destination"`
	Protocol    Protocol `json:"protocol"`
	// Port is the destination port, or the ICMP type for ICMP.
	Port            uint16        `json:"port"`
	Flows           uint64        `json:"flows"`
	FirstSeen       time.Time     `json:"firstSeen,omitzero"`
	LastSeen        time.Time     `json:"lastSeen,omitzero"`
	SourcePods      []string      `json:"sourcePods,omitempty"`
	DestinationPods []string      `json:"destinationPods,omitempty"`
	DestinationIPs  []string      `json:"destinationIPs,omitempty"`
	Verdicts        VerdictCounts `json:"verdicts,omitzero"`
	ObservedEgress  uint64        `json:"observedEgress,omitempty"`
	ObservedIngress uint64        `json:"observedIngress,omitempty"`
	DNSNames        []string      `json:"dnsNames,omitempty"`
	// DNSQueries are names asked of this destination (a DNS server), for
	// DNS L7 rules; capped like DNSNames.
	DNSQueries []string     `json:"dnsQueries,omitempty"`
	HTTP       []HTTPSample `json:"http,omitempty"`
}

// HTTPSample counts requests with one method and path.
type HTTPSample struct {
	Method string `json:"method"`
	Path   string `json:"path"`
	Count  uint64 `json:"count"`
}

// EdgeKey identifies the edge a (non-reply) flow belongs to. Pod names,
// IPs and ports on the client side are deliberately not part of it.
func EdgeKey(f *Flow) string { return string(AppendEdgeKey(nil, f)) }

// AppendEdgeKey appends EdgeKey(f) to dst; with a reused buffer it does not
// allocate, which matters at hundreds of thousands of flows per second.
func AppendEdgeKey(dst []byte, f *Flow) []byte {
	dst = appendEndpointKey(dst, &f.Source)
	dst = append(dst, '|')
	dst = appendEndpointKey(dst, &f.Destination)
	dst = append(dst, '|')
	dst = append(dst, f.Protocol...)
	dst = append(dst, '|')
	return strconv.AppendUint(dst, uint64(f.Port()), 10)
}

func appendEndpointKey(dst []byte, e *Endpoint) []byte {
	switch {
	case e.IsPod():
		dst = append(dst, e.Namespace...)
		dst = append(dst, '/')
		for i, l := range e.Labels {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendLabel(dst, l)
		}
	case e.Identity.IsWorld() || e.Identity == IdentityUnknown || e.Identity >= IdentityMinLocal:
		// Outside the cluster: one edge per DNS name when known, so FQDN
		// rules can be proposed; otherwise one per identity. The smallest
		// name stands for the set, so the key survives a round trip
		// through an Edge record (whose names are sorted).
		dst = append(dst, "world:"...)
		switch cidr := narrowestCIDR(e.Labels); {
		case len(e.Names) > 0:
			dst = append(dst, slices.Min(e.Names)...)
		case cidr != "":
			// Local CIDR identities are numbered per node; the prefix is
			// what a policy names.
			dst = append(dst, "cidr:"...)
			dst = append(dst, cidr...)
		default:
			dst = strconv.AppendUint(dst, uint64(e.Identity), 10)
		}
	default:
		dst = append(dst, "reserved:"...)
		dst = append(dst, e.Identity.ReservedName()...)
	}
	return dst
}

// narrowestCIDR returns the longest-prefix cidr: label (Cilium labels a
// CIDR identity with its prefix, and older versions with every shorter
// prefix too), or "".
func narrowestCIDR(ls Labels) string {
	best, bits := "", -1
	for _, l := range ls {
		if l.Source != SourceCIDR {
			continue
		}
		_, n, ok := strings.Cut(l.Key, "/")
		b, err := strconv.Atoi(n)
		if !ok || err != nil {
			continue
		}
		if b > bits {
			best, bits = l.Key, b
		}
	}
	return best
}

// appendLabel appends l as Label.String renders it.
func appendLabel(dst []byte, l Label) []byte {
	dst = append(dst, l.Source...)
	dst = append(dst, ':')
	dst = append(dst, l.Key...)
	if l.Value != "" || l.Source != SourceReserved {
		dst = append(dst, '=')
		dst = append(dst, l.Value...)
	}
	return dst
}

// Representatives returns one flow per known destination IP (or a single
// flow without one), as the evaluator needs them to answer for this edge.
func (e *Edge) Representatives() []Flow {
	return e.AppendRepresentatives(make([]Flow, 0, max(1, len(e.DestinationIPs))))
}

// AppendRepresentatives appends Representatives to dst, for callers that
// reuse one buffer across many edges.
func (e *Edge) AppendRepresentatives(dst []Flow) []Flow {
	base := Flow{
		Time:        e.LastSeen,
		Source:      e.Source,
		Destination: e.Destination,
		Protocol:    e.Protocol,
		DstPort:     e.Port,
		Count:       e.Flows,
	}
	if e.Protocol == ProtoICMP || e.Protocol == ProtoICMPv6 {
		base.DstPort, base.ICMPType = 0, uint8(e.Port)
	}
	if len(e.DNSNames) > 0 {
		base.Destination.Names = e.DNSNames
	}
	if len(e.DestinationIPs) == 0 {
		return append(dst, base)
	}
	for _, ip := range e.DestinationIPs {
		f := base
		f.Destination.IP = ip
		dst = append(dst, f)
	}
	return dst
}

// SortEdges orders edges deterministically: source namespace and labels,
// destination, protocol, port. Label keys are rendered once per edge, not
// once per comparison (sorting 10,000 edges otherwise allocates hundreds of
// megabytes).
func SortEdges(es []Edge) {
	type keyed struct {
		src, dst string
		i        int
	}
	ks := make([]keyed, len(es))
	for i := range es {
		ks[i] = keyed{es[i].Source.Labels.Key(), es[i].Destination.Labels.Key(), i}
	}
	slices.SortFunc(ks, func(x, y keyed) int {
		a, b := &es[x.i], &es[y.i]
		return cmp.Or(
			strings.Compare(a.Source.Namespace, b.Source.Namespace),
			strings.Compare(x.src, y.src),
			strings.Compare(a.Destination.Namespace, b.Destination.Namespace),
			strings.Compare(x.dst, y.dst),
			cmp.Compare(a.Destination.Identity, b.Destination.Identity),
			slices.Compare(a.DNSNames, b.DNSNames),
			strings.Compare(string(a.Protocol), string(b.Protocol)),
			cmp.Compare(a.Port, b.Port),
		)
	})
	sorted := make([]Edge, len(es))
	for i, k := range ks {
		sorted[i] = es[k.i]
	}
	copy(es, sorted)
}
