// Package rollout implements the "posture rollout" command.
package rollout
