// Package verify implements the "posture verify" command.
package verify
