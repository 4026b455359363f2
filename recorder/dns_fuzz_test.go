package recorder

import (
	"testing"
	"unicode/utf8"
)

// FuzzParseDNSPayload feeds hostile payloads to the DNS answer path: it
// must never panic, and whatever it returns must be bounded and sane.
func FuzzParseDNSPayload(f *testing.F) {
	f.Add(false, []byte{0, 1, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0,
		3, 'a', 'p', 'i', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0, 0, 1, 0, 1,
		0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4, 192, 0, 2, 1}, 0)
	f.Add(true, []byte{0, 12, 0, 1, 0x81, 0x80, 0, 0, 0, 0, 0, 0, 0, 0}, 0)
	f.Add(false, []byte{0, 1, 0x81, 0x80, 0, 0, 0, 1, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 1, 0, 4, 1, 2, 3, 4}, 0)
	f.Fuzz(func(t *testing.T, tcp bool, data []byte, extra int) {
		wire := len(data)
		if extra > 0 && extra < 1<<16 {
			wire += extra
		}
		as, err := ParseDNSPayload(tcp, data, wire)
		if err != nil && len(as) == 0 {
			return
		}
		if len(as) > maxDNSMessages*maxDNSRecords*maxCNAMEChain {
			t.Fatalf("%d answers from %d bytes", len(as), len(data))
		}
		for _, a := range as {
			// names are printable (the library escapes odd bytes as \DDD)
			if !a.IP.IsValid() || a.Name == "" || len(a.Name) > 4*255 || !utf8.ValidString(a.Name) {
				t.Fatalf("bad answer %+v", a)
			}
		}
	})
}
