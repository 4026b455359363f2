package policy

import (
	"fmt"
	"strconv"
	"strings"
)

// portRules calls fn for each allow port rule of a rule.
func portRules(r *Rule, rp string, fn func(pr *PortRule, path string, egress bool)) {
	for i := range r.Ingress {
		for j := range r.Ingress[i].ToPorts {
			fn(&r.Ingress[i].ToPorts[j], index(index(rp+".ingress", i)+".toPorts", j), false)
		}
	}
	for i := range r.Egress {
		for j := range r.Egress[i].ToPorts {
			fn(&r.Egress[i].ToPorts[j], index(index(rp+".egress", i)+".toPorts", j), true)
		}
	}
}

// numbers flags port numbers Cilium reads differently than they look
// ("010" is octal 8) and ICMP types no packet can carry.
func (l *linter) numbers(p *Policy, r *Rule, rp string) {
	ports := func(ps []PortProtocol, path string) {
		for k, pp := range ps {
			if n, msg := parsePort(pp.Port); msg == "" && n >= 0 && strconv.Itoa(n) != pp.Port {
				l.add(p, index(path+".ports", k)+".port", SeverityWarning, RulePortNumber, fmt.Sprintf("write %d", n),
					"port %q is read as %d (Cilium parses a leading 0 as octal and 0x as hex)", pp.Port, n)
			}
		}
	}
	icmps := func(rs []ICMPRule, path string) {
		for i, ir := range rs {
			for j, f := range ir.Fields {
				if !f.Type.IsStr && (f.Type.Int < 0 || f.Type.Int > 255) {
					l.add(p, index(index(path+".icmps", i)+".fields", j)+".type", SeverityWarning, RuleICMPType, "ICMP types are 0-255",
						"ICMP type %d matches no packet", f.Type.Int)
				}
			}
		}
	}
	for i, in := range r.Ingress {
		ip := index(rp+".ingress", i)
		for j := range in.ToPorts {
			ports(in.ToPorts[j].Ports, index(ip+".toPorts", j))
		}
		icmps(in.ICMPs, ip)
	}
	for i, in := range r.IngressDeny {
		ip := index(rp+".ingressDeny", i)
		for j := range in.ToPorts {
			ports(in.ToPorts[j].Ports, index(ip+".toPorts", j))
		}
		icmps(in.ICMPs, ip)
	}
	for i, eg := range r.Egress {
		ep := index(rp+".egress", i)
		for j := range eg.ToPorts {
			ports(eg.ToPorts[j].Ports, index(ep+".toPorts", j))
		}
		icmps(eg.ICMPs, ep)
	}
	for i, eg := range r.EgressDeny {
		ep := index(rp+".egressDeny", i)
		for j := range eg.ToPorts {
			ports(eg.ToPorts[j].Ports, index(ep+".toPorts", j))
		}
		icmps(eg.ICMPs, ep)
	}
}

func (l *linter) ports(p *Policy, r *Rule, rp string) {
	portRules(r, rp, func(pr *PortRule, path string, egress bool) {
		if pr.Rules == nil {
			return
		}
		for k, h := range pr.Rules.HTTP {
			if h.Path == "" || strings.HasPrefix(h.Path, "^") && strings.HasSuffix(h.Path, "$") {
				continue
			}
			core := strings.TrimSuffix(strings.TrimPrefix(h.Path, "^"), "$")
			l.add(p, index(path+".rules.http", k)+".path", SeverityWarning, RuleUnanchoredRegex,
				fmt.Sprintf("write ^%s$ for exactly this path, or ^%s(/.*)?$ to include everything below it", core, strings.TrimSuffix(core, "/")),
				"path %q is not anchored: Cilium matches the regular expression against the whole request path, so it never matches a longer path", h.Path)
		}
		if len(pr.Rules.DNS) == 0 || !egress {
			return
		}
		udp53, tcp53 := false, false
		for k, pp := range pr.Ports {
			n, _ := strconv.Atoi(pp.Port)
			covers := pp.Port == "53" || pp.Port == "" || pp.Port == "0" || pp.Port == "dns" || pp.Port == "domain" ||
				n > 0 && n <= 53 && int(pp.EndPort) >= 53
			if !covers {
				l.add(p, index(path+".ports", k)+".port", SeverityWarning, RuleDNSPort, `DNS servers listen on port 53`,
					"DNS rules on port %s: the DNS proxy only sees queries sent to this port", pp.Port)
				continue
			}
			switch pp.Protocol {
			case "UDP":
				udp53 = true
			case "TCP":
				tcp53 = true
			case "", "ANY":
				udp53, tcp53 = true, true
			}
		}
		if udp53 && !tcp53 {
			l.add(p, path+".ports", SeverityWarning, RuleDNSUDPOnly, `use protocol: ANY for port 53 (or add a TCP entry), as Cilium's FQDN examples do`,
				"DNS is allowed and proxied on UDP only: DNS over TCP/53 (the fallback for truncated answers) is not intercepted and, under egress default deny, dropped")
		}
	})
}
