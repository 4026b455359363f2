package policy

import (
	"net/netip"
	"testing"

	"github.com/posture-dev/posture/flow"
)

// Expectations follow Cilium's pkg/fqdn/matchpattern tests and docs.
func TestDNSPatterns(t *testing.T) {
	for _, c := range []struct {
		pattern string
		name    string
		want    bool
	}{
		{"*", "example.com", true},
		{"*", "a.b.c.example.com.", true},
		{"**.", "example.com", true},
		{"*.example.com", "www.example.com", true},
		{"*.example.com", "www.example.com.", true},
		{"*.example.com", "WWW.Example.COM", true},
		{"*.example.com", "example.com", false},
		{"*.example.com", "a.b.example.com", false},
		{"*.example.com", "wwwexample.com", false},
		{"www.*.com", "www.example.com", true},
		{"www.*.com", "www.a.b.com", false},
		{"sub*.example.com", "sub.example.com", true},
		{"sub*.example.com", "subzero.example.com", true},
		{"sub*.example.com", "xsub.example.com", false},
		{"**.example.com", "a.example.com", true},
		{"**.example.com", "a.b.c.example.com", true},
		{"**.example.com", "example.com", false},
		{"example.com", "example.com", true},
		{"example.com", "example.comx", false},
		{"exa_mple-1.com", "exa_mple-1.com", true},
	} {
		re, err := dnsPatternRegexp(c.pattern)
		if err != nil {
			t.Fatalf("%q: %v", c.pattern, err)
		}
		if got := re.MatchString(fqdnName(c.name)); got != c.want {
			t.Errorf("pattern %q on %q = %v, want %v (regexp %s)", c.pattern, c.name, got, c.want, re)
		}
	}
	for _, bad := range []string{"", "a b.com", "a/b", "ex(ample).com", "ünicode.com"} {
		if _, err := dnsPatternRegexp(bad); err == nil {
			t.Errorf("pattern %q accepted", bad)
		}
	}
	m, err := newDNSMatcher("API.Example.com", "")
	if err != nil || !m.matches(fqdnName("api.example.com")) || m.matches(fqdnName("x.api.example.com")) {
		t.Errorf("matchName: %v %+v", err, m)
	}
}

func TestCIDRSelector(t *testing.T) {
	mk := func(c string, except ...string) cidrSel {
		s, err := newCIDRSel(CIDRRule{CIDR: c, Except: except})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	for _, c := range []struct {
		sel  cidrSel
		ip   string
		id   flow.Identity
		want bool
	}{
		{mk("10.0.0.0/8"), "10.2.3.4", flow.IdentityWorld, true},
		{mk("10.0.0.0/8"), "11.2.3.4", flow.IdentityWorld, false},
		{mk("10.0.0.0/8", "10.96.0.0/12"), "10.96.0.1", flow.IdentityWorld, false},
		{mk("10.0.0.0/8", "10.96.0.0/12"), "10.95.0.1", flow.IdentityWorld, true},
		{mk("10.1.2.3"), "10.1.2.3", flow.IdentityWorld, true},
		{mk("10.1.2.3"), "10.1.2.4", flow.IdentityWorld, false},
		{mk("0.0.0.0/0"), "1.2.3.4", flow.IdentityWorld, true},
		{mk("0.0.0.0/0"), "2001:db8::1", flow.IdentityWorld, false},
		{mk("::/0"), "2001:db8::1", flow.IdentityWorld, true},
		{mk("0.0.0.0/0"), "", flow.IdentityWorld, true},
		{mk("0.0.0.0/0"), "", flow.IdentityWorldIPv6, false},
		{mk("::/0"), "", flow.IdentityWorld, false},
		{mk("::/0"), "", flow.IdentityWorldIPv6, true},
		{mk("10.0.0.0/8"), "", flow.IdentityWorld, false},
		{mk("2001:db8::/32"), "2001:db8::5", flow.IdentityWorld, true},
	} {
		var a netip.Addr
		if c.ip != "" {
			a = netip.MustParseAddr(c.ip)
		}
		if got := c.sel.matches(a, c.id); got != c.want {
			t.Errorf("%s matches %q (%d) = %v, want %v", c.sel.text, c.ip, c.id, got, c.want)
		}
	}
}

func TestSelectorSources(t *testing.T) {
	ls := flow.NewLabels("k8s:app=web", "reserved:host", "k8s:io.kubernetes.pod.namespace=a")
	for _, c := range []struct {
		sel  EndpointSelector
		want bool
	}{
		{EndpointSelector{MatchLabels: map[string]string{"app": "web"}}, true},
		{EndpointSelector{MatchLabels: map[string]string{"k8s:app": "web"}}, true},
		{EndpointSelector{MatchLabels: map[string]string{"any:app": "web"}}, true},
		{EndpointSelector{MatchLabels: map[string]string{"reserved:app": "web"}}, false},
		{EndpointSelector{MatchLabels: map[string]string{"reserved:host": ""}}, true},
		{EndpointSelector{MatchLabels: map[string]string{"$host": ""}}, true},
		{EndpointSelector{MatchExpressions: []LabelSelectorReq{{Key: "app", Operator: OpNotIn, Values: []string{"db"}}}}, true},
		{EndpointSelector{MatchExpressions: []LabelSelectorReq{{Key: "tier", Operator: OpNotIn, Values: []string{"db"}}}}, true},
		{EndpointSelector{MatchExpressions: []LabelSelectorReq{{Key: "tier", Operator: OpExists}}}, false},
		{EndpointSelector{MatchExpressions: []LabelSelectorReq{{Key: "tier", Operator: OpDoesNotExist}}}, true},
		{EndpointSelector{MatchExpressions: []LabelSelectorReq{{Key: "app", Operator: OpIn, Values: []string{"db", "web"}}}}, true},
	} {
		s, err := newLabelSel(&c.sel)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.matches(ls); got != c.want {
			t.Errorf("%v matches = %v, want %v", s.String(), got, c.want)
		}
	}
}
