// Package flows implements "posture flows": reading evidence (posture JSONL
// or Hubble exports) and showing the identity-to-identity edges it holds.
package flows
