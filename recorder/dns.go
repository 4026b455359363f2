package recorder

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

// Bounds on what one DNS answer may contribute; a hostile server can send
// at most this much work per packet.
const (
	maxDNSMessages  = 4   // per TCP segment
	maxDNSRecords   = 256 // answer records looked at per message
	maxCNAMEChain   = 8
	maxNamesPerIP   = 64
	maxDNSCacheIPs  = 1 << 16
	dnsGraceMinimum = 5 * time.Minute
)

// DNSAnswer is one name -> address binding learned from an answer.
type DNSAnswer struct {
	Name string
	IP   netip.Addr
	TTL  uint32
}

// Reasons an answer is rejected, for metrics.
var (
	ErrDNSTruncated = errors.New("truncated dns message")
	ErrDNSMalformed = errors.New("malformed dns message")
	ErrDNSNotAnswer = errors.New("not a successful dns answer")
)

// ParseDNSPayload reads the answers in a captured DNS payload: one message
// for UDP, length-prefixed messages for TCP. captured may be shorter than
// wireLen (the kernel copies a bounded prefix).
func ParseDNSPayload(tcp bool, captured []byte, wireLen int) ([]DNSAnswer, error) {
	if !tcp {
		if len(captured) < wireLen {
			return nil, fmt.Errorf("%w: captured %d of %d bytes", ErrDNSTruncated, len(captured), wireLen)
		}
		return parseDNSMessage(captured)
	}
	var out []DNSAnswer
	b := captured
	for i := 0; len(b) > 0; i++ {
		if i == maxDNSMessages {
			break
		}
		if len(b) < 2 {
			return out, fmt.Errorf("%w: tcp length prefix cut", ErrDNSTruncated)
		}
		n := int(binary.BigEndian.Uint16(b))
		if len(b)-2 < n {
			return out, fmt.Errorf("%w: tcp message of %d bytes, %d captured", ErrDNSTruncated, n, len(b)-2)
		}
		as, err := parseDNSMessage(b[2 : 2+n])
		if err != nil {
			return out, err
		}
		out = append(out, as...)
		b = b[2+n:]
	}
	return out, nil
}

func parseDNSMessage(b []byte) ([]DNSAnswer, error) {
	if len(b) < 12 {
		return nil, fmt.Errorf("%w: %d-byte header", ErrDNSTruncated, len(b))
	}
	var m dns.Msg
	if err := m.Unpack(b); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrDNSMalformed, err)
	}
	if !m.Response || m.Opcode != dns.OpcodeQuery || m.Rcode != dns.RcodeSuccess || len(m.Question) != 1 {
		return nil, ErrDNSNotAnswer
	}
	cname := map[string]string{}
	type addr struct {
		owner string
		ip    netip.Addr
		ttl   uint32
	}
	var addrs []addr
	for i, rr := range m.Answer {
		if i == maxDNSRecords {
			break
		}
		h := rr.Header()
		owner := canonicalName(h.Name)
		switch r := rr.(type) {
		case *dns.CNAME:
			if _, dup := cname[owner]; !dup {
				cname[owner] = canonicalName(r.Target)
			}
		case *dns.A:
			if ip, ok := netip.AddrFromSlice(r.A.To4()); ok {
				addrs = append(addrs, addr{owner, ip, h.Ttl})
			}
		case *dns.AAAA:
			if ip, ok := netip.AddrFromSlice(r.AAAA.To16()); ok {
				addrs = append(addrs, addr{owner, ip.Unmap(), h.Ttl})
			}
		}
	}
	// The addresses answer the question through a CNAME chain: each name
	// on the way is a name of the address, as Cilium's FQDN proxy sees it.
	chain := []string{canonicalName(m.Question[0].Name)}
	for len(chain) < maxCNAMEChain {
		next, ok := cname[chain[len(chain)-1]]
		if !ok || slices.Contains(chain, next) {
			break
		}
		chain = append(chain, next)
	}
	var out []DNSAnswer
	for _, a := range addrs {
		i := slices.Index(chain, a.owner)
		if i < 0 {
			// not part of the answer to the question asked: ignore, as a
			// resolver would
			continue
		}
		for _, n := range chain[:i+1] {
			if n == "" {
				continue // the root: no policy names it
			}
			out = append(out, DNSAnswer{Name: n, IP: a.ip, TTL: a.ttl})
		}
	}
	return out, nil
}

// canonicalName lowercases and drops the root dot, as names appear in
// policies' matchName and in Hubble's destination names.
func canonicalName(n string) string {
	return strings.TrimSuffix(strings.ToLower(n), ".")
}

// DNSCache remembers which names resolved to which address. Names outlive
// their TTL by a grace period, since connections opened just before expiry
// still carry them.
type DNSCache struct {
	mu   sync.Mutex
	byIP map[netip.Addr]map[string]time.Time
}

// NewDNSCache returns an empty cache.
func NewDNSCache() *DNSCache {
	return &DNSCache{byIP: map[netip.Addr]map[string]time.Time{}}
}

// Add records answers seen at now; it reports the addresses that gained a
// name they did not have.
func (c *DNSCache) Add(now time.Time, as []DNSAnswer) []netip.Addr {
	c.mu.Lock()
	defer c.mu.Unlock()
	var changed []netip.Addr
	for _, a := range as {
		names := c.byIP[a.IP]
		if names == nil {
			if len(c.byIP) >= maxDNSCacheIPs {
				c.expireLocked(now)
				if len(c.byIP) >= maxDNSCacheIPs {
					continue
				}
			}
			names = map[string]time.Time{}
			c.byIP[a.IP] = names
		}
		until := now.Add(max(time.Duration(a.TTL)*time.Second, 0) + dnsGraceMinimum)
		old, had := names[a.Name]
		if !had && len(names) >= maxNamesPerIP {
			continue
		}
		if !had || until.After(old) {
			names[a.Name] = until
		}
		if !had && !slices.Contains(changed, a.IP) {
			changed = append(changed, a.IP)
		}
	}
	return changed
}

// Names returns the sorted names of ip still valid at now.
func (c *DNSCache) Names(ip netip.Addr, now time.Time) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for n, until := range c.byIP[ip] {
		if until.After(now) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// Len is the number of addresses known.
func (c *DNSCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.byIP)
}

func (c *DNSCache) expireLocked(now time.Time) {
	for ip, names := range c.byIP {
		for n, until := range names {
			if !until.After(now) {
				delete(names, n)
			}
		}
		if len(names) == 0 {
			delete(c.byIP, ip)
		}
	}
}

// IPs lists the addresses with names.
func (c *DNSCache) IPs() []netip.Addr {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]netip.Addr, 0, len(c.byIP))
	for ip := range c.byIP {
		out = append(out, ip)
	}
	return out
}
