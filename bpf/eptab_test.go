//go:build linux

package bpf

import (
	"net/netip"
	"slices"
	"sync/atomic"
	"testing"
)

// TestEndpointTable: identities of new flows' peers come out the same
// whether the endpoint sits in its table bucket or, its bucket full, in
// the hash map alone, and follow updates and deletions.
func TestEndpointTable(t *testing.T) {
	o := load(t)
	if !inOrder() {
		t.Log("this CPU reorders loads: the program reads the endpoints map alone")
	}
	const n = 60000 // nearly the endpoints map's 65,536: many buckets fill up
	addr := func(i int) netip.Addr { return ipv4([4]byte{10, 216, byte(i >> 8), byte(i)}) }
	id := func(i int) uint32 { return uint32(1000 + i%700) }
	for i := range n {
		if err := o.SetEndpoint(addr(i), id(i)); err != nil {
			t.Fatal(err)
		}
	}
	// a sample of endpoints in their buckets, and every one that is not
	var probe []int
	inTable, overflowed := 0, 0
	for i := range n {
		a := Addr16(addr(i))
		switch {
		case o.ep.overflowed(a) && !o.ep.holds(a):
			probe = append(probe, i)
			overflowed++
		case i%50 == 0:
			probe = append(probe, i)
			inTable++
		}
	}
	if overflowed == 0 || inTable == 0 {
		t.Fatalf("%d endpoints probed in the table, %d in the hash map only: want both", inTable, overflowed)
	}
	peerID := func(i int, sport uint16) uint32 {
		t.Helper()
		run(t, o.FromPod(), pkt{src: podA, dst: addr(i), proto: ProtoTCP, sport: sport, dport: 80, tcpFlags: syn})
		for _, e := range flows(t, o) {
			if e.Dst == addr(i) && e.SrcPort == sport {
				return e.DstID
			}
		}
		t.Fatalf("no flow to %v", addr(i))
		return 0
	}
	for _, i := range probe {
		if got := peerID(i, 40000); got != id(i) {
			t.Errorf("endpoint %d (%v, hash map only: %v): identity %d, want %d", i, addr(i), !o.ep.holds(Addr16(addr(i))), got, id(i))
		}
	}
	// an update and a deletion, of one endpoint of each kind
	for _, i := range []int{probe[0], probe[len(probe)-1]} {
		if err := o.SetEndpoint(addr(i), 4242); err != nil {
			t.Fatal(err)
		}
		if got := peerID(i, 40001); got != 4242 {
			t.Errorf("endpoint %d after update: identity %d, want 4242", i, got)
		}
		if err := o.DeleteEndpoint(addr(i)); err != nil {
			t.Fatal(err)
		}
		if got := peerID(i, 40002); got != IdentityWorld {
			t.Errorf("endpoint %d after deletion: identity %d, want world (%d)", i, got, IdentityWorld)
		}
	}
	// emptying an overflowing bucket's ways takes its spilled endpoints
	// back, and the bucket stops sending lookups to the hash map once
	// none are left there
	var spilled int
	for _, i := range probe {
		if a := Addr16(addr(i)); o.ep.overflowed(a) && !o.ep.holds(a) {
			spilled = i
			break
		}
	}
	bucketOf := func(i int) int {
		a0, a1 := epWords(Addr16(addr(i)))
		return epHash(a0, a1, len(o.ep.buckets))
	}
	var same []int
	for i := range n {
		if bucketOf(i) == bucketOf(spilled) && i != probe[0] && i != probe[len(probe)-1] {
			same = append(same, i)
		}
	}
	for len(same) > 0 {
		var held []int
		for _, i := range same {
			if o.ep.holds(Addr16(addr(i))) {
				held = append(held, i)
			}
		}
		if want := min(len(same), epWays); len(held) != want {
			t.Fatalf("bucket with %d endpoints holds %d, want %d", len(same), len(held), want)
		}
		if got, want := o.ep.overflowed(Addr16(addr(same[0]))), len(same) > epWays; got != want {
			t.Errorf("bucket with %d endpoints: overflow mark %v, want %v", len(same), got, want)
		}
		for _, i := range same {
			if got := peerID(i, uint16(41000+len(same))); got != id(i) {
				t.Errorf("endpoint %d in a bucket of %d: identity %d, want %d", i, len(same), got, id(i))
			}
		}
		if err := o.DeleteEndpoint(addr(held[0])); err != nil {
			t.Fatal(err)
		}
		same = slices.DeleteFunc(same, func(i int) bool { return i == held[0] })
	}
	t.Logf("probed %d endpoints in the table and %d in the hash map only", inTable, overflowed)
}

// overflowed reports whether a's bucket sends lookups to the hash map.
func (t *epTable) overflowed(a [16]byte) bool {
	a0, a1 := epWords(a)
	return atomic.LoadUint32(&t.buckets[epHash(a0, a1, len(t.buckets))].Seq)&epOverflow != 0
}

// holds reports whether a is in its table bucket.
func (t *epTable) holds(a [16]byte) bool {
	a0, a1 := epWords(a)
	return way(&t.buckets[epHash(a0, a1, len(t.buckets))], a0, a1) >= 0
}
