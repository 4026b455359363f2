package policy

import (
	"fmt"
	"regexp"
	"strings"
)

// Cilium's DNS pattern language (pkg/fqdn/matchpattern): names and
// patterns are lower-cased and fully qualified; '*' matches any run of DNS
// characters inside one label (never a '.'); a leading "**." matches one or
// more whole labels; a pattern made only of '*' (optionally ending in '.')
// matches every name.
const (
	dnsChars        = "[-a-zA-Z0-9_]"
	dnsSubdomainsRE = "(" + dnsChars + "+([.]" + dnsChars + "+){0,})[.]"
	dnsMatchAllRE   = "(^(" + dnsChars + "+[.])+$)|(^[.]$)"
)

var (
	reAllStars        = regexp.MustCompile(`^[*]{1,}[.]?$`)
	rePatternChars    = regexp.MustCompile(`^[-a-zA-Z0-9_.*]+$`)
	reNameChars       = regexp.MustCompile(`^[-a-zA-Z0-9_.]+$`)
	reSubdomainPrefix = regexp.MustCompile(`^[*]{2,}\[\.\]`)
	reStars           = regexp.MustCompile(`[*]{1,}`)
)

// fqdnName lower-cases a DNS name and adds the trailing dot.
func fqdnName(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

// dnsPatternRegexp turns a matchPattern into the anchored regular
// expression Cilium uses.
func dnsPatternRegexp(pattern string) (*regexp.Regexp, error) {
	p := strings.ToLower(strings.TrimSpace(pattern))
	if len(p) > 255 {
		return nil, fmt.Errorf("matchPattern %q is longer than 255 characters", pattern)
	}
	if p == "" || !rePatternChars.MatchString(p) {
		return nil, fmt.Errorf("matchPattern %q: only 0-9, a-z, A-Z, '.', '-', '_' and '*' are allowed", pattern)
	}
	if reAllStars.MatchString(p) {
		return regexp.MustCompile(dnsMatchAllRE), nil
	}
	if !strings.HasSuffix(p, ".") {
		p += "."
	}
	p = strings.ReplaceAll(p, ".", "[.]")
	p = reSubdomainPrefix.ReplaceAllString(p, dnsSubdomainsRE)
	p = reStars.ReplaceAllString(p, dnsChars+"*")
	return regexp.Compile("^" + p + "$")
}

// dnsMatcher is a compiled matchName or matchPattern.
type dnsMatcher struct {
	name string         // fully qualified, lower-case; "" when re is set
	re   *regexp.Regexp // nil for matchName
	text string
	// label is the key of the fqdn: identity label Cilium gives the
	// addresses this selector selected (matchName or matchPattern as
	// written); Hubble shows it on such flows.
	label string
}

func newDNSMatcher(matchName, matchPattern string) (dnsMatcher, error) {
	switch {
	case matchName != "" && matchPattern != "":
		return dnsMatcher{}, fmt.Errorf("only one of matchName and matchPattern may be set")
	case matchName != "":
		n := strings.TrimSpace(matchName)
		if len(n) > 255 || !reNameChars.MatchString(n) {
			return dnsMatcher{}, fmt.Errorf("matchName %q is not a valid DNS name", matchName)
		}
		return dnsMatcher{name: fqdnName(n), text: "matchName " + matchName, label: matchName}, nil
	case matchPattern != "":
		re, err := dnsPatternRegexp(matchPattern)
		if err != nil {
			return dnsMatcher{}, err
		}
		return dnsMatcher{re: re, text: "matchPattern " + matchPattern, label: matchPattern}, nil
	}
	return dnsMatcher{}, fmt.Errorf("one of matchName and matchPattern is required")
}

// matches takes a name already passed through fqdnName.
func (m *dnsMatcher) matches(fq string) bool {
	if m.re == nil {
		return m.name == fq
	}
	return m.re.MatchString(fq)
}
