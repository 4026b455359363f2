package hubble

import (
	"slices"
	"strings"
	"time"

	"github.com/posture-dev/posture/flow"
)

// Names maps IPs to the DNS names that resolved to them, learned from the
// DNS answers Hubble's DNS proxy reports, so later flows to those IPs
// carry the names as Cilium's FQDN cache gives them to toFQDNs policy.
// An entry lives for the answer's TTL (at least MinTTL) from the answer's
// time; flows without timestamps never expire entries. Unlike Cilium the
// map is shared by all endpoints: an export rarely shows which endpoint's
// cache a name was in, and one workload resolving a name for another is
// not something a policy proposal should depend on.
type Names struct {
	MinTTL     time.Duration
	MaxEntries int
	m          map[string]nameEntry
}

type nameEntry struct {
	names   []string
	expires time.Time // zero: never
}

// Caps keep the map bounded by the number of distinct answer IPs.
const (
	DefaultMaxNameEntries = 1 << 16
	maxNamesPerIP         = 8
)

// NewNames returns an empty name map.
func NewNames() *Names {
	return &Names{MaxEntries: DefaultMaxNameEntries, m: map[string]nameEntry{}}
}

// Learn records the answer of a successful DNS response flow.
func (n *Names) Learn(f *flow.Flow) {
	d := f.DNS
	if d == nil || !d.Response || d.RCode != 0 || len(d.IPs) == 0 || d.Query == "" {
		return
	}
	name := strings.TrimSuffix(d.Query, ".")
	var exp time.Time
	if !f.Time.IsZero() {
		exp = f.Time.Add(max(time.Duration(d.TTL)*time.Second, n.MinTTL))
	}
	for _, ip := range d.IPs {
		e, ok := n.m[ip]
		if !ok && len(n.m) >= n.MaxEntries {
			n.evict(f.Time)
		}
		if ok && !e.expires.IsZero() && !f.Time.IsZero() && f.Time.After(e.expires) {
			ok = false // expired: the answer replaces it
		}
		switch {
		case !ok:
			e = nameEntry{expires: exp}
		case exp.IsZero():
			e.expires = exp
		case !e.expires.IsZero() && exp.After(e.expires):
			e.expires = exp
		}
		if !slices.Contains(e.names, name) && len(e.names) < maxNamesPerIP {
			e.names = append(slices.Clip(e.names), name)
		}
		n.m[ip] = e
	}
}

func (n *Names) evict(now time.Time) {
	for ip, e := range n.m {
		if !e.expires.IsZero() && !now.IsZero() && now.After(e.expires) {
			delete(n.m, ip)
		}
	}
	if len(n.m) >= n.MaxEntries {
		clear(n.m)
	}
}

// Annotate gives f's endpoints the names their IPs resolved from, where
// Hubble did not already name them.
func (n *Names) Annotate(f *flow.Flow) {
	if len(n.m) == 0 {
		return
	}
	n.annotate(&f.Destination, f.Time)
	n.annotate(&f.Source, f.Time)
}

func (n *Names) annotate(ep *flow.Endpoint, at time.Time) {
	if len(ep.Names) > 0 || ep.IP == "" {
		return
	}
	e, ok := n.m[ep.IP]
	if !ok || (!e.expires.IsZero() && !at.IsZero() && at.After(e.expires)) {
		return
	}
	ep.Names = e.names
}

// Len is the number of IPs with names.
func (n *Names) Len() int { return len(n.m) }
