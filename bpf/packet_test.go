package bpf

import (
	"encoding/binary"
	"net/netip"
)

// pkt describes a crafted test frame. Checksums are left zero: the
// programs never read them.
type pkt struct {
	vlans    []uint16 // ethertypes of VLAN tags, outermost first
	src, dst netip.Addr
	proto    uint8
	sport    uint16
	dport    uint16
	tcpFlags uint8
	icmpType uint8
	icmpID   uint16
	payload  []byte
	// fragments: offset in 8-byte units, more-fragments flag, id
	fragOff   uint16
	moreFrags bool
	fragID    uint32
	hopByHop  bool // IPv6 hop-by-hop options header before L4
	rawL4     []byte
	etherType uint16 // overrides the L3 ethertype (e.g. ARP)
}

func (p pkt) l4() []byte {
	if p.rawL4 != nil {
		return p.rawL4
	}
	var h []byte
	switch p.proto {
	case ProtoTCP:
		h = make([]byte, 20)
		binary.BigEndian.PutUint16(h[0:], p.sport)
		binary.BigEndian.PutUint16(h[2:], p.dport)
		h[12] = 5 << 4
		h[13] = p.tcpFlags
	case ProtoUDP:
		h = make([]byte, 8)
		binary.BigEndian.PutUint16(h[0:], p.sport)
		binary.BigEndian.PutUint16(h[2:], p.dport)
		binary.BigEndian.PutUint16(h[4:], uint16(8+len(p.payload)))
	case ProtoSCTP:
		h = make([]byte, 12)
		binary.BigEndian.PutUint16(h[0:], p.sport)
		binary.BigEndian.PutUint16(h[2:], p.dport)
	case ProtoICMP, ProtoICMPv6:
		h = make([]byte, 8)
		h[0] = p.icmpType
		binary.BigEndian.PutUint16(h[4:], p.icmpID)
	}
	return append(h, p.payload...)
}

func (p pkt) bytes() []byte {
	b := make([]byte, 12, 128)
	copy(b, []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1})
	for _, v := range p.vlans {
		b = binary.BigEndian.AppendUint16(b, v)
		b = binary.BigEndian.AppendUint16(b, 100) // TCI: VLAN 100
	}
	l4 := p.l4()
	if p.fragOff > 0 && p.rawL4 == nil {
		l4 = p.payload // later fragments carry no L4 header
	}
	switch {
	case p.etherType != 0:
		b = binary.BigEndian.AppendUint16(b, p.etherType)
		b = append(b, make([]byte, 28)...)
	case p.src.Is4():
		b = binary.BigEndian.AppendUint16(b, 0x0800)
		ip := make([]byte, 20)
		ip[0] = 0x45
		binary.BigEndian.PutUint16(ip[2:], uint16(20+len(l4)))
		binary.BigEndian.PutUint16(ip[4:], uint16(p.fragID))
		fo := p.fragOff
		if p.moreFrags {
			fo |= 0x2000
		}
		binary.BigEndian.PutUint16(ip[6:], fo)
		ip[8] = 64
		ip[9] = p.proto
		s, d := p.src.As4(), p.dst.As4()
		copy(ip[12:], s[:])
		copy(ip[16:], d[:])
		b = append(append(b, ip...), l4...)
	default:
		b = binary.BigEndian.AppendUint16(b, 0x86dd)
		var ext []byte
		next := p.proto
		if p.fragOff > 0 || p.moreFrags {
			f := make([]byte, 8)
			f[0] = next
			fo := p.fragOff << 3
			if p.moreFrags {
				fo |= 1
			}
			binary.BigEndian.PutUint16(f[2:], fo)
			binary.BigEndian.PutUint32(f[4:], p.fragID)
			ext, next = f, 44
		}
		if p.hopByHop {
			h := make([]byte, 8)
			h[0] = next
			h[2] = 1 // PadN
			h[3] = 4
			ext, next = append(h, ext...), 0
		}
		ip := make([]byte, 40)
		ip[0] = 0x60
		binary.BigEndian.PutUint16(ip[4:], uint16(len(ext)+len(l4)))
		ip[6] = next
		ip[7] = 64
		s, d := p.src.As16(), p.dst.As16()
		copy(ip[8:], s[:])
		copy(ip[24:], d[:])
		b = append(append(append(b, ip...), ext...), l4...)
	}
	return b
}

// reply swaps the ends of p.
func (p pkt) reply(flags uint8) pkt {
	r := p
	r.src, r.dst = p.dst, p.src
	r.sport, r.dport = p.dport, p.sport
	r.tcpFlags = flags
	r.payload = nil
	return r
}

func ipv4(a [4]byte) netip.Addr { return netip.AddrFrom4(a) }
