package policy

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

func (v *validator) icmps(rs []ICMPRule, nPorts int, path string) {
	if len(rs) > 0 && nPorts > 0 {
		v.fail(path+".icmps", CodeICMP, "put icmps and toPorts in separate rules", "icmps may only be used without toPorts")
	}
	for i, r := range rs {
		rp := index(path+".icmps", i)
		if len(r.Fields) > maxICMPFields {
			v.fail(rp+".fields", CodeICMP, "", "too many ICMP types (%d), the maximum is %d", len(r.Fields), maxICMPFields)
		}
		for j, f := range r.Fields {
			fp := index(rp+".fields", j)
			if f.Family != "" && f.Family != "IPv4" && f.Family != "IPv6" {
				v.fail(fp+".family", CodeICMP, "use IPv4 or IPv6", "invalid family %q", f.Family)
			}
			// The CRD's pattern applies to strings only; Cilium takes
			// any integer (lint warns about those outside 0-255).
			if f.Type.IsStr && !slices.Contains(icmpTypeNames, f.Type.Str) && !icmpNumberRE.MatchString(f.Type.Str) {
				v.fail(fp+".type", CodeICMP, "a number 0-255 or a name such as EchoRequest", "invalid ICMP type %s", icmpTypeString(f.Type))
			}
		}
	}
}

func icmpTypeString(t IntOrStr) string {
	if t.IsStr {
		return fmt.Sprintf("%q", t.Str)
	}
	return fmt.Sprint(t.Int)
}

func l7Empty(r *L7Rules) bool {
	return r == nil || len(r.HTTP) == 0 && len(r.Kafka) == 0 && len(r.DNS) == 0 && r.L7Proto == "" && len(r.L7) == 0
}

// ports checks a port list; dns says whether DNS rules apply to it.
func (v *validator) ports(ps []PortProtocol, path string, dns bool) (haveZero bool) {
	if len(ps) > maxPorts {
		v.fail(path+".ports", CodePort, "split the list into several toPorts entries", "too many ports (%d), the maximum is %d", len(ps), maxPorts)
	}
	for i, pp := range ps {
		p := index(path+".ports", i)
		proto := pp.Protocol
		switch {
		case proto == "" || slices.Contains(portProtocols, proto):
		case slices.Contains(extendedProtocols, proto):
			switch {
			case pp.Port == "":
				v.fail(p+".port", CodePort, "", "port must be specified (a portless %s rule needs Cilium's --enable-extended-ip-protocols)", proto)
			case pp.Port != "0" && !isSvcName(pp.Port):
				v.fail(p+".port", CodePort, "", "port must be empty or 0 for protocol %s", proto)
			}
			continue
		case strings.EqualFold(proto, "ICMP") || strings.EqualFold(proto, "ICMPv6"):
			v.fail(p+".protocol", CodeProtocol, "match ICMP with icmps: [ { fields: [ { type: 8 } ] } ] in the rule, not toPorts",
				"protocol %s is not allowed in toPorts", proto)
		case slices.Contains(append(portProtocols, extendedProtocols...), strings.ToUpper(proto)):
			v.fail(p+".protocol", CodeProtocol, "protocol names are upper-case: "+strings.ToUpper(proto), "invalid protocol %q", proto)
		default:
			v.fail(p+".protocol", CodeProtocol, "use TCP, UDP, SCTP or ANY", "invalid protocol %q", proto)
		}
		n, msg := parsePort(pp.Port)
		if msg != "" {
			v.fail(p+".port", CodePort, "", "%s", msg)
			continue
		}
		haveZero = haveZero || n == 0
		switch {
		case pp.EndPort < 0 || pp.EndPort > 65535:
			v.fail(p+".endPort", CodePort, "", "endPort %d is out of range 0-65535", pp.EndPort)
		case pp.EndPort != 0 && n >= 0 && int(pp.EndPort) < n:
			v.fail(p+".endPort", CodePort, "endPort is the last port of the range and must be >= port", "endPort %d is below port %d", pp.EndPort, n)
		case dns && pp.EndPort != 0 && n >= 0 && int(pp.EndPort) > n:
			v.fail(p+".endPort", CodePort, "list port 53 on its own", "DNS rules do not support port ranges")
		}
	}
	return haveZero
}

