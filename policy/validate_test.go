package policy

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// specDoc is a CNP whose spec body is given, indented by two spaces.
func specDoc(body string) string {
	return "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata:\n  name: v\n  namespace: ns\nspec:\n" + body
}

func validateOne(t *testing.T, src string) ErrorList {
	t.Helper()
	ps, err := LoadBytes("v.yaml", []byte(src))
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if len(ps) != 1 {
		t.Fatalf("%d policies", len(ps))
	}
	err = Validate(ps[0])
	if err == nil {
		return nil
	}
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("not an ErrorList: %v", err)
	}
	return list
}

func TestValidateRejects(t *testing.T) {
	cases := []struct {
		name, src string
		want      string // "line:code:path: message substring"
	}{
		{"no sections", specDoc("  endpointSelector: {}\n"),
			"6:empty-rule:spec: rule must have at least one of"},
		{"empty lists are no sections", specDoc("  endpointSelector: {}\n  ingress: []\n"),
			"6:empty-rule:spec: rule must have at least one"},
		{"no selector", specDoc("  ingress: [{}]\n"),
			"6:invalid-selector:spec: rule must have one of endpointSelector or nodeSelector"},
		{"both selectors", "apiVersion: cilium.io/v2\nkind: CiliumClusterwideNetworkPolicy\nmetadata: {name: c}\nspec:\n  endpointSelector: {}\n  nodeSelector: {}\n  ingress: [{}]\n",
			"6:invalid-selector:spec.nodeSelector: rule cannot have both"},
		{"nodeSelector in CNP", specDoc("  nodeSelector: {}\n  ingress: [{}]\n"),
			"7:invalid-selector:spec.nodeSelector: a CiliumNetworkPolicy cannot have nodeSelector"},
		{"no spec", "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: x}\n",
			"1:missing-spec:: spec or specs must be provided"},
		{"no name", "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {namespace: x}\nspec: {endpointSelector: {}, ingress: [{}]}\n",
			"3:invalid-name:metadata.name: metadata.name is required"},
		{"bad name", "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: Allow_Web}\nspec: {endpointSelector: {}, ingress: [{}]}\n",
			`3:invalid-name:metadata.name: invalid name "Allow_Web"`},
		{"port out of range", specDoc("  endpointSelector: {}\n  ingress:\n  - toPorts: [{ports: [{port: \"70000\"}]}]\n"),
			"9:invalid-port:spec.ingress[0].toPorts[0].ports[0].port: port 70000 is out of range"},
		{"port with protocol suffix", specDoc("  endpointSelector: {}\n  ingress:\n  - toPorts: [{ports: [{port: \"80/TCP\"}]}]\n"),
			`9:invalid-port:spec.ingress[0].toPorts[0].ports[0].port: port "80/TCP" is neither`},
		{"missing port", specDoc("  endpointSelector: {}\n  ingress:\n  - toPorts: [{ports: [{protocol: TCP}]}]\n"),
			"9:invalid-port:spec.ingress[0].toPorts[0].ports[0].port: port must be specified"},
		{"endPort below port", specDoc("  endpointSelector: {}\n  egress:\n  - toPorts:\n    - ports:\n      - port: \"9000\"\n        endPort: 8000\n"),
			"12:invalid-port:spec.egress[0].toPorts[0].ports[0].endPort: endPort 8000 is below port 9000"},
		{"lower-case protocol", specDoc("  endpointSelector: {}\n  ingress:\n  - toPorts: [{ports: [{port: \"80\", protocol: tcp}]}]\n"),
			`9:invalid-protocol:spec.ingress[0].toPorts[0].ports[0].protocol: invalid protocol "tcp"`},
		{"icmp as port protocol", specDoc("  endpointSelector: {}\n  ingress:\n  - toPorts: [{ports: [{port: \"0\", protocol: ICMP}]}]\n"),
			"9:invalid-protocol:spec.ingress[0].toPorts[0].ports[0].protocol: protocol ICMP is not allowed in toPorts"},
		{"http on udp", specDoc("  endpointSelector: {}\n  ingress:\n  - toPorts:\n    - ports: [{port: \"80\", protocol: UDP}]\n      rules: {http: [{path: \"^/$\"}]}\n"),
			"10:http-non-tcp:spec.ingress[0].toPorts[0].ports[0].protocol: L7 rules can only apply to TCP (not UDP)"},
		{"http on any", specDoc("  endpointSelector: {}\n  ingress:\n  - toPorts:\n    - ports: [{port: \"80\"}]\n      rules: {http: [{}]}\n"),
			"10:http-non-tcp:spec.ingress[0].toPorts[0].ports[0].protocol: L7 rules can only apply to TCP (not ANY)"},
		{"l7 on port 0", specDoc("  endpointSelector: {}\n  ingress:\n  - toPorts:\n    - ports: [{port: \"0\", protocol: TCP}]\n      rules: {http: [{}]}\n"),
			"11:l7-not-allowed:spec.ingress[0].toPorts[0].rules: L7 rules cannot be used when a port is 0"},
		{"dns on ingress", specDoc("  endpointSelector: {}\n  ingress:\n  - toPorts:\n    - ports: [{port: \"53\", protocol: UDP}]\n      rules: {dns: [{matchPattern: \"*\"}]}\n"),
			"11:l7-not-allowed:spec.ingress[0].toPorts[0].rules.dns: DNS rules are not allowed on ingress"},
		{"dns without ports", specDoc("  endpointSelector: {}\n  egress:\n  - toPorts:\n    - rules: {dns: [{matchPattern: \"*\"}]}\n"),
			"10:l7-not-allowed:spec.egress[0].toPorts[0].rules.dns: port 53 must be specified"},
		{"dns port range", specDoc("  endpointSelector: {}\n  egress:\n  - toPorts:\n    - ports: [{port: \"53\", endPort: 54, protocol: UDP}]\n      rules: {dns: [{matchPattern: \"*\"}]}\n"),
			"10:invalid-port:spec.egress[0].toPorts[0].ports[0].endPort: DNS rules do not support port ranges"},
		{"http and dns together", specDoc("  endpointSelector: {}\n  egress:\n  - toPorts:\n    - ports: [{port: \"53\", protocol: TCP}]\n      rules: {dns: [{matchPattern: \"*\"}], http: [{}]}\n"),
			"11:l7-not-allowed:spec.egress[0].toPorts[0].rules: multiple L7 protocol rule types"},
		{"l7 on host", "apiVersion: cilium.io/v2\nkind: CiliumClusterwideNetworkPolicy\nmetadata: {name: h}\nspec:\n  nodeSelector: {}\n  ingress:\n  - toPorts:\n    - ports: [{port: \"80\", protocol: TCP}]\n      rules: {http: [{}]}\n",
			"9:l7-not-allowed:spec.ingress[0].toPorts[0].rules: L7 rules are not supported in host policies"},
		{"bad regex", specDoc("  endpointSelector: {}\n  ingress:\n  - toPorts:\n    - ports: [{port: \"80\", protocol: TCP}]\n      rules: {http: [{path: \"^/(a$\"}]}\n"),
			"11:invalid-regex:spec.ingress[0].toPorts[0].rules.http[0].path: invalid regular expression"},
		{"bare IP as CIDR", specDoc("  endpointSelector: {}\n  egress:\n  - toCIDR: [10.0.0.1]\n"),
			`9:invalid-cidr:spec.egress[0].toCIDR[0]: "10.0.0.1" is an address, not a CIDR`},
		{"except outside cidr", specDoc("  endpointSelector: {}\n  egress:\n  - toCIDRSet:\n    - cidr: 203.0.113.0/24\n      except: [203.0.114.0/25]\n"),
			"11:invalid-cidr:spec.egress[0].toCIDRSet[0].except[0]: except 203.0.114.0/25 is not inside 203.0.113.0/24"},
		{"except wider than cidr", specDoc("  endpointSelector: {}\n  egress:\n  - toCIDRSet:\n    - cidr: 203.0.113.0/24\n      except: [203.0.0.0/16]\n"),
			"11:invalid-cidr:spec.egress[0].toCIDRSet[0].except[0]: except 203.0.0.0/16 is not inside"},
		{"except other family", specDoc("  endpointSelector: {}\n  egress:\n  - toCIDRSet:\n    - cidr: 0.0.0.0/0\n      except: [\"::/1\"]\n"),
			"11:invalid-cidr:spec.egress[0].toCIDRSet[0].except[0]: except ::/1 is not inside"},
		{"cidr set without cidr", specDoc("  endpointSelector: {}\n  egress:\n  - toCIDRSet: [{except: [10.0.0.0/8]}]\n"),
			"9:invalid-cidr:spec.egress[0].toCIDRSet[0]: exactly one of cidr"},
		{"unknown entity", specDoc("  endpointSelector: {}\n  egress:\n  - toEntities: [internet]\n"),
			`9:invalid-entity:spec.egress[0].toEntities[0]: unknown entity "internet"`},
		{"fqdn charset", specDoc("  endpointSelector: {}\n  egress:\n  - toFQDNs: [{matchName: \"https://api.example.com\"}]\n"),
			`9:invalid-fqdn:spec.egress[0].toFQDNs[0]: invalid matchName "https://api.example.com"`},
		{"fqdn both", specDoc("  endpointSelector: {}\n  egress:\n  - toFQDNs: [{matchName: a.com, matchPattern: \"*.a.com\"}]\n"),
			"9:invalid-fqdn:spec.egress[0].toFQDNs[0]: only one of matchName and matchPattern"},
		{"fqdn empty", specDoc("  endpointSelector: {}\n  egress:\n  - toFQDNs: [{}]\n"),
			"9:invalid-fqdn:spec.egress[0].toFQDNs[0]: one of matchName or matchPattern is required"},
		{"combined peers", specDoc("  endpointSelector: {}\n  ingress:\n  - fromEndpoints: [{}]\n    fromEntities: [world]\n"),
			"10:combined-peers:spec.ingress[0].fromEntities: combining fromEndpoints and fromEntities"},
		{"fqdn with endpoints", specDoc("  endpointSelector: {}\n  egress:\n  - toEndpoints: [{}]\n    toFQDNs: [{matchName: a.com}]\n"),
			"10:combined-peers:spec.egress[0].toFQDNs: combining toEndpoints and toFQDNs"},
		{"icmp with ports", specDoc("  endpointSelector: {}\n  ingress:\n  - icmps: [{fields: [{type: 8}]}]\n    toPorts: [{ports: [{port: \"80\"}]}]\n"),
			"9:invalid-icmp:spec.ingress[0].icmps: icmps may only be used without toPorts"},
		{"icmp type", specDoc("  endpointSelector: {}\n  ingress:\n  - icmps: [{fields: [{type: Ping}]}]\n"),
			`9:invalid-icmp:spec.ingress[0].icmps[0].fields[0].type: invalid ICMP type "Ping"`},
		{"label key", specDoc("  endpointSelector:\n    matchLabels: {\"a:b:c\": x}\n  ingress: [{}]\n"),
			`8:invalid-selector:spec.endpointSelector.matchLabels["a:b:c"]: invalid label key`},
		{"label value", specDoc("  endpointSelector:\n    matchLabels: {app: \"my app\"}\n  ingress: [{}]\n"),
			`8:invalid-selector:spec.endpointSelector.matchLabels.app: invalid value "my app"`},
		{"operator", specDoc("  endpointSelector:\n    matchExpressions: [{key: app, operator: Equals, values: [a]}]\n  ingress: [{}]\n"),
			`8:invalid-selector:spec.endpointSelector.matchExpressions[0].operator: invalid operator "Equals"`},
		{"In without values", specDoc("  endpointSelector:\n    matchExpressions: [{key: app, operator: In}]\n  ingress: [{}]\n"),
			"8:invalid-selector:spec.endpointSelector.matchExpressions[0].values: values must be given"},
		{"Exists with values", specDoc("  endpointSelector:\n    matchExpressions: [{key: app, operator: Exists, values: [a]}]\n  ingress: [{}]\n"),
			"8:invalid-selector:spec.endpointSelector.matchExpressions[0].values: values must be empty"},
		{"kafka", specDoc("  endpointSelector: {}\n  ingress:\n  - toPorts:\n    - ports: [{port: \"9092\", protocol: TCP}]\n      rules: {kafka: [{topic: t}]}\n"),
			"11:l7-not-allowed:spec.ingress[0].toPorts[0].rules: kafka and generic l7 rules are not supported"},
		{"specs entry", "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: s}\nspecs:\n- endpointSelector: {}\n  ingress: [{}]\n- endpointSelector: {}\n",
			"7:empty-rule:specs[1]: rule must have at least one"},
		{"port with a leading zero", specDoc("  endpointSelector: {}\n  ingress:\n  - toPorts: [{ports: [{port: \"08\"}]}]\n"),
			`9:invalid-port:spec.ingress[0].toPorts[0].ports[0].port: port "08" cannot be read: a leading 0 makes it octal`},
		{"empty rules", specDoc("  endpointSelector: {}\n  ingress:\n  - toPorts: [{ports: [{port: \"80\", protocol: TCP}], rules: {}}]\n"),
			"9:l7-not-allowed:spec.ingress[0].toPorts[0].rules: rules must contain http or dns rules"},
		{"empty serverNames", specDoc("  endpointSelector: {}\n  egress:\n  - toPorts: [{ports: [{port: \"443\", protocol: TCP}], serverNames: []}]\n"),
			"9:invalid-field-value:spec.egress[0].toPorts[0].serverNames: serverNames must not be empty"},
		{"extended protocol without port", specDoc("  endpointSelector: {}\n  egress:\n  - toPorts: [{ports: [{protocol: VRRP}]}]\n"),
			"9:invalid-port:spec.egress[0].toPorts[0].ports[0].port: port must be specified (a portless VRRP rule"},
		{"extended protocol with a port", specDoc("  endpointSelector: {}\n  egress:\n  - toPorts: [{ports: [{port: \"80\", protocol: GRE}]}]\n"),
			"9:invalid-port:spec.egress[0].toPorts[0].ports[0].port: port must be empty or 0 for protocol GRE"},
		{"too many ports", specDoc("  endpointSelector: {}\n  ingress:\n  - toPorts:\n    - ports: [" + strings.Repeat("{port: \"1\"},", 41) + "]\n"),
			"10:invalid-port:spec.ingress[0].toPorts[0].ports: too many ports (41)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			errs := validateOne(t, c.src)
			var got []string
			for _, e := range errs {
				s := strings.Join([]string{strconv.Itoa(e.Line), e.Code, e.Path + ": " + e.Msg}, ":")
				got = append(got, s)
				if strings.HasPrefix(s, c.want) {
					if e.File != "v.yaml" {
						t.Errorf("file %q", e.File)
					}
					return
				}
			}
			t.Errorf("want %q, got %q", c.want, got)
		})
	}
}

