// Package suggest implements the "posture suggest" command.
package suggest
