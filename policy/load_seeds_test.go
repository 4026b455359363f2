package policy

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/posture-dev/posture/internal/testenv"
)

func seedDir(t *testing.T) string {
	return filepath.Join(testenv.SharedDir(t), "seeds", "examples")
}

// The seeds directory holds whole objects, fragments and Deployments; a
// strict load fails on exactly the one real mistake the loader can see.
func TestLoadSeedsStrict(t *testing.T) {
	_, err := LoadPath(seedDir(t))
	if err == nil {
		t.Fatal("seeds loaded without error; 19-deny-a-to-b.yaml has an unknown field")
	}
	want := "19-deny-a-to-b.yaml:10:3: spec.deny: unknown field \"deny\""
	if !strings.HasSuffix(err.Error(), want) || strings.Count(err.Error(), "\n") != 0 {
		t.Errorf("error %q, want exactly one ending in %q", err, want)
	}
}

func TestLoadSeedsFragments(t *testing.T) {
	res, err := Load(seedDir(t), LoadOptions{Fragments: true, Lenient: true})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{ // file -> kind/fragment of each policy
		"01-payments-api-deployment-and-cnp.yaml": "CiliumNetworkPolicy/",
		"02-dns-observe-no-deny.yaml":             "CiliumNetworkPolicy/",
		"03-payments-api-policy.yaml":             "CiliumNetworkPolicy/",
		"04-allow-within-namespace.yaml":          "CiliumNetworkPolicy/",
		"05-service-to-service-by-labels.yaml":    "CiliumNetworkPolicy/spec",
		"06-only-in-cluster-egress.yaml":          "CiliumNetworkPolicy/spec",
		"07-cross-namespace-requires.yaml":        "CiliumNetworkPolicy/sections",
		"08-to-services-clickhouse.yaml":          "CiliumNetworkPolicy/spec",
		"09-cidr-set-with-exception.yaml":         "CiliumNetworkPolicy/sections",
		"10-http-allow-list-toports.yaml":         "CiliumNetworkPolicy/peer-rule",
		"11-dns-interception-egress.yaml":         "CiliumNetworkPolicy/sections",
		"12-coreapi-deny-from-jobs.yaml":          "CiliumNetworkPolicy/",
		"13-crawler-deny-partner-cidr.yaml":       "CiliumNetworkPolicy/",
		"14-app-deny-world-http.yaml":             "CiliumNetworkPolicy/",
		"15-node-access-controls.yaml":            "CiliumClusterwideNetworkPolicy/",
		"16-coreapi-policy-get.json":              "CiliumNetworkPolicy/rule",
		"19-deny-a-to-b.yaml":                     "CiliumNetworkPolicy/",
		"20-allow-frontend-to-b.yaml":             "CiliumNetworkPolicy/",
	}
	got := map[string]string{}
	for _, p := range res.Policies {
		got[filepath.Base(p.Origin.File)] += p.Kind + "/" + p.Origin.Fragment
	}
	for f, w := range want {
		if got[f] != w {
			t.Errorf("%s: got %q, want %q", f, got[f], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("policies from %d files, want %d: %v", len(got), len(want), got)
	}
	var skipped []string
	for _, s := range res.Skipped {
		skipped = append(skipped, filepath.Base(s.File)+":"+s.Kind)
	}
	if strings.Join(skipped, " ") != "01-payments-api-deployment-and-cnp.yaml:Deployment 17-app-a-deployment.yaml:Deployment 18-app-b-deployment.yaml:Deployment" {
		t.Errorf("skipped %v", skipped)
	}
	if len(res.Errors) != 1 || res.Errors[0].Code != CodeUnknownField {
		t.Errorf("errors %v", res.Errors)
	}
	// Fragments keep the user's lines and paths: 07's fromRequires label.
	for _, p := range res.Policies {
		if filepath.Base(p.Origin.File) != "07-cross-namespace-requires.yaml" {
			continue
		}
		path := `spec.ingress[0].fromRequires[0].matchLabels["kubernetes.io/metadata.name"]`
		if line, _ := p.Origin.Position(path); line != 7 {
			t.Errorf("07 fromRequires label at line %d, want 7", line)
		}
		if d := p.Origin.DisplayPath(path); d != `ingress[0].fromRequires[0].matchLabels["kubernetes.io/metadata.name"]` {
			t.Errorf("display path %q", d)
		}
		if p.Spec.EndpointSelector == nil || p.Metadata.Name != "07-cross-namespace-requires" {
			t.Errorf("fragment not wrapped: %+v", p)
		}
	}
}

// Fragments are skipped, not loaded, unless asked for.
func TestLoadSkipsFragmentsByDefault(t *testing.T) {
	res, err := Load(filepath.Join(seedDir(t), "16-coreapi-policy-get.json"), LoadOptions{})
	if err != nil || len(res.Policies) != 0 || len(res.Skipped) != 1 || !strings.Contains(res.Skipped[0].Reason, "fragment") {
		t.Errorf("%v %+v", err, res)
	}
}