func (v *validator) portRule(pr *PortRule, path string) {
	r := pr.Rules
	dns := r != nil && len(r.DNS) > 0
	haveZero := v.ports(pr.Ports, path, dns)
	if pr.ServerNames != nil && len(pr.ServerNames) == 0 {
		v.fail(path+".serverNames", CodeValue, "remove serverNames or list at least one name", "serverNames must not be empty")
	}
	for i, s := range pr.ServerNames {
		if s == "" || len(s) > 255 || !crdFQDNPatternRE.MatchString(s) {
			v.fail(index(path+".serverNames", i), CodeValue, "", "invalid server name %q", s)
		}
	}
	if len(pr.ServerNames) > 0 && !l7Empty(r) && pr.TerminatingTLS == nil {
		v.fail(path+".serverNames", CodeL7, "add terminatingTLS or drop the L7 rules", "serverNames are not allowed with L7 rules without TLS termination")
	}
	for _, tls := range []struct {
		name string
		c    *TLSContext
	}{{"terminatingTLS", pr.TerminatingTLS}, {"originatingTLS", pr.OriginatingTLS}} {
		if tls.c != nil && (tls.c.Secret == nil || tls.c.Secret.Name == "") {
			v.fail(path+"."+tls.name, CodeValue, "", "%s needs secret.name", tls.name)
		}
	}
	if l := pr.Listener; l != nil {
		if !l7Empty(r) {
			v.fail(path+".listener", CodeL7, "", "listener is not allowed with L7 rules")
		}
		if l.Name == "" || l.EnvoyConfig.Name == "" {
			v.fail(path+".listener", CodeValue, "", "listener needs name and envoyConfig.name")
		}
		if k := l.EnvoyConfig.Kind; k != "" && k != "CiliumEnvoyConfig" && k != "CiliumClusterwideEnvoyConfig" {
			v.fail(path+".listener.envoyConfig.kind", CodeValue, "", "invalid envoyConfig kind %q", k)
		}
		if l.Priority < 0 || l.Priority > 100 {
			v.fail(path+".listener.priority", CodeValue, "", "listener priority must be 1-100")
		}
	}
	if r != nil && r.HTTP == nil && r.DNS == nil && r.Kafka == nil && r.L7Proto == "" && r.L7 == nil {
		v.fail(path+".rules", CodeL7, "remove rules, or add http or dns rules", "rules must contain http or dns rules")
	}
	if l7Empty(r) {
		return
	}
	rp := path + ".rules"
	if haveZero {
		v.fail(rp, CodeL7, "name the port the L7 protocol runs on", "L7 rules cannot be used when a port is 0 (any port)")
	}
	kinds := 0
	if r.HTTP != nil {
		kinds++
		for i := range r.HTTP {
			v.http(&r.HTTP[i], index(rp+".http", i))
		}
	}
	if r.DNS != nil {
		kinds++
		if len(pr.Ports) == 0 {
			v.fail(rp+".dns", CodeL7, `add ports: [ { port: "53", protocol: ANY } ]`, "port 53 must be specified for DNS rules")
		}
		for i, d := range r.DNS {
			if msg := fqdnProblem(d.MatchName, d.MatchPattern); msg != "" {
				v.fail(index(rp+".dns", i), CodeFQDN, "", "%s", msg)
			}
		}
	}
	if len(r.Kafka) > 0 || r.L7Proto != "" || len(r.L7) > 0 {
		kinds++
		v.fail(rp, CodeL7, "only http and dns rules remain in Cilium's CRD", "kafka and generic l7 rules are not supported by Cilium v1.20")
	}
	if kinds > 1 {
		v.fail(rp, CodeL7, "use one toPorts entry per L7 protocol", "multiple L7 protocol rule types in one port rule")
	}
	if !dns {
		for i, pp := range pr.Ports {
			if pp.Protocol != "TCP" {
				proto := pp.Protocol
				if proto == "" {
					proto = "ANY"
				}
				v.fail(index(path+".ports", i)+".protocol", CodeHTTPNonTCP, "set protocol: TCP on ports with HTTP rules",
					"L7 rules can only apply to TCP (not %s), except DNS rules", proto)
			}
		}
	}
}

func (v *validator) http(h *PortRuleHTTP, path string) {
	for _, f := range []struct{ name, re string }{{"path", h.Path}, {"method", h.Method}} {
		if f.re == "" {
			continue
		}
		if _, err := regexp.Compile(f.re); err != nil {
			v.fail(path+"."+f.name, CodeRegex, "", "invalid regular expression: %v", err)
		}
	}
	for i, m := range h.HeaderMatches {
		mp := index(path+".headerMatches", i)
		if m.Name == "" {
			v.fail(mp, CodeValue, "", "header name missing")
		}
		if m.Mismatch != "" && !slices.Contains([]string{"LOG", "ADD", "DELETE", "REPLACE"}, m.Mismatch) {
			v.fail(mp+".mismatch", CodeValue, "use LOG, ADD, DELETE or REPLACE", "invalid mismatch action %q", m.Mismatch)
		}
		if m.Secret != nil && m.Secret.Name == "" {
			v.fail(mp+".secret", CodeValue, "", "secret name missing")
		}
	}
}
