package recorder

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func answer(t testing.TB, q string, rrs ...dns.RR) []byte {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(q, dns.TypeA)
	m.Response = true
	m.Answer = rrs
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func rrA(name, ip string, ttl uint32) dns.RR {
	return &dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: ttl}, A: net.ParseIP(ip)}
}

func rrCNAME(name, target string) dns.RR {
	return &dns.CNAME{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: 60}, Target: target}
}

func TestParseDNSPayload(t *testing.T) {
	simple := answer(t, "api.example.com.", rrA("api.example.com.", "192.0.2.1", 30))
	chain := answer(t, "www.Shop.example.", rrCNAME("www.shop.example.", "edge.cdn.example."),
		rrCNAME("edge.cdn.example.", "e1.cdn.example."), rrA("e1.cdn.example.", "192.0.2.2", 20),
		rrA("unrelated.example.", "192.0.2.99", 20))
	aaaa := func() []byte {
		m := new(dns.Msg)
		m.SetQuestion("v6.example.", dns.TypeAAAA)
		m.Response = true
		m.Answer = []dns.RR{&dns.AAAA{Hdr: dns.RR_Header{Name: "v6.example.", Rrtype: dns.TypeAAAA, Class: dns.ClassINET, Ttl: 5}, AAAA: net.ParseIP("2001:db8::1")}}
		b, _ := m.Pack()
		return b
	}()
	nx := func() []byte {
		m := new(dns.Msg)
		m.SetQuestion("nope.example.", dns.TypeA)
		m.Response = true
		m.Rcode = dns.RcodeNameError
		b, _ := m.Pack()
		return b
	}()
	query := func() []byte {
		m := new(dns.Msg)
		m.SetQuestion("q.example.", dns.TypeA)
		b, _ := m.Pack()
		return b
	}()
	// A compression pointer that points at itself, in the answer's name.
	loop := append([]byte(nil), simple[:12]...)
	binary.BigEndian.PutUint16(loop[6:], 1) // one answer
	binary.BigEndian.PutUint16(loop[4:], 0) // no question
	loop = append(loop, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 1, 0, 4, 1, 2, 3, 4)
	tcp := func(msgs ...[]byte) []byte {
		var b []byte
		for _, m := range msgs {
			b = binary.BigEndian.AppendUint16(b, uint16(len(m)))
			b = append(b, m...)
		}
		return b
	}

	for _, tc := range []struct {
		name    string
		tcp     bool
		data    []byte
		wireLen int
		want    []DNSAnswer
		err     error
	}{
		{name: "a record", data: simple, want: []DNSAnswer{{"api.example.com", netip.MustParseAddr("192.0.2.1"), 30}}},
		{name: "cname chain names every hop, ignores unrelated", data: chain, want: []DNSAnswer{
			{"www.shop.example", netip.MustParseAddr("192.0.2.2"), 20},
			{"edge.cdn.example", netip.MustParseAddr("192.0.2.2"), 20},
			{"e1.cdn.example", netip.MustParseAddr("192.0.2.2"), 20},
		}},
		{name: "aaaa", data: aaaa, want: []DNSAnswer{{"v6.example", netip.MustParseAddr("2001:db8::1"), 5}}},
		{name: "tcp framing, two messages", tcp: true, data: tcp(simple, aaaa), want: []DNSAnswer{
			{"api.example.com", netip.MustParseAddr("192.0.2.1"), 30},
			{"v6.example", netip.MustParseAddr("2001:db8::1"), 5},
		}},
		{name: "nxdomain", data: nx, err: ErrDNSNotAnswer},
		{name: "query, not answer", data: query, err: ErrDNSNotAnswer},
		{name: "compression loop", data: loop, err: ErrDNSMalformed},
		{name: "truncated message", data: simple[:len(simple)-3], err: ErrDNSMalformed},
		{name: "short header", data: simple[:5], err: ErrDNSTruncated},
		{name: "capture shorter than the wire", data: simple, wireLen: len(simple) + 100, err: ErrDNSTruncated},
		{name: "tcp length beyond capture", tcp: true, data: tcp(simple)[:20], err: ErrDNSTruncated},
		{name: "garbage", data: []byte("HTTP/1.1 200 OK\r\n\r\n"), err: ErrDNSMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wl := tc.wireLen
			if wl == 0 {
				wl = len(tc.data)
			}
			got, err := ParseDNSPayload(tc.tcp, tc.data, wl)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestParseDNSBounds(t *testing.T) {
	// 1000 A records: only maxDNSRecords are looked at
	var rrs []dns.RR
	for i := range 1000 {
		rrs = append(rrs, rrA("many.example.", netip.AddrFrom4([4]byte{10, 9, byte(i >> 8), byte(i)}).String(), 60))
	}
	m := new(dns.Msg)
	m.SetQuestion("many.example.", dns.TypeA)
	m.Response = true
	m.Answer = rrs
	m.Compress = true
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseDNSPayload(true, binary.BigEndian.AppendUint16(nil, uint16(len(b))), 0)
	if !errors.Is(err, ErrDNSTruncated) {
		t.Fatalf("length prefix only: %v", err)
	}
	got, err = ParseDNSPayload(false, b, len(b))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != maxDNSRecords {
		t.Fatalf("%d answers, want the bound %d", len(got), maxDNSRecords)
	}
}

func TestDNSCache(t *testing.T) {
	c := NewDNSCache()
	now := time.Unix(1000, 0)
	ip := netip.MustParseAddr("192.0.2.1")
	changed := c.Add(now, []DNSAnswer{{"b.example", ip, 10}, {"a.example", ip, 10}})
	if !slices.Equal(changed, []netip.Addr{ip}) {
		t.Errorf("changed %v", changed)
	}
	if got := c.Add(now, []DNSAnswer{{"a.example", ip, 10}}); len(got) != 0 {
		t.Errorf("re-adding a known name changed %v", got)
	}
	if got := c.Names(ip, now); !slices.Equal(got, []string{"a.example", "b.example"}) {
		t.Errorf("names %v", got)
	}
	// names outlive the TTL by the grace period, then go
	if got := c.Names(ip, now.Add(10*time.Second+dnsGraceMinimum-time.Second)); len(got) != 2 {
		t.Errorf("within grace: %v", got)
	}
	if got := c.Names(ip, now.Add(10*time.Second+dnsGraceMinimum+time.Second)); len(got) != 0 {
		t.Errorf("after grace: %v", got)
	}
	// one address holds at most maxNamesPerIP names
	for i := range maxNamesPerIP + 10 {
		c.Add(now, []DNSAnswer{{Name: "n" + itoaTest(i) + ".example", IP: ip, TTL: 60}})
	}
	if got := c.Names(ip, now); len(got) != maxNamesPerIP {
		t.Errorf("%d names, want the bound %d", len(got), maxNamesPerIP)
	}
}

func itoaTest(i int) string { return netip.AddrFrom4([4]byte{0, 0, byte(i >> 8), byte(i)}).String() }
