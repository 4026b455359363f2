package advisor

import (
	"time"

	"github.com/posture-dev/posture/policy"
)

// Stage names, spelled exactly as rollout.Stage prints them. The advisor
// cannot import rollout (imports flow advisor → rollout), so the names are
// repeated here and a rollout test checks they agree.
const (
	StageBaseline = "baseline"
	StagePlatform = "platform"
	StageNarrow   = "narrow"
	StageEnforce  = "enforce"
	StageL7       = "l7"
)

// Stages lists the stages the advisor writes documents for, in rollout order.
var Stages = []string{StageBaseline, StagePlatform, StageNarrow, StageEnforce, StageL7}

// Directions of a default-deny flip.
const (
	DirIngress = "ingress"
	DirEgress  = "egress"
)

// Options tune a suggestion. The zero value is usable.
type Options struct {
	// Namespaces limits proposals to these namespaces. Empty means every
	// namespace with workloads in the evidence except ExcludeNamespaces.
	Namespaces []string
	// ExcludeNamespaces are skipped unless named in Namespaces. Nil means
	// DefaultExcludeNamespaces.
	ExcludeNamespaces []string
	// L7 adds HTTP method/path allow lists and narrowed DNS patterns to the
	// target set (the l7 stage is always proposed).
	L7 bool
	// FQDNPatternSiblings is how many sibling names (a.example.com,
	// b.example.com, ...) turn into one matchPattern "*.example.com".
	// 0 means 3.
	FQDNPatternSiblings int
	// CIDRAggregate is how many addresses of one /24 (IPv4) or /64 (IPv6)
	// turn into that prefix instead of single-address entries. 0 means 3.
	CIDRAggregate int
	// HTTPPathIDs is how many distinct path segments under one prefix make
	// the l7 stage generalise them to an anchored regex. 0 means 3.
	HTTPPathIDs int
	// ExamplePods bounds the example pods quoted in evidence. 0 means 3.
	ExamplePods int
	// Verify checks the target set against the observed flows. Nil uses
	// DefaultVerifier.
	Verify VerifyFunc
}

// DefaultExcludeNamespaces are platform namespaces a namespace-by-namespace
// rollout leaves alone unless asked: locking down kube-system from traffic
// seen in a window risks the cluster's DNS and control plane.
var DefaultExcludeNamespaces = []string{"kube-system"}

// Proposal is everything the advisor suggests for a set of evidence.
type Proposal struct {
	Namespaces []NamespaceProposal `json:"namespaces"`
	// Notes explain what the advisor could not turn into policy, or chose
	// not to (unlabelled identities, skipped namespaces, dropped flows,
	// conflicting evidence). They belong on stderr, not in YAML.
	Notes        []Note       `json:"notes,omitempty"`
	Verification Verification `json:"verification"`
	Summary      Summary      `json:"summary"`
}

// NamespaceProposal holds one namespace's workloads, stage documents and
// target set.
type NamespaceProposal struct {
	Namespace string     `json:"namespace"`
	Workloads []Workload `json:"workloads"`
	// Stages are the documents to apply, in rollout order: one baseline
	// doc, the platform docs, one narrow doc per workload, one enforce doc
	// per workload and direction, one l7 doc per workload with L7 rules
	// (and the narrowed DNS platform doc).
	Stages []StageDoc `json:"stages"`
	// Target is the set in force at the end of the rollout: platform and
	// narrow allows with default deny on (L7 rules only with Options.L7);
	// the transitional baseline is not part of it.
	Target       []*policy.Policy `json:"target"`
	Explanations []Explanation    `json:"explanations,omitempty"`
	Verification Verification     `json:"verification"`
	FirstSeen    time.Time        `json:"firstSeen,omitzero"`
	LastSeen     time.Time        `json:"lastSeen,omitzero"`
	Flows        uint64           `json:"flows"`

	narrow map[string]*policy.Policy // workload → narrow doc, default deny off
	l7     map[string]*policy.Policy // workload → narrow doc with L7 rules
}

// Workload is a set of identities sharing a stable selector.
type Workload struct {
	Name     string                  `json:"name"`
	Selector policy.EndpointSelector `json:"selector"`
	// Identities are the identity label sets (Hubble form, comma joined)
	// the workload was seen with.
	Identities []string  `json:"identities"`
	Pods       []string  `json:"pods,omitempty"` // examples
	Flows      uint64    `json:"flows"`
	FirstSeen  time.Time `json:"firstSeen,omitzero"`
	LastSeen   time.Time `json:"lastSeen,omitzero"`
	// Ingress and Egress say whether any traffic was observed in that
	// direction; a direction without traffic is flipped to deny-all.
	Ingress bool `json:"ingress"`
	Egress  bool `json:"egress"`
}

