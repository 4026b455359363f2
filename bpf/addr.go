package bpf

import (
	"net/netip"
)

// Addr16 is the 16-byte form the maps use: IPv6, or IPv4 mapped into
// ::ffff:0:0/96.
func Addr16(a netip.Addr) [16]byte {
	return a.As16()
}

// AddrFrom16 undoes Addr16, unmapping IPv4.
func AddrFrom16(b [16]byte) netip.Addr {
	return netip.AddrFrom16(b).Unmap()
}

// CIDRPrefixLen is the LPM prefix length of p in the 16-byte address space.
func CIDRPrefixLen(p netip.Prefix) uint32 {
	if p.Addr().Is4() {
		return uint32(96 + p.Bits())
	}
	return uint32(p.Bits())
}

// PortPrefix is one LPM prefix of the 16-bit port space: ports whose top
// Bits bits equal those of Port.
type PortPrefix struct {
	Port uint16
	Bits int
}

// PortPrefixes covers the inclusive range [lo, hi] with the fewest
// prefixes (at most 30), so the shadow-policy trie can hold port ranges.
func PortPrefixes(lo, hi uint16) []PortPrefix {
	if lo > hi {
		return nil
	}
	var out []PortPrefix
	start, end := uint32(lo), uint32(hi)
	for start <= end {
		// the largest aligned block starting at start that fits
		size := uint32(1)
		for size < 1<<16 && start%(size*2) == 0 && start+size*2-1 <= end {
			size *= 2
		}
		bits := 16
		for s := size; s > 1; s >>= 1 {
			bits--
		}
		out = append(out, PortPrefix{Port: uint16(start), Bits: bits})
		start += size
	}
	return out
}

// Conn is a flow in the initiator's orientation.
type Conn struct {
	Src, Dst netip.Addr
	// SrcPort and DstPort are host-order ports; for ICMP echo, the
	// identifier and the request type.
	SrcPort, DstPort uint16
	Proto            uint8
	// Dir is the pod-relative direction of initiator -> responder packets
	// on the interface that saw them.
	Dir uint8
}

func flip(dir uint8) uint8 {
	if dir == DirEgress {
		return DirIngress
	}
	return DirEgress
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// Ntohs reads a network-order port from a key (the objects are
// little-endian only).
func Ntohs(v uint16) uint16 { return htons(v) }
