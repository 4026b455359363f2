// Package flows implements the "posture flows" command.
package flows
