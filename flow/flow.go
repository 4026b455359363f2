package flow

import (
	"fmt"
	"strings"
	"time"
)

// Endpoint is one end of a flow: a pod with its identity labels, or a
// reserved entity (host, world, ...), or an external address.
type Endpoint struct {
	Identity  Identity `json:"identity,omitempty"`
	Namespace string   `json:"namespace,omitempty"`
	Pod       string   `json:"pod,omitempty"`
	// Workload is the owning controller's name when known (Deployment,
	// StatefulSet, DaemonSet, CronJob); derived from the pod name otherwise.
	Workload string `json:"workload,omitempty"`
	Labels   Labels `json:"labels,omitempty"`
	IP       string `json:"ip,omitempty"`
	// Names are DNS names known to resolve to IP (Hubble's
	// destination_names, or names learned from DNS answers).
	Names []string `json:"names,omitempty"`
}

// IsPod reports whether the endpoint is a workload endpoint rather than a
// reserved entity or an address outside the cluster. The identity decides:
// Hubble can name a namespace and pod for an endpoint whose identity is
// reserved:world (a stale IP cache entry), and Cilium enforces on identity.
func (e *Endpoint) IsPod() bool {
	if e.Identity.IsReserved() || e.Identity >= IdentityMinLocal {
		return false
	}
	return e.Labels.Has(SourceK8s, LabelNamespace) || (e.Namespace != "" && len(e.Labels) == 0)
}

// String is a short human form: ns/pod, ns/workload, reserved:name or IP.
func (e *Endpoint) String() string {
	switch {
	case e.Pod != "":
		return e.Namespace + "/" + e.Pod
	case e.Workload != "":
		return e.Namespace + "/" + e.Workload
	case e.Identity.IsReserved():
		if e.IP != "" && e.Identity.IsWorld() {
			return e.IP
		}
		return "reserved:" + e.Identity.ReservedName()
	case e.IP != "":
		return e.IP
	}
	return fmt.Sprintf("identity:%d", e.Identity)
}

// Protocol is the L4 protocol of a flow or a policy port.
type Protocol string

const (
	ProtoAny    Protocol = "ANY"
	ProtoTCP    Protocol = "TCP"
	ProtoUDP    Protocol = "UDP"
	ProtoSCTP   Protocol = "SCTP"
	ProtoICMP   Protocol = "ICMP"
	ProtoICMPv6 Protocol = "ICMPv6"
)

// ParseProtocol accepts Cilium and Hubble spellings, case-insensitively.
func ParseProtocol(s string) (Protocol, error) {
	switch strings.ToUpper(s) {
	case "TCP":
		return ProtoTCP, nil
	case "UDP":
		return ProtoUDP, nil
	case "SCTP":
		return ProtoSCTP, nil
	case "ICMP", "ICMPV4":
		return ProtoICMP, nil
	case "ICMPV6":
		return ProtoICMPv6, nil
	case "ANY", "":
		return ProtoAny, nil
	}
	return "", fmt.Errorf("unknown protocol %q", s)
}

// Direction is where a flow was observed relative to the endpoint that
// enforces policy: egress at the source, ingress at the destination.
type Direction string

const (
	DirectionUnknown Direction = ""
	DirectionIngress Direction = "ingress"
	DirectionEgress  Direction = "egress"
)

// Verdict is what the datapath did (or, in audit posture, would do).
type Verdict string

const (
	VerdictUnknown    Verdict = ""
	VerdictForwarded  Verdict = "forwarded"
	VerdictDropped    Verdict = "dropped"
	VerdictAudit      Verdict = "audit"
	VerdictRedirected Verdict = "redirected"
	VerdictError      Verdict = "error"
)

// Event is the kind of datapath event a record came from, as Hubble
// reports it in event_type.
type Event string

const (
	EventUnknown       Event = ""
	EventTrace         Event = "trace"          // a packet passed a trace point
	EventDrop          Event = "drop"           // the datapath dropped a packet
	EventPolicyVerdict Event = "policy-verdict" // first packet of a connection met policy
	EventL7            Event = "l7"             // a proxy saw an L7 request or response
	EventSock          Event = "sock"           // socket-level translation or trace
	EventCapture       Event = "capture"        // debug capture
)

// DNS is an observed DNS request or answer.
type DNS struct {
	Query  string   `json:"query,omitempty"`
	IPs    []string `json:"ips,omitempty"`
	TTL    uint32   `json:"ttl,omitempty"`
	RCode  uint32   `json:"rcode,omitempty"`
	QTypes []string `json:"qtypes,omitempty"`
	// Response is true for answers, false for queries.
	Response bool `json:"response,omitempty"`
}

// HTTP is an observed HTTP request (or its response code).
type HTTP struct {
	Method string `json:"method,omitempty"`
	Path   string `json:"path,omitempty"`
	Host   string `json:"host,omitempty"`
	Code   uint32 `json:"code,omitempty"`
}

// Flow is one observed flow record (one Hubble event, or one packet summary
// from the node agent).
type Flow struct {
	Time        time.Time `json:"time,omitzero"`
	Node        string    `json:"node,omitempty"`
	Source      Endpoint  `json:"source"`
	Destination Endpoint  `json:"destination"`
	Protocol    Protocol  `json:"protocol,omitempty"`
	SrcPort     uint16    `json:"srcPort,omitempty"`
	DstPort     uint16    `json:"dstPort,omitempty"`
	// ICMPType and ICMPCode are set for ICMP flows, where ports are zero.
	ICMPType   uint8     `json:"icmpType,omitempty"`
	ICMPCode   uint8     `json:"icmpCode,omitempty"`
	TCPFlags   string    `json:"tcpFlags,omitempty"`
	Direction  Direction `json:"direction,omitempty"`
	Verdict    Verdict   `json:"verdict,omitempty"`
	Event      Event     `json:"event,omitempty"`
	DropReason string    `json:"dropReason,omitempty"`
	// IsReply marks the reverse direction of an existing connection; Cilium
	// allows replies through connection tracking, so they are not a separate
	// permission.
	IsReply bool  `json:"isReply,omitempty"`
	DNS     *DNS  `json:"dns,omitempty"`
	HTTP    *HTTP `json:"http,omitempty"`
	// PolicyMatches are Hubble's *_allowed_by / *_denied_by policy names.
	PolicyMatches []string `json:"policyMatches,omitempty"`
	Count         uint64   `json:"count,omitempty"`
}

// Port is the destination port as a policy sees it: for ICMP, the type.
func (f *Flow) Port() uint16 {
	if f.Protocol == ProtoICMP || f.Protocol == ProtoICMPv6 {
		return uint16(f.ICMPType)
	}
	return f.DstPort
}
