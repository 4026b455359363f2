// Package bpf holds posture's kernel programs (posture.c, beside their
// committed bpf2go output, so machines without clang build everything) and
// a small loader: Load, Attach (TCX, tc clsact fallback), accessors for the
// maps the recorder fills and reads, and the generated record types under
// stable names. Only the recorder and tests import it.
//
// Regenerate with `make generate`; the build is reproducible (fixed clang
// flags, file paths mapped to "."), and CI fails when the committed output
// differs from a fresh generation.
package bpf
