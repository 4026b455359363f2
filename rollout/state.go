package rollout

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"
)

// Labels and names posture puts on the objects it owns in the cluster. The
// labels make every owned policy findable (and the state reconstructible by
// hand) with one label selector.
const (
	FieldManager   = "posture"
	StateConfigMap = "posture-rollout"
	StateKey       = "state.json"

	LabelManagedBy = "app.kubernetes.io/managed-by"
	ManagedByValue = "posture"
	LabelPart      = "posture.dev/part" // baseline, platform or workload
	LabelWorkload  = "posture.dev/workload"
	LabelStage     = "posture.dev/stage"
	AnnoEnforced   = "posture.dev/enforced" // "", "ingress", "egress", "ingress,egress"
	AnnoDigest     = "posture.dev/digest"   // digest of the plan the object came from
)

// Parts of a namespace's policy set.
const (
	PartBaseline = "baseline"
	PartPlatform = "platform"
	PartWorkload = "workload"
)

// WorkloadState is one workload's place from the narrow stage on. A
// workload not in State.Workloads has no narrow policy yet.
type WorkloadState struct {
	Stage    Stage             `json:"stage"` // narrow, enforce or l7
	Enforced DirectionEnforced `json:"enforced"`
	Since    time.Time         `json:"since"`
}

// Operation is a promotion or rollback that started writing to the cluster
// and has not finished. It is saved before the first object is touched, so
// that after a crash or an outage the next command knows to complete it.
type Operation struct {
	Kind  string `json:"kind"` // "promote" or "rollback"
	Actor string `json:"actor"`
	// Holder identifies the process running the operation, so that it
	// (and nobody else, until the lease ends) may resume it.
	Holder  string    `json:"holder"`
	Reason  string    `json:"reason,omitempty"`
	Forced  bool      `json:"forced,omitempty"`
	Started time.Time `json:"started"`
	// Target is the state the operation moves to; Previous the state it
	// came from (for reverting).
	Target   Snapshot `json:"target"`
	Previous Snapshot `json:"previous"`
	// Error is the last failure seen while applying, if any.
	Error string `json:"error,omitempty"`
}

// Snapshot is the stage part of a State: what decides the policy set.
type Snapshot struct {
	Stage     Stage                    `json:"stage"`
	Workloads map[string]WorkloadState `json:"workloads,omitempty"`
}

// Clone returns a deep copy.
func (s Snapshot) Clone() Snapshot {
	return Snapshot{Stage: s.Stage, Workloads: maps.Clone(s.Workloads)}
}

// State is a namespace's durable rollout record, kept in the ConfigMap
// posture-rollout in that namespace.
type State struct {
	Namespace  string       `json:"namespace"`
	StageSince time.Time    `json:"stageSince"`
	Snapshot                // current stage and workload states
	History    []Transition `json:"history,omitempty"`
	Operation  *Operation   `json:"operation,omitempty"`
	// Events are notable outcomes that are not transitions (a promotion
	// that failed and was reverted), for status and audit.
	Events []Event `json:"events,omitempty"`

	// ResourceVersion of the ConfigMap this was read from; writes use it
	// so that concurrent promoters cannot both win.
	ResourceVersion string `json:"-"`
}

// Event is something that happened to a namespace's rollout other than a
// stage change.
type Event struct {
	Time    time.Time `json:"time"`
	Actor   string    `json:"actor"`
	Message string    `json:"message"`
}

// maxHistory bounds the record so the ConfigMap stays below 1 MiB: a
// transition is about 170 bytes of JSON, and a namespace of 200 workloads
// walked through every stage records about 1,000.
const maxHistory = 2500

func (s *State) record(t Transition) {
	s.History = append(s.History, t)
	if len(s.History) > maxHistory {
		s.History = slices.Delete(s.History, 0, len(s.History)-maxHistory)
	}
}

func (s *State) event(now time.Time, actor, msg string) {
	s.Events = append(s.Events, Event{Time: now, Actor: actor, Message: msg})
	if len(s.Events) > 100 {
		s.Events = slices.Delete(s.Events, 0, len(s.Events)-100)
	}
}

// maxStateBytes leaves headroom under the 1 MiB a ConfigMap may hold.
const maxStateBytes = 800 << 10

// encodeState writes the record, dropping the oldest history when long
// reasons or many workloads would push it past maxStateBytes.
func encodeState(s *State) (string, error) {
	for {
		b, err := json.Marshal(s)
		if err != nil {
			return "", fmt.Errorf("encoding rollout state: %w", err)
		}
		if len(b) <= maxStateBytes || len(s.History) == 0 {
			if len(b) > maxStateBytes {
				return "", fmt.Errorf("rollout state of %s is %d bytes even without history; too many workloads for one ConfigMap", s.Namespace, len(b))
			}
			return string(b), nil
		}
		s.History = slices.Delete(s.History, 0, max(len(s.History)/10, 1))
	}
}

func decodeState(ns, data string) (*State, error) {
	var s State
	if err := json.Unmarshal([]byte(data), &s); err != nil {
		return nil, fmt.Errorf("configmap %s/%s key %s: %w", ns, StateConfigMap, StateKey, err)
	}
	if s.Namespace != "" && s.Namespace != ns {
		return nil, fmt.Errorf("configmap %s/%s: state is for namespace %q", ns, StateConfigMap, s.Namespace)
	}
	s.Namespace = ns
	if s.Stage < StageObserve || s.Stage > StageDone {
		return nil, fmt.Errorf("configmap %s/%s: invalid stage %d", ns, StateConfigMap, s.Stage)
	}
	return &s, nil
}

// DeriveStage is the namespace stage a snapshot amounts to. Up to platform
// the namespace moves as a whole; from there it is at the stage its least
// advanced workload is at (narrow counts once every workload has a narrow
// policy; enforce once every workload is enforced in both directions; l7
// once every workload that has L7 rules runs them).
func DeriveStage(s Snapshot, workloads []string, hasL7 func(string) bool) Stage {
	if s.Stage == StageDone || s.Stage < StagePlatform {
		return s.Stage
	}
	if len(workloads) == 0 {
		return s.Stage
	}
	min := StageL7
	anyL7 := false
	for _, w := range workloads {
		ws, ok := s.Workloads[w]
		st := StagePlatform
		if ok {
			st = ws.Stage
			if st >= StageEnforce && !(ws.Enforced.Ingress && ws.Enforced.Egress) {
				st = StageNarrow
			}
			if st == StageEnforce && (hasL7 == nil || !hasL7(w)) {
				st = StageL7 // nothing more to do for this workload
			}
		}
		if hasL7 != nil && hasL7(w) {
			anyL7 = true
		}
		min = minStage(min, st)
	}
	if min == StageL7 && !anyL7 {
		min = StageEnforce
	}
	return min
}

func minStage(a, b Stage) Stage {
	if a < b {
		return a
	}
	return b
}
