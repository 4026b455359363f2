// Package demo implements "posture demo": posture's main job end to end on
// this machine, on evidence the project generates itself. Each capability
// adds its step in its own file; demo.go only orders them.
package demo
