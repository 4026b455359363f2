package hubble

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/posture-dev/posture/flow"
)

// Kind says what one line of a Hubble export holds.
type Kind uint8

const (
	KindNone Kind = iota
	// KindFlow is a flow event, wrapped in a GetFlowsResponse or bare.
	KindFlow
	// KindNodeStatus is a relay's node_status response (a node connected,
	// became unavailable, ...).
	KindNodeStatus
	// KindLostEvents reports events Hubble dropped (ring buffer full, slow
	// reader); the evidence is incomplete by LostEvents events.
	KindLostEvents
	// KindOther is a GetFlowsResponse carrying none of the above, such as a
	// response type from a newer Hubble.
	KindOther
	// KindPosture means the line is posture's own JSONL (it has apiVersion
	// or kind at the top level); decode it with flow.DecodeRecord.
	KindPosture
)

func (k Kind) String() string {
	switch k {
	case KindFlow:
		return "flow"
	case KindNodeStatus:
		return "node_status"
	case KindLostEvents:
		return "lost_events"
	case KindOther:
		return "other"
	case KindPosture:
		return "posture"
	}
	return "none"
}

// TCP flag bits, as Response.TCPFlags carries them.
const (
	FlagSYN uint16 = 1 << iota
	FlagACK
	FlagFIN
	FlagRST
	FlagPSH
	FlagURG
	FlagECE
	FlagCWR
	FlagNS
)

var flagNames = [...]string{"SYN", "ACK", "FIN", "RST", "PSH", "URG", "ECE", "CWR", "NS"}

// Response is one decoded line. Flow is valid when Kind is KindFlow; its
// label slices are shared between responses and must not be modified, and
// its DNS and HTTP records belong to the Decoder and are overwritten by the
// next Decode (use CloneFlow to keep a flow).
type Response struct {
	Kind Kind
	Flow flow.Flow
	// TCPFlags has the Flag* bits of a TCP flow.
	TCPFlags uint16
	// NodeName and Time are the wrapper's (or the flow's) node and time.
	NodeName string
	Time     time.Time
	// LostEvents is the number of events a lost_events response reports,
	// LostSource where they were lost (HUBBLE_RING_BUFFER, PERF_EVENT_RING_BUFFER, ...).
	LostEvents uint64
	LostSource string
	// NodeStatus is a node_status response.
	NodeStatus NodeStatus

	replySet bool // is_reply was present, so the older "reply" is ignored
}

// NodeStatus is a relay's report that nodes joined or left the stream.
type NodeStatus struct {
	State   string   // NODE_CONNECTED, NODE_UNAVAILABLE, NODE_GONE, NODE_ERROR, ...
	Nodes   []string // node_names
	Message string
}

// Complete reports whether the state means the node's flows are arriving.
func (s NodeStatus) Complete() bool {
	return s.State == "NODE_CONNECTED" || s.State == "UNKNOWN_NODE_STATE" || s.State == ""
}

// FieldError is a line that is not a valid Hubble response, with the JSON
// path of the field where decoding stopped.
type FieldError struct {
	Field  string // e.g. flow.l4.TCP.destination_port; "" at the top level
	Offset int    // byte offset in the line
	Reason string
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("byte %d: %s", e.Offset, e.Reason)
	}
	return fmt.Sprintf("field %s: %s", e.Field, e.Reason)
}

// Decoder decodes lines one at a time, caching what repeats between lines
// (label sets, names) so a steady stream allocates little. Its caches are
// bounded. A Decoder is not safe for concurrent use.
type Decoder struct {
	lx     lexer
	sub    lexer // for label arrays parsed after their endpoint
	labels map[flow.Identity]labelEntry
	strs   map[string]string
	owners map[string]string // pod name -> derived workload
	// L7 records of the last flow, reused so steady decoding does not
	// allocate; Response.Flow points at them.
	dns       flow.DNS
	http      flow.HTTP
	ipsBuf    []string
	qtypesBuf []string
	flags     [1 << len(flagNames)]string
}

