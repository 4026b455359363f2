//go:build linux

package recorder

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"testing"

	"github.com/cilium/ebpf"

	"github.com/posture-dev/posture/internal/testenv"
)

// synFrame is an Ethernet/IPv4/TCP SYN from 10.219.a.b to 10.219.c.d.
func synFrame(src, dst [4]byte, sport, dport uint16) []byte {
	b := make([]byte, 14+20+20)
	b[12], b[13] = 0x08, 0x00
	ip := b[14:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], 40)
	ip[8] = 64
	ip[9] = 6
	copy(ip[12:], src[:])
	copy(ip[16:], dst[:])
	tcp := ip[20:]
	binary.BigEndian.PutUint16(tcp[0:], sport)
	binary.BigEndian.PutUint16(tcp[2:], dport)
	tcp[12] = 5 << 4
	tcp[13] = 0x02
	return b
}

// BenchmarkEdges: one export's scan of the kernel flow table and the
// edges built from it, with n flows between 100 client and 20 server
// pods (each connection a flow, as at one end of a veth).
func BenchmarkEdges(b *testing.B) {
	testenv.RequireRoot(b)
	for _, n := range []int{20000, 200000} {
		b.Run(fmt.Sprintf("flows=%d", n), func(b *testing.B) {
			var eps StaticSource
			for i := range 100 {
				eps = append(eps, Endpoint{IPs: []netip.Addr{netip.AddrFrom4([4]byte{10, 219, 0, byte(i + 1)})}, Namespace: "shop", Pod: fmt.Sprintf("client-%d", i), Labels: map[string]string{"app": fmt.Sprintf("client-%d", i%10)}})
			}
			for i := range 20 {
				eps = append(eps, Endpoint{IPs: []netip.Addr{netip.AddrFrom4([4]byte{10, 219, 1, byte(i + 1)})}, Namespace: "shop", Pod: fmt.Sprintf("server-%d", i), Labels: map[string]string{"app": fmt.Sprintf("server-%d", i%5)}})
			}
			r, err := New(Config{Source: eps})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { r.objs.Close() })
			if err := r.SetEndpoints(eps); err != nil {
				b.Fatal(err)
			}
			for i := range n {
				f := synFrame([4]byte{10, 219, 0, byte(1 + i%100)}, [4]byte{10, 219, 1, byte(1 + i/100%20)}, uint16(1024+i/2000), 8080)
				if _, err := r.objs.FromPod().Run(&ebpf.RunOptions{Data: f}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				edges, err := r.Edges()
				if err != nil {
					b.Fatal(err)
				}
				if len(edges) == 0 {
					b.Fatal("no edges")
				}
			}
		})
	}
}
