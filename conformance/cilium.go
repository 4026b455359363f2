package conformance

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sync"

	"github.com/cilium/cilium/pkg/crypto/certificatemanager"
	envoypolicy "github.com/cilium/cilium/pkg/envoy/policy"
	"github.com/cilium/cilium/pkg/identity"
	"github.com/cilium/cilium/pkg/identity/identitymanager"
	ciliumv2 "github.com/cilium/cilium/pkg/k8s/apis/cilium.io/v2"
	"github.com/cilium/cilium/pkg/option"
	cpolicy "github.com/cilium/cilium/pkg/policy"
	"github.com/cilium/cilium/pkg/policy/api"
	ptypes "github.com/cilium/cilium/pkg/policy/types"
	putils "github.com/cilium/cilium/pkg/policy/utils"
	testidentity "github.com/cilium/cilium/pkg/testutils/identity"
	testpolicy "github.com/cilium/cilium/pkg/testutils/policy"
	"github.com/cilium/cilium/pkg/u8proto"

	"github.com/posture-dev/posture/flow"
	"github.com/posture-dev/posture/policy"
)

// ClusterName is the cluster every generated pod identity belongs to; the
// "cluster" entity is initialised with it, as the agent does at start-up.
const ClusterName = "default"

var configureOnce sync.Once

// configureCilium sets the process-wide agent options the policy engine
// reads to what a default Cilium v1.20 agent on Kubernetes runs with:
// single-stack IPv4 (so world IPs carry reserved:world), localhost always
// allowed to reach local endpoints (the agent's k8s-mode default for
// allow-localhost=auto), default enforcement, host firewall off.
func configureCilium() {
	configureOnce.Do(func() {
		option.Config.EnableIPv4 = true
		option.Config.EnableIPv6 = false
		option.Config.UnsafeDaemonConfigOption.AllowLocalhost = option.AllowLocalhostAlways
		option.Config.EnableHostFirewall = false
		cpolicy.SetPolicyEnabled(option.DefaultEnforcement)
		api.InitEntities(ClusterName)
	})
}

// SetDualStack switches the modelled agent between single-stack IPv4 and
// dual stack, where world addresses carry reserved:world-ipv4/-ipv6 and
// 0.0.0.0/0 and ::/0 select those. Identities and policies built before
// the switch keep the labels of the old mode: build a new universe.
func SetDualStack(on bool) {
	configureCilium()
	option.Config.EnableIPv6 = on
}

// discardLogger keeps Cilium's debug chatter out of test output.
var discardLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

// CiliumEngine is one Cilium policy repository loaded with a policy set,
// over a fixed universe of identities.
type CiliumEngine struct {
	repo  *cpolicy.Repository
	idmgr identitymanager.IDManager
	ids   map[flow.Identity]*identity.Identity
}

// NewCiliumEngine builds a repository the way Cilium's own tests do
// (pkg/k8s/network_policy_test.go) and imports the policies through the
// agent's path: CNP/CCNP Parse, then RulesToPolicyEntries.
func NewCiliumEngine(u *Universe, ps []*policy.Policy) (*CiliumEngine, error) {
	configureCilium()
	idmap := identity.IdentityMap{}
	for _, id := range u.ciliumIDs {
		idmap[id.ID] = id.LabelArray
	}
	idmgr := identitymanager.NewIDManager(discardLogger)
	// The real Envoy translator with an inline secret manager, as Cilium's
	// distillery tests use, so that L7 rules attach.
	l7 := envoypolicy.NewEnvoyL7RulesTranslator(discardLogger, certificatemanager.NewMockSecretManagerInline())
	repo := cpolicy.NewPolicyRepository(discardLogger, idmap, nil, l7, idmgr, testpolicy.NewPolicyMetricsNoop())
	repo.GetSelectorCache().SetLocalIdentityNotifier(testidentity.NewDummyIdentityNotifier())
	idmgr.Subscribe(testpolicy.SelectorCacheObserver{Cache: repo.GetSubjectSelectorCache()})

	for i, p := range ps {
		rules, err := ParseWithCilium(p)
		if err != nil {
			return nil, fmt.Errorf("policy %d (%s): %w", i, p.Metadata.Name, err)
		}
		repo.MustAddPolicyEntries(putils.RulesToPolicyEntries(rules))
	}
	return &CiliumEngine{repo: repo, idmgr: idmgr, ids: u.ciliumIDs}, nil
}

