// Package policy is the CiliumNetworkPolicy language as posture speaks it:
// typed cilium.io/v2 CiliumNetworkPolicy and CiliumClusterwideNetworkPolicy
// objects, a strict loader that names file, line and field for every
// mistake, Cilium's own validation rules, a linter for the mistakes people
// actually make, and an evaluator that answers "is this flow allowed, and by
// which rule" with Cilium's semantics.
//
// It imports only package flow and is imported by every later stage.
package policy
