package advisor_test

import (
	"testing"

	"github.com/posture-dev/posture/advisor"
	"github.com/posture-dev/posture/rollout"
)

// TestStageNamesMatchRollout keeps the advisor's stage names (repeated
// there because the advisor cannot import rollout) equal to rollout's.
func TestStageNamesMatchRollout(t *testing.T) {
	prev := rollout.StageObserve
	for _, name := range advisor.Stages {
		s, err := rollout.ParseStage(name)
		if err != nil {
			t.Fatalf("advisor stage %q: %v", name, err)
		}
		if s <= prev {
			t.Errorf("advisor stage %q out of rollout order", name)
		}
		prev = s
	}
}