func TestValidateAccepts(t *testing.T) {
	data, err := os.ReadFile("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ps, err := LoadBytes("full.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if err := Validate(p); err != nil {
			t.Errorf("%s: %v", p.Metadata.Name, err)
		}
	}
	ok := []string{
		specDoc("  endpointSelector: {}\n  ingress:\n  - toPorts: [{ports: [{port: http-alt, protocol: TCP}, {port: \"0\"}, {port: \"65535\", protocol: SCTP}]}]\n"),
		specDoc("  endpointSelector:\n    matchLabels: {\"k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name\": jobs, \"reserved:host\": \"\"}\n  ingress: [{}]\n"),
		specDoc("  endpointSelector: {}\n  egress:\n  - toCIDR: [\"2001:db8::/32\"]\n  - toCIDRSet: [{cidrGroupRef: partners}]\n"),
		specDoc("  endpointSelector: {}\n  egress:\n  - toPorts:\n    - ports: [{port: \"53\", protocol: UDP}, {port: \"53\", protocol: TCP}]\n      rules: {dns: [{matchPattern: \"*\"}, {matchPattern: \"**.example.com\"}, {matchName: \"example.com.\"}]}\n"),
		specDoc("  endpointSelector: {}\n  ingressDeny:\n  - fromEntities: [world]\n    toPorts: [{ports: [{port: \"22\"}]}]\n"),
		specDoc("  endpointSelector: {}\n  ingress:\n  - fromEndpoints: [{}]\n    fromRequires: [{matchLabels: {env: prod}}]\n"),
		// What Cilium v1.20 accepts although it looks odd (checked against
		// its CRD schema and Parse): octal and hex-looking ports, named
		// ports with extended protocols, ICMP types outside 0-255 given as
		// numbers, toServices naming nothing, DNS on a named port range.
		specDoc("  endpointSelector: {}\n  ingress:\n  - toPorts: [{ports: [{port: \"010\"}, {port: \"0x10\"}, {port: \"1_000\"}, {port: vrrp-port, protocol: VRRP}, {port: \"0\", protocol: GRE}]}]\n"),
		specDoc("  endpointSelector: {}\n  ingress:\n  - icmps: [{fields: [{type: 256}, {type: \"8\"}]}]\n"),
		specDoc("  endpointSelector: {}\n  egress:\n  - toServices: [{}, {k8sService: {namespace: a}}]\n"),
		specDoc("  endpointSelector: {}\n  egress:\n  - toPorts: [{ports: [{port: dns, endPort: 60, protocol: UDP}], rules: {dns: [{matchPattern: \"*\"}]}}]\n"),
	}
	for _, src := range ok {
		if errs := validateOne(t, src); errs != nil {
			t.Errorf("rejected:\n%s\n%v", src, errs)
		}
	}
}

// Every seed example passes validation except 19, whose "deny" field is
// unknown: once dropped (as an older API server prunes it), the rule has
// no section left, which Cilium rejects.
func TestValidateSeeds(t *testing.T) {
	res, err := Load(seedDir(t), LoadOptions{Fragments: true, Lenient: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range res.Policies {
		err := Validate(p)
		base := filepath.Base(p.Origin.File)
		if base == "19-deny-a-to-b.yaml" {
			if err == nil || !strings.Contains(err.Error(), "19-deny-a-to-b.yaml:6:1: spec: rule must have at least one of ingress") {
				t.Errorf("19: %v", err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", base, err)
		}
	}
}
