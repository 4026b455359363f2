package advisor

import (
	"bytes"
	"slices"
	"strconv"

	"github.com/posture-dev/posture/flow"
	"github.com/posture-dev/posture/policy"
)

// maxPortsPerRule is Cilium's limit on ports in one port rule.
const maxPortsPerRule = 40

// portSig is a canonical key for a port set, to group peers sharing one.
func portSig(ports []portKey) string {
	var buf [64]byte
	return string(appendPortSig(buf[:0], ports))
}

func appendPortSig(b []byte, ports []portKey) []byte {
	for i, p := range ports {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, p.proto...)
		b = append(b, '/')
		b = strconv.AppendUint(b, uint64(p.port), 10)
	}
	return b
}

// comparePortSig orders port sets as their portSig strings do, without
// building the strings (sorting rules compares them often).
func comparePortSig(x, y []portKey) int {
	var bx, by [64]byte
	return bytes.Compare(appendPortSig(bx[:0], x), appendPortSig(by[:0], y))
}

func appendSortedPorts(dst []portKey, s portSet) []portKey {
	start := len(dst)
	for _, e := range s {
		dst = append(dst, e.pk)
	}
	if len(s) > 1 {
		slices.SortFunc(dst[start:], comparePorts)
	}
	return dst
}

// splitICMP separates ICMP types from L4 ports: Cilium rejects a rule that
// has both.
func splitICMP(ports []portKey) (l4, icmp []portKey) {
	for _, p := range ports {
		if p.icmp() {
			icmp = append(icmp, p)
		} else {
			l4 = append(l4, p)
		}
	}
	return l4, icmp
}

// anyPort reports whether a port set includes an unknown port (0) or
// protocol, which only an L3 rule without toPorts can allow.
func anyPort(ports []portKey) bool {
	for _, p := range ports {
		if p.port == 0 && !p.icmp() || p.proto == "" || p.proto == flow.ProtoAny {
			return true
		}
	}
	return false
}

// portProtocols merges sorted ports: contiguous ports of one protocol
// become one range with endPort.
func portProtocols(ports []portKey) []policy.PortProtocol {
	var out []policy.PortProtocol
	for i := 0; i < len(ports); {
		j := i
		for j+1 < len(ports) && ports[j+1].proto == ports[i].proto && ports[j+1].port == ports[j].port+1 {
			j++
		}
		pp := policy.PortProtocol{Port: strconv.Itoa(int(ports[i].port)), Protocol: string(ports[i].proto)}
		if pp.Protocol == "" {
			pp.Protocol = string(flow.ProtoAny)
		}
		if j > i {
			pp.EndPort = int32(ports[j].port)
		}
		out = append(out, pp)
		i = j + 1
	}
	return out
}

// portRules renders L4 ports as toPorts, chunked at Cilium's limit.
func portRules(ports []portKey) []policy.PortRule {
	pps := portProtocols(ports)
	var out []policy.PortRule
	for len(pps) > 0 {
		n := min(len(pps), maxPortsPerRule)
		out = append(out, policy.PortRule{Ports: pps[:n]})
		pps = pps[n:]
	}
	return out
}

// icmpRules renders ICMP types.
func icmpRules(ports []portKey) []policy.ICMPRule {
	if len(ports) == 0 {
		return nil
	}
	var fields []policy.ICMPField
	for _, p := range ports {
		f := policy.ICMPField{Type: policy.IntOrStr{Int: int32(p.port)}}
		if p.proto == flow.ProtoICMPv6 {
			f.Family = "IPv6"
		} else {
			f.Family = "IPv4"
		}
		fields = append(fields, f)
	}
	return []policy.ICMPRule{{Fields: fields}}
}

// appendPortsText appends a short human list: "8080/TCP, 9000-9002/TCP".
func appendPortsText(b []byte, ports []portKey) []byte {
	first := true
	sep := func() {
		if !first {
			b = append(b, ", "...)
		}
		first = false
	}
	// Ranges as portProtocols merges them, ICMP types after the L4 ports.
	for i := 0; i < len(ports); {
		if ports[i].icmp() {
			i++
			continue
		}
		j, k := i, i // j: last port of the range, k: scan for the next L4 port
		for {
			k = j + 1
			for k < len(ports) && ports[k].icmp() {
				k++
			}
			if k < len(ports) && ports[k].proto == ports[i].proto && ports[k].port == ports[j].port+1 {
				j = k
				continue
			}
			break
		}
		sep()
		b = strconv.AppendUint(b, uint64(ports[i].port), 10)
		if j > i {
			b = append(b, '-')
			b = strconv.AppendUint(b, uint64(ports[j].port), 10)
		}
		b = append(b, '/')
		if ports[i].proto == "" {
			b = append(b, flow.ProtoAny...)
		} else {
			b = append(b, ports[i].proto...)
		}
		i = k
	}
	for _, p := range ports {
		if p.icmp() {
			sep()
			b = append(b, p.String()...)
		}
	}
	return b
}

// edgePort is the port an edge was seen on; a protocol posture does not
// know becomes "" (any), which only an L3 rule can allow.
func edgePort(e *flow.Edge) portKey {
	p, err := flow.ParseProtocol(string(e.Protocol))
	if err != nil || p == flow.ProtoAny {
		p = ""
	}
	return portKey{proto: p, port: e.Port}
}