// StageDoc is the set of documents one step of a stage applies.
type StageDoc struct {
	Stage string `json:"stage"`
	// Workload is set for per-workload documents (narrow, enforce, l7).
	Workload string `json:"workload,omitempty"`
	// Direction is set for enforce documents: the direction flipped.
	// Policies then hold the workload's policy with only this direction in
	// default deny; NamespaceProposal.WorkloadPolicy combines flips.
	Direction string           `json:"direction,omitempty"`
	Policies  []*policy.Policy `json:"policies"`
	Readiness *Readiness       `json:"readiness,omitempty"`
	Summary   string           `json:"summary"`
}

// Readiness is the evidence behind a default-deny flip.
type Readiness struct {
	FirstSeen time.Time     `json:"firstSeen,omitzero"`
	LastSeen  time.Time     `json:"lastSeen,omitzero"`
	Span      time.Duration `json:"span"`
	// Flows and Edges observed in the flipped direction; Covered* is how
	// many of them the allows cover (all, unless NotCovered says why).
	Flows        uint64     `json:"flows"`
	CoveredFlows uint64     `json:"coveredFlows"`
	Edges        int        `json:"edges"`
	CoveredEdges int        `json:"coveredEdges"`
	NotCovered   []Breakage `json:"notCovered,omitempty"`
}

// Explanation says why one rule of one policy exists.
type Explanation struct {
	Policy string `json:"policy"`
	// Rule is "ingress[0]", "egress[2]" or "" for the whole policy.
	Rule string `json:"rule,omitempty"`
	Text string `json:"text"`
}

// Note is something the reviewer must know that is not a rule.
type Note struct {
	Namespace string `json:"namespace,omitempty"`
	Kind      string `json:"kind"` // NoteUnlabelled, NoteReserved, ...
	Text      string `json:"text"`
}

// Note kinds.
const (
	NoteUnlabelled = "unlabelled-identity"
	NoteReserved   = "reserved-only"
	NoteSkipped    = "skipped-namespace"
	NoteDropped    = "dropped-flows"
	NoteConflict   = "conflicting-evidence"
	NoteOvermatch  = "selector-overmatch"
	NoteNoEvidence = "no-evidence"
	NoteUnknown    = "unknown-peer"
)

// Verification is the result of evaluating the target set against the
// observed flows, and its least privilege.
type Verification struct {
	// Checked is false when no evaluator was available.
	Checked bool   `json:"checked"`
	Edges   int    `json:"edges"`
	Flows   uint64 `json:"flows"`
	// Breakage lists observed flows the target set would deny. A proposal
	// with breakage is never returned without an error.
	Breakage []Breakage `json:"breakage,omitempty"`
	// ObservedPairs is the number of distinct (source, destination,
	// port/protocol) triples observed; AllowedPairs how many such triples
	// over the known identities and ports the target set allows.
	ObservedPairs int `json:"observedPairs"`
	AllowedPairs  int `json:"allowedPairs"`
}

// LeastPrivilege is observed/allowed pairs: 1 means the set allows
// exactly what was observed.
func (v Verification) LeastPrivilege() float64 {
	if v.AllowedPairs == 0 {
		return 1
	}
	return float64(v.ObservedPairs) / float64(v.AllowedPairs)
}

// Breakage is one observed edge a policy set would deny.
type Breakage struct {
	Source      string `json:"source"`
	Destination string `json:"destination"`
	Port        string `json:"port"` // "8080/TCP"
	Direction   string `json:"direction,omitempty"`
	Flows       uint64 `json:"flows"`
	Reason      string `json:"reason"`
}

// Summary is the short account printed on stderr.
type Summary struct {
	Namespaces int    `json:"namespaces"`
	Workloads  int    `json:"workloads"`
	Policies   int    `json:"policies"` // in the target set
	Edges      int    `json:"edges"`
	Flows      uint64 `json:"flows"`
	// CoveredFlows are observed flows the target set allows.
	CoveredFlows  uint64 `json:"coveredFlows"`
	ObservedPairs int    `json:"observedPairs"`
	AllowedPairs  int    `json:"allowedPairs"`
}
