package rollout

import (
	"fmt"
	"time"
)

// Stage is a step of the safe-rollout checklist, in order.
type Stage int

const (
	StageObserve Stage = iota
	StageBaseline
	StagePlatform
	StageNarrow
	StageEnforce
	StageL7
	// StageDone is reached when the transitional baseline has been removed
	// and the namespace runs exactly the target set.
	StageDone
)

var stageNames = [...]string{"observe", "baseline", "platform", "narrow", "enforce", "l7", "done"}

// String returns the stage's lowercase name.
func (s Stage) String() string {
	if s < 0 || int(s) >= len(stageNames) {
		return fmt.Sprintf("stage(%d)", int(s))
	}
	return stageNames[s]
}

// ParseStage reads a stage name.
func ParseStage(name string) (Stage, error) {
	for i, n := range stageNames {
		if n == name {
			return Stage(i), nil
		}
	}
	return 0, fmt.Errorf("unknown stage %q (want one of observe, baseline, platform, narrow, enforce, l7, done)", name)
}

// MarshalText writes the stage name.
func (s Stage) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads the stage name.
func (s *Stage) UnmarshalText(b []byte) error {
	v, err := ParseStage(string(b))
	*s = v
	return err
}

// GateResult is one gate's verdict with its measured value and threshold,
// both rendered for people ("5d 3h" vs "7d").
type GateResult struct {
	Name      string  `json:"name"`
	Passing   bool    `json:"passing"`
	Value     string  `json:"value"`
	Threshold string  `json:"threshold"`
	Detail    string  `json:"detail,omitempty"`
	Numeric   float64 `json:"numeric"` // value as a number, for charts and metrics
}

// Transition is one recorded stage change.
type Transition struct {
	Time     time.Time `json:"time"`
	From     Stage     `json:"from"`
	To       Stage     `json:"to"`
	Workload string    `json:"workload,omitempty"`
	Actor    string    `json:"actor"`
	Reason   string    `json:"reason"`
	Forced   bool      `json:"forced,omitempty"`
}

// DirectionEnforced says which directions a workload has default deny on.
type DirectionEnforced struct {
	Ingress bool `json:"ingress"`
	Egress  bool `json:"egress"`
}

// WouldDeny is an observed edge the to-be-enforced set would deny, with the
// change that would cover it.
type WouldDeny struct {
	Source      string    `json:"source"`
	Destination string    `json:"destination"`
	Port        string    `json:"port"` // "8080/TCP"
	Direction   string    `json:"direction"`
	Workload    string    `json:"workload,omitempty"`
	Count       uint64    `json:"count"`
	LastSeen    time.Time `json:"lastSeen"`
	Fix         string    `json:"fix,omitempty"`
}

// WorkloadStatus is a workload's place in the rollout.
type WorkloadStatus struct {
	Name       string            `json:"name"`
	Stage      Stage             `json:"stage"`
	Enforced   DirectionEnforced `json:"enforced"`
	Coverage   float64           `json:"coverage"` // 0..1
	WouldDeny  uint64            `json:"wouldDeny"`
	StageSince time.Time         `json:"stageSince"`
	// WouldDenyIngress and WouldDenyEgress split WouldDeny by the direction
	// the to-be-enforced set would deny in, counted over all evidence seen
	// for the workload (so they only grow), for the per-direction metric.
	WouldDenyIngress uint64 `json:"wouldDenyIngress,omitempty"`
	WouldDenyEgress  uint64 `json:"wouldDenyEgress,omitempty"`
}

// Sample is a point of a namespace's history, for charts.
type Sample struct {
	Time      time.Time `json:"time"`
	Coverage  float64   `json:"coverage"`
	WouldDeny uint64    `json:"wouldDeny"`
}

// NamespaceStatus is everything known about one namespace's rollout.
type NamespaceStatus struct {
	Namespace   string           `json:"namespace"`
	Stage       Stage            `json:"stage"`
	StageSince  time.Time        `json:"stageSince"`
	Gates       []GateResult     `json:"gates"`
	Coverage    float64          `json:"coverage"`
	WouldDeny24 uint64           `json:"wouldDeny24h"`
	WouldDeny7d uint64           `json:"wouldDeny7d"`
	TopDenied   []WouldDeny      `json:"topDenied,omitempty"`
	NextStage   *Stage           `json:"nextStage,omitempty"`
	ETA         *time.Time       `json:"eta,omitempty"` // when gates would pass if they keep passing
	Blockers    []string         `json:"blockers,omitempty"`
	Workloads   []WorkloadStatus `json:"workloads,omitempty"`
	History     []Transition     `json:"history,omitempty"`
	Samples     []Sample         `json:"samples,omitempty"`
	// Operation is set while a promotion or rollback is unfinished: still
	// running, or interrupted (e.g. the API server went away) and waiting
	// for a promote to complete it or a rollback to revert it.
	Operation *OperationStatus `json:"operation,omitempty"`
	// Events are outcomes that are not transitions: a promotion refused
	// before any change, one that failed and was reverted, an interrupted
	// step completed or reverted later.
	Events []Event `json:"events,omitempty"`
}

// OperationStatus describes an unfinished promotion or rollback.
type OperationStatus struct {
	Kind    string    `json:"kind"`  // promote or rollback
	State   string    `json:"state"` // running or interrupted
	From    Stage     `json:"from"`
	To      Stage     `json:"to"`
	Actor   string    `json:"actor"`
	Started time.Time `json:"started"`
	Error   string    `json:"error,omitempty"`
	Hint    string    `json:"hint"`
}

// Status is the cluster-wide rollout picture at one moment.
type Status struct {
	GeneratedAt time.Time         `json:"generatedAt"`
	Namespaces  []NamespaceStatus `json:"namespaces"`
}
