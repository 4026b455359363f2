// Package agent implements the "posture agent" command.
package agent
