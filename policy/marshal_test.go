package policy

import (
	"bytes"
	"os"
	"reflect"
	"testing"
)

func clearOrigins(ps []*Policy) {
	for _, p := range ps {
		p.Origin = Origin{}
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	data, err := os.ReadFile("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ps, err := LoadBytes("full.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Marshal(ps)
	if err != nil {
		t.Fatal(err)
	}
	again, err := LoadBytes("marshalled.yaml", out)
	if err != nil {
		t.Fatalf("marshalled output does not load: %v\n%s", err, out)
	}
	clearOrigins(ps)
	clearOrigins(again)
	if !reflect.DeepEqual(ps, again) {
		t.Errorf("load -> marshal -> load changed the policies:\n%s", out)
	}
	out2, err := Marshal(again)
	if err != nil || !bytes.Equal(out, out2) {
		t.Errorf("marshal is not deterministic:\n%s\n---- vs ----\n%s", out, out2)
	}
	// Spot-check the shape kubectl expects: sorted keys, quoted port
	// strings, int-or-string ICMP types kept as written.
	for _, want := range []string{
		"apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata:\n",
		"- port: \"8080\"\n",
		"type: EchoRequest\n",
		"type: 8\n",
		"\n---\napiVersion: cilium.io/v2\nkind: CiliumClusterwideNetworkPolicy\n",
	} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestMarshalNil(t *testing.T) {
	if _, err := Marshal([]*Policy{nil}); err == nil {
		t.Error("nil policy marshalled")
	}
	if out, err := Marshal(nil); err != nil || len(out) != 0 {
		t.Errorf("empty set: %q %v", out, err)
	}
}

// Every policy and fragment in the seed examples survives
// load -> Marshal -> load unchanged.
func TestMarshalSeedsRoundTrip(t *testing.T) {
	res, err := Load(seedDir(t), LoadOptions{Fragments: true, Lenient: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Policies) < 18 {
		t.Fatalf("only %d policies", len(res.Policies))
	}
	out, err := Marshal(res.Policies)
	if err != nil {
		t.Fatal(err)
	}
	again, err := LoadBytes("seeds.yaml", out)
	if err != nil {
		t.Fatalf("marshalled seeds do not load strictly: %v\n%s", err, out)
	}
	clearOrigins(res.Policies)
	clearOrigins(again)
	if !reflect.DeepEqual(res.Policies, again) {
		t.Errorf("seeds changed in the round trip:\n%s", out)
	}
}
