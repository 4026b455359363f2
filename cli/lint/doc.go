// Package lint implements the "posture lint" command.
package lint