// ToCilium translates a posture policy into Cilium's own CRD type by way of
// its JSON form, so anything posture writes that Cilium reads differently
// shows up here.
func ToCilium(p *policy.Policy) (*ciliumv2.CiliumNetworkPolicy, *ciliumv2.CiliumClusterwideNetworkPolicy, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, nil, fmt.Errorf("marshalling %s: %w", p.Metadata.Name, err)
	}
	if p.Clusterwide() {
		var ccnp ciliumv2.CiliumClusterwideNetworkPolicy
		if err := json.Unmarshal(b, &ccnp); err != nil {
			return nil, nil, fmt.Errorf("decoding as CiliumClusterwideNetworkPolicy: %w", err)
		}
		return nil, &ccnp, nil
	}
	var cnp ciliumv2.CiliumNetworkPolicy
	if err := json.Unmarshal(b, &cnp); err != nil {
		return nil, nil, fmt.Errorf("decoding as CiliumNetworkPolicy: %w", err)
	}
	return &cnp, nil, nil
}

// ParseRawWithCilium decodes an unstructured CNP or CCNP into Cilium's
// type and parses it.
func ParseRawWithCilium(obj map[string]any) (api.Rules, error) {
	configureCilium()
	b, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	if obj["kind"] == policy.KindCCNP {
		var ccnp ciliumv2.CiliumClusterwideNetworkPolicy
		if err := json.Unmarshal(b, &ccnp); err != nil {
			return nil, fmt.Errorf("decoding as CiliumClusterwideNetworkPolicy: %w", err)
		}
		return ccnp.Parse(discardLogger, "")
	}
	var cnp ciliumv2.CiliumNetworkPolicy
	if err := json.Unmarshal(b, &cnp); err != nil {
		return nil, fmt.Errorf("decoding as CiliumNetworkPolicy: %w", err)
	}
	if cnp.Namespace == "" {
		cnp.Namespace = "default"
	}
	return cnp.Parse(discardLogger, "")
}

// ParseWithCilium runs Cilium's CRD parser (which also sanitizes every
// rule) with an empty cluster name, as the agent does without cluster mesh
// policy defaults.
func ParseWithCilium(p *policy.Policy) (api.Rules, error) {
	configureCilium()
	cnp, ccnp, err := ToCilium(p)
	if err != nil {
		return nil, err
	}
	if ccnp != nil {
		return ccnp.Parse(discardLogger, "")
	}
	if cnp.Namespace == "" {
		// A CNP without namespace would be parsed as clusterwide; kubectl
		// puts it in "default".
		cnp.Namespace = "default"
	}
	return cnp.Parse(discardLogger, "")
}

// Verdict is one engine's answer for a flow, per enforcing direction.
type Verdict struct {
	Egress, Ingress bool // allowed
}

// Lookup asks Cilium's LookupFlow for the egress verdict at the source and
// the ingress verdict at the destination.
func (e *CiliumEngine) Lookup(f *flow.Flow) (Verdict, error) {
	from, to := e.ids[f.Source.Identity], e.ids[f.Destination.Identity]
	if from == nil || to == nil {
		return Verdict{}, fmt.Errorf("flow %s -> %s: identity not in universe", f.Source.String(), f.Destination.String())
	}
	proto, err := ciliumProto(f.Protocol)
	if err != nil {
		return Verdict{}, err
	}
	res, _, _, err := cpolicy.LookupFlow(discardLogger, e.repo, e.idmgr, ptypes.Flow{
		From: from, To: to, Proto: proto, Dport: f.Port(),
	})
	if err != nil {
		return Verdict{}, fmt.Errorf("cilium lookup: %w", err)
	}
	return Verdict{
		Egress:  res.Egress == ptypes.DecisionAllowed,
		Ingress: res.Ingress == ptypes.DecisionAllowed,
	}, nil
}

func ciliumProto(p flow.Protocol) (u8proto.U8proto, error) {
	switch p {
	case flow.ProtoTCP:
		return u8proto.TCP, nil
	case flow.ProtoUDP:
		return u8proto.UDP, nil
	case flow.ProtoSCTP:
		return u8proto.SCTP, nil
	case flow.ProtoICMP:
		return u8proto.ICMP, nil
	case flow.ProtoICMPv6:
		return u8proto.ICMPv6, nil
	}
	return 0, fmt.Errorf("flow protocol %q has no Cilium equivalent", p)
}
