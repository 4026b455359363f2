// Package bpf holds posture's kernel programs (C, beside their bpf2go
// output) and a small loader, so the rest of posture never touches the
// generated types.
package bpf
