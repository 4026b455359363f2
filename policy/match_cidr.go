package policy

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/posture-dev/posture/flow"
)

// cidrSel is a compiled toCIDR/toCIDRSet entry. Like Cilium's CIDR
// selector it only ever selects identities outside the cluster (those with
// a reserved:world label); pods, hosts and remote nodes are never
// selected by CIDR in Cilium's default configuration.
type cidrSel struct {
	prefix netip.Prefix
	except []netip.Prefix
	text   string
}

// parseCIDR accepts "10.0.0.0/8" or a bare address, as Cilium does.
func parseCIDR(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not a CIDR or IP address", s)
		}
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not a CIDR: %w", s, err)
	}
	return p.Masked(), nil
}

func newCIDRSel(c CIDRRule) (cidrSel, error) {
	p, err := parseCIDR(c.CIDR)
	if err != nil {
		return cidrSel{}, err
	}
	s := cidrSel{prefix: p, text: p.String()}
	for _, e := range c.Except {
		ep, err := parseCIDR(e)
		if err != nil {
			return cidrSel{}, fmt.Errorf("except: %w", err)
		}
		s.except = append(s.except, ep)
		s.text += " except " + ep.String()
	}
	return s, nil
}

// isWorldLabelled reports whether Cilium would give the endpoint's
// identity a reserved:world (or world-ipv4/-ipv6) label.
func isWorldLabelled(ep *flow.Endpoint) bool {
	if ep.Identity.IsWorld() || ep.Identity >= flow.IdentityMinLocal {
		return true
	}
	for _, l := range ep.Labels {
		if l.Source == flow.SourceReserved && (l.Key == "world" || l.Key == "world-ipv4" || l.Key == "world-ipv6") {
			return true
		}
	}
	return false
}

// matches decides for a world endpoint with address a (invalid when
// unknown). A zero-length prefix is Cilium's world label for its family:
// reserved:world on a single-stack cluster, world-ipv4/-ipv6 on a dual-stack
// one. Without an address, identity world counts as IPv4, the common
// single-stack case; longer prefixes need the address.
func (c *cidrSel) matches(a netip.Addr, id flow.Identity) bool {
	if c.prefix.Bits() == 0 {
		v4 := c.prefix.Addr().Is4()
		switch {
		case a.IsValid():
			if a.Unmap().Is4() != v4 {
				return false
			}
		case id == flow.IdentityWorldIPv4 || id == flow.IdentityWorld:
			if !v4 {
				return false
			}
		case id == flow.IdentityWorldIPv6:
			if v4 {
				return false
			}
		default:
			return false
		}
	} else if !a.IsValid() || !c.prefix.Contains(a.Unmap()) && !c.prefix.Contains(a) {
		return false
	}
	for _, e := range c.except {
		if e.Bits() == 0 {
			if !a.IsValid() || a.Unmap().Is4() == e.Addr().Is4() {
				return false
			}
			continue
		}
		if a.IsValid() && (e.Contains(a.Unmap()) || e.Contains(a)) {
			return false
		}
	}
	return true
}