const (
	maxCachedLabelSets = 4096
	maxInterned        = 16384
)

// NewDecoder returns a decoder with empty caches.
func NewDecoder() *Decoder {
	return &Decoder{labels: map[flow.Identity]labelEntry{}, strs: map[string]string{}, owners: map[string]string{}}
}

// CloneFlow returns a copy of f that shares nothing a Decoder reuses.
func CloneFlow(f *flow.Flow) *flow.Flow {
	c := *f
	if f.DNS != nil {
		d := *f.DNS
		d.IPs = slices.Clone(d.IPs)
		d.QTypes = slices.Clone(d.QTypes)
		c.DNS = &d
	}
	if f.HTTP != nil {
		h := *f.HTTP
		c.HTTP = &h
	}
	return &c
}

// DecodeLine decodes one line with a fresh decoder; for streams use a
// Decoder.
func DecodeLine(line []byte) (*Response, error) {
	var r Response
	if err := NewDecoder().Decode(line, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

var errEmpty = errors.New("no flow, node_status or lost_events")

// Decode decodes one line (without its newline) into r. On error r is
// undefined and the error is a *FieldError.
func (d *Decoder) Decode(line []byte, r *Response) error {
	*r = Response{}
	l := &d.lx
	l.reset(line)
	if !utf8.Valid(line) {
		i := 0
		for i < len(line) {
			c, n := utf8.DecodeRune(line[i:])
			if c == utf8.RuneError && n <= 1 {
				break
			}
			i += n
		}
		return &FieldError{Offset: i, Reason: "invalid UTF-8"}
	}
	if !l.object() {
		if l.err == nil {
			l.fail("want object, got null")
		}
		return l.err
	}
	bare := false
	for k, ok := l.key(); ok; k, ok = l.key() {
		switch string(k) {
		case "flow":
			if !l.object() {
				l.fail("want object, got null")
				break
			}
			d.flowFields(&r.Flow, r)
			r.Kind = KindFlow
		case "node_status", "nodeStatus":
			d.nodeStatus(&r.NodeStatus)
			r.Kind = KindNodeStatus
		case "lost_events", "lostEvents":
			d.lostEvents(r)
			r.Kind = KindLostEvents
		case "node_name", "nodeName":
			r.NodeName = d.intern(l.str())
		case "time":
			if r.Kind == KindFlow && !r.Flow.Time.IsZero() {
				l.skip() // the wrapper repeats the flow's time
				break
			}
			r.Time = d.time()
		case "apiVersion", "kind":
			r.Kind = KindPosture
			return nil
		default:
			if d.flowField(&r.Flow, r, k) {
				bare = true
			} else {
				l.skip()
			}
		}
	}
	l.end()
	if l.err != nil {
		return l.err
	}
	switch {
	case r.Kind == KindNone && bare:
		r.Kind = KindFlow
	case r.Kind == KindNone && (r.NodeName != "" || !r.Time.IsZero()):
		r.Kind = KindOther
	case r.Kind == KindNone:
		return &FieldError{Reason: errEmpty.Error()}
	}
	if r.Kind == KindFlow {
		f := &r.Flow
		if f.Time.IsZero() {
			f.Time = r.Time
		}
		if f.Node == "" {
			f.Node = r.NodeName
		}
		if r.NodeName == "" {
			r.NodeName = f.Node
		}
		if r.Time.IsZero() {
			r.Time = f.Time
		}
		d.finishEndpoint(&f.Source)
		d.finishEndpoint(&f.Destination)
		if f.Event == flow.EventUnknown {
			switch {
			case f.DNS != nil || f.HTTP != nil:
				f.Event = flow.EventL7
			case f.Verdict == flow.VerdictDropped:
				f.Event = flow.EventDrop
			}
		}
	}
	return nil
}

// finishEndpoint fills what Hubble leaves implicit: the labels of a
// reserved identity and the workload of a pod.
func (d *Decoder) finishEndpoint(e *flow.Endpoint) {
	if len(e.Labels) == 0 && e.Identity.IsReserved() {
		e.Labels = reservedLabels[e.Identity]
	}
	if e.Workload == "" && e.Pod != "" {
		w, ok := d.owners[e.Pod]
		if !ok {
			if len(d.owners) >= maxInterned {
				clear(d.owners)
			}
			w = WorkloadFromPod(e.Pod)
			d.owners[e.Pod] = w
		}
		e.Workload = w
	}
}

var reservedLabels = func() map[flow.Identity]flow.Labels {
	m := map[flow.Identity]flow.Labels{}
	for id := flow.IdentityHost; id <= flow.IdentityWorldIPv6; id++ {
		m[id] = flow.ReservedLabels(id)
	}
	return m
}()

// flowFields reads the members of a flow object (the opening brace is
// consumed).
func (d *Decoder) flowFields(f *flow.Flow, r *Response) {
	l := &d.lx
	for k, ok := l.key(); ok; k, ok = l.key() {
		if !d.flowField(f, r, k) {
			l.skip()
		}
	}
}

// flowField reads the value of one flow member it knows, reporting false
// (without consuming anything) for members it does not. Both protojson
// spellings are accepted: proto names (hubble's default) and lowerCamel.
func (d *Decoder) flowField(f *flow.Flow, r *Response, k []byte) bool {
	l := &d.lx
	switch string(k) {
	case "time":
		f.Time = d.time()
	case "verdict":
		f.Verdict = verdict(l.enum())
	case "drop_reason_desc", "dropReasonDesc":
		name, num := l.enum()
		if name != nil {
			f.DropReason = d.intern(name)
		} else if num > 0 {
			f.DropReason = fmt.Sprintf("drop reason %d", num)
		}
	case "drop_reason", "dropReason":
		if n := l.uint(math.MaxUint32); n > 0 && f.DropReason == "" {
			f.DropReason = fmt.Sprintf("drop reason %d", n)
		}
	case "IP", "ip":
		d.ip(f)
	case "l4":
		d.l4(f, r)
	case "source":
		d.endpoint(&f.Source)
	case "destination":
		d.endpoint(&f.Destination)
	case "Type", "type":
		name, num := l.enum()
		if f.Event == flow.EventUnknown {
			switch {
			case string(name) == "L7" || num == 2:
				f.Event = flow.EventL7
			case string(name) == "SOCK" || num == 3:
				f.Event = flow.EventSock
			}
		}
	case "node_name", "nodeName":
		f.Node = d.intern(l.str())
	case "source_names", "sourceNames":
		f.Source.Names = d.strings(&d.lx, f.Source.Names[:0])
	case "destination_names", "destinationNames":
		f.Destination.Names = d.strings(&d.lx, f.Destination.Names[:0])
	case "l7":
		d.l7(f)
	case "reply":
		if !r.replySet {
			f.IsReply = l.boolean()
		} else {
			l.boolean()
		}
	case "is_reply", "isReply":
		f.IsReply = l.boolean()
		r.replySet = true
	case "event_type", "eventType":
		d.eventType(f)
	case "traffic_direction", "trafficDirection":
		name, num := l.enum()
		switch {
		case string(name) == "INGRESS" || num == 1:
			f.Direction = flow.DirectionIngress
		case string(name) == "EGRESS" || num == 2:
			f.Direction = flow.DirectionEgress
		}
	case "ingress_allowed_by", "ingressAllowedBy":
		f.PolicyMatches = d.policies(f.PolicyMatches, "ingress-allowed:")
	case "egress_allowed_by", "egressAllowedBy":
		f.PolicyMatches = d.policies(f.PolicyMatches, "egress-allowed:")
	case "ingress_denied_by", "ingressDeniedBy":
		f.PolicyMatches = d.policies(f.PolicyMatches, "ingress-denied:")
	case "egress_denied_by", "egressDeniedBy":
		f.PolicyMatches = d.policies(f.PolicyMatches, "egress-denied:")
	default:
		return false
	}
	return true
}

// verdict maps Hubble's Verdict enum. TRACED and TRANSLATED are socket
// events that say nothing about policy.
func verdict(name []byte, num int64) flow.Verdict {
	switch {
	case string(name) == "FORWARDED" || num == 1:
		return flow.VerdictForwarded
	case string(name) == "DROPPED" || num == 2:
		return flow.VerdictDropped
	case string(name) == "ERROR" || num == 3:
		return flow.VerdictError
	case string(name) == "AUDIT" || num == 4:
		return flow.VerdictAudit
	case string(name) == "REDIRECTED" || num == 5:
		return flow.VerdictRedirected
	}
	return flow.VerdictUnknown
}

func (d *Decoder) eventType(f *flow.Flow) {
	l := &d.lx
	if !l.object() {
		return
	}
	for k, ok := l.key(); ok; k, ok = l.key() {
		if string(k) != "type" {
			l.skip()
			continue
		}
		// Cilium's monitor message types (pkg/monitor/api).
		switch l.uint(math.MaxInt32) {
		case 1:
			f.Event = flow.EventDrop
		case 3, 6:
			f.Event = flow.EventCapture
		case 4:
			f.Event = flow.EventTrace
		case 5:
			f.Event = flow.EventPolicyVerdict
		case 7:
			f.Event = flow.EventSock
		case 129:
			f.Event = flow.EventL7
		}
	}
}

func (d *Decoder) ip(f *flow.Flow) {
	l := &d.lx
	if !l.object() {
		return
	}
	for k, ok := l.key(); ok; k, ok = l.key() {
		switch string(k) {
		case "source":
			f.Source.IP = d.intern(l.str())
		case "destination":
			f.Destination.IP = d.intern(l.str())
		default:
			l.skip()
		}
	}
}

func (d *Decoder) l4(f *flow.Flow, r *Response) {
	l := &d.lx
	if !l.object() {
		return
	}
	for k, ok := l.key(); ok; k, ok = l.key() {
		switch string(k) {
		case "TCP", "tcp":
			f.Protocol = flow.ProtoTCP
			d.ports(f, r)
		case "UDP", "udp":
			f.Protocol = flow.ProtoUDP
			d.ports(f, r)
		case "SCTP", "sctp":
			f.Protocol = flow.ProtoSCTP
			d.ports(f, r)
		case "ICMPv4", "icmpv4":
			f.Protocol = flow.ProtoICMP
			d.icmp(f)
		case "ICMPv6", "icmpv6":
			f.Protocol = flow.ProtoICMPv6
			d.icmp(f)
		default:
			l.skip()
		}
	}
}

func (d *Decoder) ports(f *flow.Flow, r *Response) {
	l := &d.lx
	if !l.object() {
		return
	}
	for k, ok := l.key(); ok; k, ok = l.key() {
		switch string(k) {
		case "source_port", "sourcePort":
			f.SrcPort = uint16(l.uint(math.MaxUint16))
		case "destination_port", "destinationPort":
			f.DstPort = uint16(l.uint(math.MaxUint16))
		case "flags":
			r.TCPFlags = d.tcpFlags()
			f.TCPFlags = d.flagString(r.TCPFlags)
		default:
			l.skip()
		}
	}
}

func (d *Decoder) tcpFlags() uint16 {
	l := &d.lx
	var bits uint16
	if !l.object() {
		return 0
	}
	for k, ok := l.key(); ok; k, ok = l.key() {
		bit := uint16(0)
		for i, n := range flagNames {
			if string(k) == n {
				bit = 1 << i
				break
			}
		}
		if l.boolean() {
			bits |= bit
		}
	}
	return bits
}

// flagString renders flag bits once per combination.
func (d *Decoder) flagString(bits uint16) string {
	if bits == 0 {
		return ""
	}
	if s := d.flags[bits]; s != "" {
		return s
	}
	var b []byte
	for i, n := range flagNames {
		if bits&(1<<i) != 0 {
			if len(b) > 0 {
				b = append(b, ',')
			}
			b = append(b, n...)
		}
	}
	d.flags[bits] = string(b)
	return d.flags[bits]
}

func (d *Decoder) icmp(f *flow.Flow) {
	l := &d.lx
	if !l.object() {
		return
	}
	for k, ok := l.key(); ok; k, ok = l.key() {
		switch string(k) {
		case "type":
			f.ICMPType = uint8(l.uint(math.MaxUint8))
		case "code":
			f.ICMPCode = uint8(l.uint(math.MaxUint8))
		default:
			l.skip()
		}
	}
}

func (d *Decoder) endpoint(e *flow.Endpoint) {
	l := &d.lx
	if !l.object() {
		return
	}
	labels := -1
	var raw []byte
	for k, ok := l.key(); ok; k, ok = l.key() {
		switch string(k) {
		case "identity":
			e.Identity = flow.Identity(l.uint(math.MaxUint32))
		case "namespace":
			e.Namespace = d.intern(l.str())
		case "pod_name", "podName":
			e.Pod = d.intern(l.str())
		case "labels":
			l.ws()
			labels = l.i
			l.skip()
			raw = l.b[labels:l.i]
		case "workloads":
			if w := d.workload(); w != "" {
				e.Workload = w
			}
		default:
			l.skip()
		}
	}
	if labels >= 0 && l.err == nil {
		e.Labels = d.labelSet(e.Identity, raw, labels)
	}
}

type labelEntry struct {
	raw    string
	labels flow.Labels
}

// labelSet parses a label array (raw, at offset off in the line), once per
// distinct text. The cache is keyed by identity and checked against the
// text, so the usual hit costs a compare, not a hash of the whole array.
func (d *Decoder) labelSet(id flow.Identity, raw []byte, off int) flow.Labels {
	if e, ok := d.labels[id]; ok && e.raw == string(raw) {
		return e.labels
	}
	sub := &d.sub
	sub.reset(raw)
	ss := d.strings(sub, nil)
	if sub.err != nil {
		fe := sub.err.(*FieldError)
		if d.lx.err == nil {
			d.lx.err = &FieldError{Field: d.lx.fieldPath() + ".labels", Offset: off + fe.Offset, Reason: fe.Reason}
			d.lx.i = len(d.lx.b)
		}
		return nil
	}
	sub.end()
	ls := make(flow.Labels, 0, len(ss))
	for _, s := range ss {
		ls = append(ls, flow.ParseLabel(s))
	}
	ls.Sort()
	if len(d.labels) >= maxCachedLabelSets {
		clear(d.labels)
	}
	d.labels[id] = labelEntry{raw: string(raw), labels: ls}
	return ls
}

// workload reads Hubble's workloads list ([{name, kind}]) and returns the
// first name.
func (d *Decoder) workload() string {
	l := &d.lx
	name := ""
	if !l.array() {
		return ""
	}
	for first := true; l.more(first); first = false {
		if !l.object() {
			continue
		}
		for k, ok := l.key(); ok; k, ok = l.key() {
			if string(k) == "name" && name == "" {
				name = d.intern(l.str())
			} else {
				l.skip()
			}
		}
	}
	return name
}

// nilIfEmpty keeps "absent" and "empty" alike whatever a reused buffer
// held before.
func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

// strings reads an array of strings from l, appending to dst.
func (d *Decoder) strings(l *lexer, dst []string) []string {
	if !l.array() {
		return dst
	}
	for first := true; l.more(first); first = false {
		s := l.str()
		if l.err != nil {
			return dst
		}
		dst = append(dst, d.intern(s))
	}
	return dst
}

// policies reads a list of Hubble Policy objects into "prefix" + ns/name.
func (d *Decoder) policies(dst []string, prefix string) []string {
	l := &d.lx
	if !l.array() {
		return dst
	}
	for first := true; l.more(first); first = false {
		var ns, name []byte
		if !l.object() {
			continue
		}
		for k, ok := l.key(); ok; k, ok = l.key() {
			switch string(k) {
			case "name":
				name = l.str()
			case "namespace":
				ns = l.str()
			default:
				l.skip()
			}
		}
		if l.err != nil {
			return dst
		}
		s := prefix + string(name)
		if len(ns) > 0 {
			s = prefix + string(ns) + "/" + string(name)
		}
		dst = append(dst, s)
	}
	return dst
}

func (d *Decoder) l7(f *flow.Flow) {
	l := &d.lx
	if !l.object() {
		return
	}
	response := false
	for k, ok := l.key(); ok; k, ok = l.key() {
		switch string(k) {
		case "type":
			name, num := l.enum()
			response = string(name) == "RESPONSE" || num == 2
		case "dns":
			if f.DNS == nil {
				d.dns = flow.DNS{}
				f.DNS = &d.dns
			}
			d.dnsFields(f.DNS)
		case "http":
			if f.HTTP == nil {
				d.http = flow.HTTP{}
				f.HTTP = &d.http
			}
			d.httpFields(f.HTTP)
		default:
			l.skip()
		}
	}
	if f.DNS != nil {
		f.DNS.Response = response
	}
	if f.Event == flow.EventUnknown {
		f.Event = flow.EventL7
	}
}

func (d *Decoder) dnsFields(x *flow.DNS) {
	l := &d.lx
	if !l.object() {
		return
	}
	for k, ok := l.key(); ok; k, ok = l.key() {
		switch string(k) {
		case "query":
			x.Query = d.intern(l.str())
		case "ips":
			d.ipsBuf = d.strings(&d.lx, d.ipsBuf[:0])
			x.IPs = nilIfEmpty(d.ipsBuf)
		case "ttl":
			x.TTL = uint32(l.uint(math.MaxUint32))
		case "rcode":
			x.RCode = uint32(l.uint(math.MaxUint32))
		case "qtypes":
			d.qtypesBuf = d.strings(&d.lx, d.qtypesBuf[:0])
			x.QTypes = nilIfEmpty(d.qtypesBuf)
		default:
			l.skip()
		}
	}
}

func (d *Decoder) httpFields(x *flow.HTTP) {
	l := &d.lx
	if !l.object() {
		return
	}
	for k, ok := l.key(); ok; k, ok = l.key() {
		switch string(k) {
		case "code":
			x.Code = uint32(l.uint(math.MaxUint32))
		case "method":
			x.Method = d.intern(l.str())
		case "url":
			host, path := splitURL(l.str())
			x.Host, x.Path = d.intern(host), d.intern(path)
		default:
			l.skip()
		}
	}
}

// splitURL takes the host and the path (without query or fragment) from
// an absolute URL or a bare path, as an HTTP policy rule matches on them.
func splitURL(u []byte) (host, path []byte) {
	for i := 0; i+2 < len(u); i++ {
		if u[i] == ':' && u[i+1] == '/' && u[i+2] == '/' {
			rest := u[i+3:]
			j := 0
			for j < len(rest) && rest[j] != '/' && rest[j] != '?' && rest[j] != '#' {
				j++
			}
			host, u = rest[:j], rest[j:]
			break
		}
		if u[i] == '/' || u[i] == '?' {
			break
		}
	}
	for i, c := range u {
		if c == '?' || c == '#' {
			u = u[:i]
			break
		}
	}
	if len(u) == 0 {
		u = []byte("/")
	}
	return host, u
}

func (d *Decoder) nodeStatus(s *NodeStatus) {
	l := &d.lx
	if !l.object() {
		return
	}
	for k, ok := l.key(); ok; k, ok = l.key() {
		switch string(k) {
		case "state_change", "stateChange":
			name, num := l.enum()
			if name != nil {
				s.State = d.intern(name)
			} else {
				s.State = fmt.Sprintf("NODE_STATE_%d", num)
			}
		case "node_names", "nodeNames":
			s.Nodes = d.strings(&d.lx, nil)
		case "message":
			s.Message = string(l.str())
		default:
			l.skip()
		}
	}
}

func (d *Decoder) lostEvents(r *Response) {
	l := &d.lx
	if !l.object() {
		return
	}
	for k, ok := l.key(); ok; k, ok = l.key() {
		switch string(k) {
		case "num_events_lost", "numEventsLost":
			r.LostEvents = l.uint(math.MaxUint64)
		case "source":
			name, num := l.enum()
			if name != nil {
				r.LostSource = d.intern(name)
			} else {
				r.LostSource = fmt.Sprintf("source %d", num)
			}
		default:
			l.skip()
		}
	}
}

// time reads a protojson Timestamp (RFC 3339 text) or the Go encoding of
// one ({"seconds":..,"nanos":..}).
func (d *Decoder) time() time.Time {
	l := &d.lx
	switch l.peek() {
	case '{':
		var sec, nsec uint64
		if l.object() {
			for k, ok := l.key(); ok; k, ok = l.key() {
				switch string(k) {
				case "seconds":
					sec = l.uint(math.MaxInt64)
				case "nanos":
					nsec = l.uint(999_999_999)
				default:
					l.skip()
				}
			}
		}
		return time.Unix(int64(sec), int64(nsec)).UTC()
	case 'n':
		l.literal("null")
		return time.Time{}
	}
	s := l.str()
	if l.err != nil {
		return time.Time{}
	}
	if t, ok := parseRFC3339UTC(s); ok {
		return t
	}
	t, err := time.Parse(time.RFC3339Nano, string(s))
	if err != nil {
		l.fail("invalid time %q", s)
	}
	return t
}

// parseRFC3339UTC is the fast path for the form Hubble writes,
// 2006-01-02T15:04:05.999999999Z.
func parseRFC3339UTC(s []byte) (time.Time, bool) {
	if len(s) < 20 || s[len(s)-1] != 'Z' || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return time.Time{}, false
	}
	num := func(b []byte) (int, bool) {
		n := 0
		for _, c := range b {
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, true
	}
	year, ok1 := num(s[0:4])
	mon, ok2 := num(s[5:7])
	day, ok3 := num(s[8:10])
	hh, ok4 := num(s[11:13])
	mm, ok5 := num(s[14:16])
	ss, ok6 := num(s[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || mon < 1 || mon > 12 || day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60 {
		return time.Time{}, false
	}
	nsec := 0
	if rest := s[19 : len(s)-1]; len(rest) > 0 {
		if rest[0] != '.' || len(rest) < 2 || len(rest) > 10 {
			return time.Time{}, false
		}
		n, ok := num(rest[1:])
		if !ok {
			return time.Time{}, false
		}
		for i := len(rest) - 1; i < 9; i++ {
			n *= 10
		}
		nsec = n
	}
	t := time.Date(year, time.Month(mon), day, hh, mm, ss, nsec, time.UTC)
	if t.Day() != day {
		return time.Time{}, false // Feb 30 and the like: let time.Parse reject it
	}
	return t, true
}

// intern returns b as a string, sharing one copy per distinct value.
func (d *Decoder) intern(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if s, ok := d.strs[string(b)]; ok {
		return s
	}
	if len(d.strs) >= maxInterned {
		clear(d.strs)
	}
	s := string(b)
	d.strs[s] = s
	return s
}
