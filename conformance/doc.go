// Package conformance checks posture's policy handling against Cilium
// v1.20.2 itself. It is a nested module so that the main module does not
// depend on Cilium; `make conformance` runs it.
//
// Schema: Cilium's CNP and CCNP CRDs (crds/v2 EmbedFS) go through the
// kube-apiserver's custom-resource create path (pruning for unknown
// fields, defaulting, OpenAPI validation, list types, CEL rules), and
// CiliumNetworkPolicy.Parse must accept what the schema stores. Inputs:
// the seed examples, repository testdata, hand-written examples,
// generated policies and everything the advisor proposes.
//
// Engine: a Cilium policy repository built as Cilium's own tests build
// one (NewPolicyRepository, identities from NewIdentityFromLabelArray,
// the agent's import path Parse + RulesToPolicyEntries) answers
// LookupFlow; posture's Compile/Evaluate must give the same verdict in
// every direction Cilium enforces, over random L3/L4 policy sets, the
// seed examples and the advisor's stages on real evidence.
// Disagreements are shrunk to a minimal YAML reproducer; reported ones
// live in testdata/disagreements until the evaluator is fixed.
//
// The modelled agent: Kubernetes mode (allow-localhost always), host
// firewall off, default enforcement, non-default-deny policies enabled,
// cluster name "default" on every pod identity, single-stack IPv4 or
// dual stack.
//
// Scale the differential test with -conformance.cases=N or
// POSTURE_CONFORMANCE_CASES=N (default 10,000; the seed is fixed).
package conformance
