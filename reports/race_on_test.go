//go:build race

package reports

// raceEnabled: the race detector slows rendering several times over, so
// timing budgets do not apply.
const raceEnabled = true
