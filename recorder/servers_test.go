//go:build linux

package recorder

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/posture-dev/posture/internal/testbed"
)

// serveHTTP runs an HTTP server inside pod on each port; it answers with
// the port number.
func serveHTTP(t *testing.T, pod *testbed.Pod, ports ...int) {
	t.Helper()
	for _, port := range ports {
		var ln net.Listener
		if err := pod.Do(func() (err error) {
			ln, err = net.Listen("tcp", ":"+strconv.Itoa(port))
			return err
		}); err != nil {
			t.Fatalf("listening in %s: %v", pod.Name, err)
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprint(w, port)
		}), ReadHeaderTimeout: 5 * time.Second}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
	}
}

// serveDNS runs an authoritative DNS server on UDP and TCP port 53 inside
// pod, answering A queries from records.
func serveDNS(t *testing.T, pod *testbed.Pod, records map[string]netip.Addr) {
	t.Helper()
	h := dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		m.Authoritative = true
		for _, qq := range q.Question {
			if ip, ok := records[qq.Name]; ok && qq.Qtype == dns.TypeA {
				m.Answer = append(m.Answer, &dns.A{
					Hdr: dns.RR_Header{Name: qq.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 300},
					A:   ip.AsSlice(),
				})
			}
		}
		if len(m.Answer) == 0 {
			m.Rcode = dns.RcodeNameError
		}
		_ = w.WriteMsg(m)
	})
	var (
		pc net.PacketConn
		ln net.Listener
	)
	addr := netip.AddrPortFrom(pod.IPv4, 53).String()
	if err := pod.Do(func() (err error) {
		if pc, err = net.ListenPacket("udp", addr); err != nil {
			return err
		}
		ln, err = net.Listen("tcp", addr)
		return err
	}); err != nil {
		t.Fatalf("dns listen: %v", err)
	}
	udp := &dns.Server{PacketConn: pc, Handler: h}
	tcp := &dns.Server{Listener: ln, Handler: h}
	go udp.ActivateAndServe()
	go tcp.ActivateAndServe()
	t.Cleanup(func() { udp.Shutdown(); tcp.Shutdown() })
}

// client makes connections from inside a pod.
type client struct {
	pod *testbed.Pod
}

func (c client) dial(network, addr string) (net.Conn, error) {
	var conn net.Conn
	err := c.pod.Do(func() (err error) {
		conn, err = net.DialTimeout(network, addr, 5*time.Second)
		return err
	})
	return conn, err
}

// get makes one HTTP request on a fresh connection and checks the answer.
func (c client) get(t *testing.T, ip netip.Addr, port int) {
	t.Helper()
	tr := &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(_ context.Context, network, addr string) (net.Conn, error) {
			return c.dial(network, addr)
		},
	}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	url := "http://" + netip.AddrPortFrom(ip, uint16(port)).String() + "/"
	resp, err := hc.Get(url)
	if err != nil {
		t.Fatalf("GET %s from %s: %v (audit posture must never block)", url, c.pod.Name, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(body) != strconv.Itoa(port) {
		t.Fatalf("GET %s: %d %q", url, resp.StatusCode, body)
	}
}

// resolve asks server for name over network ("udp" or "tcp") from a
// fresh socket.
func (c client) resolve(t *testing.T, network string, server netip.Addr, name string) netip.Addr {
	t.Helper()
	conn, err := c.dial(network, netip.AddrPortFrom(server, 53).String())
	if err != nil {
		t.Fatalf("dns dial: %v", err)
	}
	defer conn.Close()
	co := &dns.Conn{Conn: conn}
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(name), dns.TypeA)
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if err := co.WriteMsg(q); err != nil {
		t.Fatalf("dns query: %v", err)
	}
	m, err := co.ReadMsg()
	if err != nil {
		t.Fatalf("dns answer over %s: %v", network, err)
	}
	for _, rr := range m.Answer {
		if a, ok := rr.(*dns.A); ok {
			ip, _ := netip.AddrFromSlice(a.A.To4())
			return ip
		}
	}
	t.Fatalf("no A record for %s: %v", name, m)
	return netip.Addr{}
}

// ping sends one ICMP echo request and waits for the reply.
func (c client) ping(t *testing.T, dst netip.Addr, id uint16) {
	t.Helper()
	var pc net.PacketConn
	if err := c.pod.Do(func() (err error) {
		pc, err = net.ListenPacket("ip4:icmp", "0.0.0.0")
		return err
	}); err != nil {
		t.Fatalf("icmp socket: %v", err)
	}
	defer pc.Close()
	msg := []byte{8, 0, 0, 0, byte(id >> 8), byte(id), 0, 1, 'p', 's', 't'}
	binary.BigEndian.PutUint16(msg[2:], icmpChecksum(msg))
	if _, err := pc.WriteTo(msg, &net.IPAddr{IP: dst.AsSlice()}); err != nil {
		t.Fatalf("ping: %v", err)
	}
	pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 1500)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			t.Fatalf("ping %s: no reply: %v", dst, err)
		}
		if n >= 8 && buf[0] == 0 && binary.BigEndian.Uint16(buf[4:]) == id && from.String() == dst.String() {
			return
		}
	}
}

func icmpChecksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func errorsJoin(errs ...error) error { return errors.Join(errs...) }
