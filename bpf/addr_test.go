package bpf

import (
	"net/netip"
	"testing"
)

func TestPortPrefixes(t *testing.T) {
	for _, tc := range []struct{ lo, hi uint16 }{
		{80, 80}, {0, 65535}, {8000, 8100}, {1, 65534}, {1024, 65535}, {443, 444}, {65535, 65535}, {0, 0},
	} {
		ps := PortPrefixes(tc.lo, tc.hi)
		if len(ps) > 30 {
			t.Errorf("%d-%d: %d prefixes", tc.lo, tc.hi, len(ps))
		}
		covered := map[int]bool{}
		for _, p := range ps {
			size := 1 << (16 - p.Bits)
			if int(p.Port)%size != 0 {
				t.Errorf("%d-%d: unaligned prefix %+v", tc.lo, tc.hi, p)
			}
			for port := int(p.Port); port < int(p.Port)+size; port++ {
				if covered[port] {
					t.Errorf("%d-%d: port %d covered twice", tc.lo, tc.hi, port)
				}
				covered[port] = true
			}
		}
		for port := 0; port <= 65535; port++ {
			in := port >= int(tc.lo) && port <= int(tc.hi)
			if covered[port] != in {
				t.Fatalf("%d-%d: port %d covered=%v", tc.lo, tc.hi, port, covered[port])
			}
		}
	}
	if PortPrefixes(5, 4) != nil {
		t.Error("empty range gave prefixes")
	}
}

func TestCIDRPrefixLen(t *testing.T) {
	if got := CIDRPrefixLen(netip.MustParsePrefix("10.0.0.0/8")); got != 104 {
		t.Errorf("v4 /8 = %d", got)
	}
	if got := CIDRPrefixLen(netip.MustParsePrefix("fd00::/16")); got != 16 {
		t.Errorf("v6 /16 = %d", got)
	}
	a := netip.MustParseAddr("10.1.2.3")
	if AddrFrom16(Addr16(a)) != a {
		t.Error("v4 round trip")
	}
}
