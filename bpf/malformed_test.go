//go:build linux

package bpf

import (
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// TestMalformedPackets sends random frames and every truncation and
// single-byte corruption of valid frames through both programs: the
// verifier accepted them, so the point is that nothing faults at run
// time, every packet passes, and the counters stay consistent.
func TestMalformedPackets(t *testing.T) {
	o := load(t)
	rng := rand.New(rand.NewPCG(1, 2))
	valid := [][]byte{
		pkt{src: podA, dst: podB, proto: ProtoTCP, sport: 1, dport: 2, tcpFlags: syn, payload: []byte("xyz")}.bytes(),
		pkt{src: pod6A, dst: pod6B, proto: ProtoUDP, sport: 53, dport: 3, hopByHop: true, payload: make([]byte, 40)}.bytes(),
		pkt{src: pod6A, dst: pod6B, proto: ProtoUDP, sport: 5, dport: 6, moreFrags: true, fragID: 7, payload: make([]byte, 16)}.bytes(),
		pkt{src: podA, dst: podB, proto: ProtoICMP, icmpType: 8, icmpID: 9, vlans: []uint16{0x88a8, 0x8100}}.bytes(),
		pkt{src: podA, dst: podB, proto: ProtoSCTP, sport: 10, dport: 11}.bytes(),
	}
	var frames [][]byte
	for _, v := range valid {
		for n := 14; n <= len(v); n++ {
			frames = append(frames, v[:n])
		}
		for i := 12; i < len(v); i++ {
			c := append([]byte(nil), v...)
			c[i] = byte(rng.Uint32())
			frames = append(frames, c)
		}
	}
	for range 3000 {
		b := make([]byte, 15+rng.IntN(200))
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		// mostly IP ethertypes, so the parser gets past Ethernet
		switch rng.IntN(4) {
		case 0:
			b[12], b[13] = 0x08, 0x00
			b[14] = 0x40 | b[14]&0x0f
		case 1:
			b[12], b[13] = 0x86, 0xdd
		case 2:
			b[12], b[13] = 0x81, 0x00
		}
		frames = append(frames, b)
	}
	refused := 0
	for i, f := range frames {
		prog := o.FromPod()
		if i%2 == 1 {
			prog = o.ToPod()
		}
		ret, err := prog.Run(&ebpf.RunOptions{Data: f})
		if err != nil {
			// The test harness itself refuses frames whose IP header is
			// cut short (it parses them before the program runs); only
			// those may be refused.
			if !errors.Is(err, unix.EINVAL) || len(f) >= 14+8+40 {
				t.Fatalf("frame %d (%d bytes) %x: %v", i, len(f), f, err)
			}
			refused++
			continue
		}
		if ret != ReturnUnspec {
			t.Fatalf("frame %d: program returned %#x", i, ret)
		}
	}
	t.Logf("harness refused %d short frames", refused)
	frames = frames[:len(frames)-refused] // only the count matters below
	st := stats(t, o)
	if st[StatPackets] != uint64(len(frames)) {
		t.Errorf("packets stat %d, want %d", st[StatPackets], len(frames))
	}
	fl := flows(t, o)
	var pkts uint64
	for _, e := range fl {
		pkts += e.PacketsFwd + e.PacketsRev
		if e.PacketsFwd+e.PacketsRev == 0 {
			t.Errorf("flow without packets: %+v", e)
		}
	}
	// every packet is counted once: in a flow, or as non-IP, truncated,
	// related or an unknown fragment
	other := st[StatNonIP] + st[StatTruncated] + st[StatRelated] + st[StatFragUnknown]
	if pkts+other < st[StatPackets] || pkts > st[StatPackets] {
		t.Errorf("flow packets %d + other %d vs %d packets", pkts, other, st[StatPackets])
	}
	var conns uint64
	for _, e := range fl {
		conns += uint64(e.Conns)
	}
	if conns != st[StatNewFlows] {
		t.Errorf("%d connections in %d flows in the map, new_flows stat %d", conns, len(fl), st[StatNewFlows])
	}
	t.Logf("%d frames, %d flows, stats %v", len(frames), len(fl), st)
}
