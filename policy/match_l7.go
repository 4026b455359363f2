package policy

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/posture-dev/posture/flow"
)

// l7Rules are the compiled application-layer rules of one port rule. The
// proxy admits a request when any rule matches it.
type l7Rules struct {
	http  []httpRule
	dns   []dnsMatcher
	other string // an L7 kind posture cannot check (kafka, l7proto)
}

// httpRule matches like Envoy matches what Cilium gives it: method, path
// and host are RE2 regexes matched against the whole value; headers are
// literal.
type httpRule struct {
	method, path, host *regexp.Regexp
	headers            []string // "name" or "name value" entries, as written
	text               string
}

// fullMatch compiles an Envoy safe_regex, which must match the entire value.
func fullMatch(field, expr string) (*regexp.Regexp, error) {
	if expr == "" {
		return nil, nil
	}
	re, err := regexp.Compile(`^(?:` + expr + `)$`)
	if err != nil {
		return nil, fmt.Errorf("%s %q: %w", field, expr, err)
	}
	return re, nil
}

func newL7Rules(r *L7Rules) (*l7Rules, error) {
	if r == nil {
		return nil, nil
	}
	out := &l7Rules{}
	for i, h := range r.HTTP {
		var hr httpRule
		var err error
		if hr.method, err = fullMatch("method", h.Method); err != nil {
			return nil, fmt.Errorf("http[%d]: %w", i, err)
		}
		if hr.path, err = fullMatch("path", h.Path); err != nil {
			return nil, fmt.Errorf("http[%d]: %w", i, err)
		}
		if hr.host, err = fullMatch("host", h.Host); err != nil {
			return nil, fmt.Errorf("http[%d]: %w", i, err)
		}
		hr.headers = append(hr.headers, h.Headers...)
		for _, hm := range h.HeaderMatches {
			// A mismatch action (LOG, ADD, DELETE, REPLACE) rewrites or
			// logs instead of rejecting; only a bare match is a condition.
			if hm.Mismatch == "" {
				hr.headers = append(hr.headers, hm.Name+" "+hm.Value)
			}
		}
		var parts []string
		if h.Method != "" {
			parts = append(parts, h.Method)
		}
		if h.Path != "" {
			parts = append(parts, h.Path)
		}
		if h.Host != "" {
			parts = append(parts, "host "+h.Host)
		}
		if len(hr.headers) > 0 {
			parts = append(parts, "headers "+strings.Join(hr.headers, ", "))
		}
		if len(parts) == 0 {
			parts = append(parts, "any request")
		}
		hr.text = strings.Join(parts, " ")
		out.http = append(out.http, hr)
	}
	for i, d := range r.DNS {
		m, err := newDNSMatcher(d.MatchName, d.MatchPattern)
		if err != nil {
			return nil, fmt.Errorf("dns[%d]: %w", i, err)
		}
		out.dns = append(out.dns, m)
	}
	switch {
	case len(r.Kafka) > 0:
		out.other = "kafka"
	case r.L7Proto != "":
		out.other = r.L7Proto
	}
	if len(out.http) == 0 && len(out.dns) == 0 && out.other == "" {
		return nil, nil
	}
	return out, nil
}

// l7Verdict is the outcome of checking a flow's L7 data against rules.
type l7Verdict uint8

const (
	l7Allowed   l7Verdict = iota // a rule admits the request
	l7Rejected                   // the proxy would reject the request
	l7Unchecked                  // the flow carries no L7 data of this kind: allowed at L4
)

// check evaluates the flow's HTTP request or DNS query against the rules.
func (r *l7Rules) check(f *flow.Flow) l7Verdict {
	switch {
	case len(r.http) > 0:
		if f.HTTP == nil || f.HTTP.Method == "" {
			return l7Unchecked
		}
		for i := range r.http {
			if r.http[i].matches(f.HTTP) {
				return l7Allowed
			}
		}
		return l7Rejected
	case len(r.dns) > 0:
		if f.DNS == nil || f.DNS.Query == "" {
			return l7Unchecked
		}
		q := fqdnName(f.DNS.Query)
		for i := range r.dns {
			if r.dns[i].matches(q) {
				return l7Allowed
			}
		}
		return l7Rejected
	}
	return l7Unchecked
}

// matches requires every given field to match. Header conditions cannot be
// confirmed from a flow record (it carries no headers), so a rule with
// header conditions does not admit the request.
func (h *httpRule) matches(req *flow.HTTP) bool {
	if h.method != nil && !h.method.MatchString(req.Method) {
		return false
	}
	if h.path != nil && !h.path.MatchString(req.Path) {
		return false
	}
	if h.host != nil && !h.host.MatchString(req.Host) {
		return false
	}
	return len(h.headers) == 0
}

func (r *l7Rules) kind() string {
	switch {
	case len(r.http) > 0:
		return "HTTP"
	case len(r.dns) > 0:
		return "DNS"
	}
	return r.other
}
