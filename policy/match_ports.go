package policy

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/posture-dev/posture/flow"
)

// portMatch is one compiled (port or range, protocol) of a rule, with the
// L7 rules that apply to traffic it admits.
type portMatch struct {
	proto flow.Protocol // TCP, UDP, SCTP, ICMP, ICMPv6 or ANY (= TCP, UDP, SCTP)
	lo    uint16
	hi    uint16
	any   bool   // port 0 or empty: every port of the protocol
	named string // a named port: resolved only against pod specs, which flows do not carry
	l7    *l7Rules
}

// parsePortProtocol compiles one toPorts.ports entry.
func parsePortProtocol(pp PortProtocol) (portMatch, error) {
	var m portMatch
	proto, err := flow.ParseProtocol(pp.Protocol)
	if err != nil || proto == flow.ProtoICMP || proto == flow.ProtoICMPv6 {
		return m, fmt.Errorf("protocol %q: must be TCP, UDP, SCTP or ANY", pp.Protocol)
	}
	m.proto = proto
	p := strings.TrimSpace(pp.Port)
	switch {
	case p == "" || p == "0":
		// Cilium ignores endPort without a start port.
		m.any = true
	default:
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil {
			if strings.ContainsAny(p, "0123456789") && !strings.ContainsAny(p, "abcdefghijklmnopqrstuvwxyz") {
				return m, fmt.Errorf("port %q: must be 0-65535 or a port name", pp.Port)
			}
			m.named = strings.ToLower(p)
			return m, nil
		}
		m.lo, m.hi = uint16(n), uint16(n)
		if pp.EndPort != 0 {
			if pp.EndPort < int32(n) || pp.EndPort > 65535 {
				return m, fmt.Errorf("endPort %d: must be between port %d and 65535", pp.EndPort, n)
			}
			m.hi = uint16(pp.EndPort)
		}
	}
	return m, nil
}

// icmpTypes maps Cilium's ICMP type names to numbers per family.
var icmpTypes = map[bool]map[string]uint8{
	false: { // IPv4
		"EchoReply": 0, "DestinationUnreachable": 3, "Redirect": 5, "Echo": 8,
		"EchoRequest": 8, "RouterAdvertisement": 9, "RouterSelection": 10,
		"TimeExceeded": 11, "ParameterProblem": 12, "Timestamp": 13,
		"TimestampReply": 14, "Photuris": 40, "ExtendedEchoRequest": 42,
		"ExtendedEchoReply": 43,
	},
	true: { // IPv6
		"DestinationUnreachable": 1, "PacketTooBig": 2, "TimeExceeded": 3,
		"ParameterProblem": 4, "EchoRequest": 128, "EchoReply": 129,
		"MulticastListenerQuery": 130, "MulticastListenerReport": 131,
		"MulticastListenerDone": 132, "RouterSolicitation": 133,
		"RouterAdvertisement": 134, "NeighborSolicitation": 135,
		"NeighborAdvertisement": 136, "RedirectMessage": 137,
		"RouterRenumbering": 138, "ICMPNodeInformationQuery": 139,
		"ICMPNodeInformationResponse":            140,
		"InverseNeighborDiscoverySolicitation":   141,
		"InverseNeighborDiscoveryAdvertisement":  142,
		"HomeAgentAddressDiscoveryRequest":       144,
		"HomeAgentAddressDiscoveryReply":         145,
		"MobilePrefixSolicitation":               146,
		"MobilePrefixAdvertisement":              147,
		"DuplicateAddressRequestCodeSuffix":      157,
		"DuplicateAddressConfirmationCodeSuffix": 158,
		"ExtendedEchoRequest":                    160,
		"ExtendedEchoReply":                      161,
	},
}

// parseICMP compiles one icmps.fields entry into a port match on the ICMP
// type, which is how Cilium represents it.
func parseICMP(f ICMPField) (portMatch, error) {
	var v6 bool
	switch f.Family {
	case "", "IPv4":
	case "IPv6":
		v6 = true
	default:
		return portMatch{}, fmt.Errorf("family %q: must be IPv4 or IPv6", f.Family)
	}
	m := portMatch{proto: flow.ProtoICMP}
	if v6 {
		m.proto = flow.ProtoICMPv6
	}
	var t uint8
	if f.Type.IsStr {
		if n, err := strconv.ParseUint(f.Type.Str, 10, 8); err == nil {
			t = uint8(n)
		} else if n, ok := icmpTypes[v6][f.Type.Str]; ok {
			t = n
		} else {
			return m, fmt.Errorf("type %q: not an ICMP type of %s", f.Type.Str, m.proto)
		}
	} else {
		if f.Type.Int < 0 || f.Type.Int > 255 {
			return m, fmt.Errorf("type %d: must be 0-255", f.Type.Int)
		}
		t = uint8(f.Type.Int)
	}
	m.lo, m.hi = uint16(t), uint16(t)
	// Cilium turns an ICMP type into the port of a policy key, and port 0
	// is the wildcard: a rule on type 0 (IPv4 EchoReply) covers every
	// ICMP type of the family.
	m.any = t == 0
	return m, nil
}

// matches reports whether the flow's protocol and port fall in m. Named
// ports never match: the flow does not carry the pod's port names.
func (m *portMatch) matches(proto flow.Protocol, port uint16) bool {
	if m.named != "" {
		return false
	}
	switch m.proto {
	case flow.ProtoAny:
		if proto != flow.ProtoTCP && proto != flow.ProtoUDP && proto != flow.ProtoSCTP {
			return false
		}
	default:
		if proto != m.proto {
			return false
		}
	}
	return m.any || (port >= m.lo && port <= m.hi)
}

// couldMatchNamed reports whether m is a named port on the flow's protocol.
func (m *portMatch) couldMatchNamed(proto flow.Protocol) bool {
	if m.named == "" {
		return false
	}
	if m.proto == flow.ProtoAny {
		return proto == flow.ProtoTCP || proto == flow.ProtoUDP || proto == flow.ProtoSCTP
	}
	return proto == m.proto
}
