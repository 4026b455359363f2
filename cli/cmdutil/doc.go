// Package cmdutil holds what every posture command shares: the standard
// streams, the logger, and the validated -o output-format flag. It keeps no
// package-level mutable state; commands get a Streams value from the root.
package cmdutil
