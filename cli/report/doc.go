// Package report implements the "posture report" command.
package report
