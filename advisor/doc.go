// Package advisor turns evidence (identity-to-identity edges) into
// CiliumNetworkPolicy proposals organised by rollout stage: namespace
// baselines, platform allowances, narrow allows and default-deny flips, each
// explained by its evidence and verified with the policy evaluator before it
// is shown. It is pure: edges in, proposals out, no I/O, no client-go.
package advisor
