package policy

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Every seed example is a case. "flag" lists the findings (severity and
// rule) the mistakes in the seeds' README must produce; nothing else of
// severity error or warning may appear. Warnings on files the README calls
// correct are only the minor issues it notes (DNS over UDP only).
func TestLintSeedExamples(t *testing.T) {
	cases := map[string][]string{
		// none
		"01-payments-api-deployment-and-cnp.yaml": nil,
		// none; minor: DNS rule is UDP-only
		"02-dns-observe-no-deny.yaml": {"warning dns-udp-only@18"},
		// none major; minor: DNS rule is UDP-only
		"03-payments-api-policy.yaml": {"warning dns-udp-only@31"},
		// egress section: egress default deny without DNS for the whole namespace
		"04-allow-within-namespace.yaml":       {"warning egress-default-deny-without-dns@10"},
		"05-service-to-service-by-labels.yaml": nil,
		"06-only-in-cluster-egress.yaml":       nil,
		// namespace label read as a pod label (and fromRequires is gone in newer Cilium)
		"07-cross-namespace-requires.yaml": {"error namespace-label-as-pod-label@7", "warning deprecated-requires@6"},
		// toServices on a selector-backed Service
		"08-to-services-clickhouse.yaml":  {"warning to-services-selector@7"},
		"09-cidr-set-with-exception.yaml": nil,
		"10-http-allow-list-toports.yaml": nil,
		// minor: UDP only
		"11-dns-interception-egress.yaml": {"warning dns-udp-only@8"},
		// namespace label as pod label; deny-only switches ingress to default deny
		"12-coreapi-deny-from-jobs.yaml": {"error namespace-label-as-pod-label@13", "warning deny-only-default-deny@10"},
		// deny-only egress: default deny side effect
		"13-crawler-deny-partner-cidr.yaml": {"warning deny-only-default-deny@10"},
		"14-app-deny-world-http.yaml":       {"warning deny-only-default-deny@10"},
		// host policy on every Linux node
		"15-node-access-controls.yaml": {"warning host-policy-all-nodes@6"},
		"16-coreapi-policy-get.json":   nil,
		"17-app-a-deployment.yaml":     nil,
		"18-app-b-deployment.yaml":     nil,
		// deny: is not a field; without it the rule has no section
		"19-deny-a-to-b.yaml": {"error unknown-field@10", "error empty-rule@6"},
		// ingress rule written backwards
		"20-allow-frontend-to-b.yaml": {"warning direction-mismatch@12"},
	}
	dir := seedDir(t)
	files, err := filepath.Glob(filepath.Join(dir, "*.*"))
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, f := range files {
		base := filepath.Base(f)
		if base == "README.md" {
			continue
		}
		want, ok := cases[base]
		if !ok {
			t.Errorf("seed %s has no case", base)
			continue
		}
		seen++
		t.Run(base, func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			rep := LintBytes(base, data)
			var got []string
			for _, fd := range rep.Findings {
				if fd.File != base || fd.Line < 1 || fd.Message == "" {
					t.Errorf("finding without location: %+v", fd)
				}
				if fd.Severity != SeverityInfo {
					got = append(got, fmt.Sprintf("%s %s@%d", fd.Severity, fd.Rule, fd.Line))
				}
			}
			slices.Sort(got)
			w := slices.Clone(want)
			slices.Sort(w)
			if !slices.Equal(got, w) {
				t.Errorf("findings %q, want %q\n%s", got, w, describeFindings(rep.Findings))
			}
		})
	}
	if seen != len(cases) {
		t.Errorf("saw %d seed files, have %d cases", seen, len(cases))
	}
}

func describeFindings(fs []Finding) string {
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "  %s %s %s %s: %s\n", f.Location(), f.Severity, f.Rule, f.Path, f.Message)
	}
	return b.String()
}
