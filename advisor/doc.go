// Package advisor turns evidence (identity-to-identity edges) into
// CiliumNetworkPolicy proposals organised by the stages of a safe rollout:
// a namespace baseline, platform allowances (DNS to the DNS server the
// evidence shows, kube-apiserver, host probes), one narrow policy per
// workload with minimal stable label selectors, FQDN patterns and CIDR
// aggregates, the per-workload, per-direction default-deny flips with
// their readiness, and optional L7 rules. Every rule carries its evidence.
//
// Before a proposal is returned its target set is evaluated with the
// policy evaluator against every observed flow: breakage is an error,
// never hidden. Least privilege is measured as identity pairs (with port)
// allowed versus observed.
//
// It is pure: edges in, proposals out, no I/O, no client-go. Files lays a
// proposal out as a kustomize tree for the caller to write.
package advisor
