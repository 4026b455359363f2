package evidence

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/posture-dev/posture/flow"
	"github.com/posture-dev/posture/hubble"
)

// Item is one useful line: a flow (Hubble event or posture Flow record) or
// an aggregated posture Edge record. Replies are items too (Flow.IsReply);
// they never make an edge.
type Item struct {
	Flow *flow.Flow
	Edge *flow.Edge
	// Line is the 1-based line number in Source, the file it came from
	// ("-" for stdin).
	Line   int
	Source string
	// Counts is what the flow adds to its edge: for Hubble input, the
	// connection tracker's verdict on whether the event starts a
	// connection or request (see hubble.Tracker); for posture records,
	// the record's own count.
	Counts flow.Counts
}

// Options change how input is read.
type Options struct {
	// Strict stops at the first malformed line with its *LineError
	// instead of skipping it.
	Strict bool
}

// LineError is a malformed line: where, which field, and why.
type LineError struct {
	Source string
	Line   int
	Field  string // JSON path where decoding stopped; "" if not known
	Reason string
}

func (e *LineError) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("%s:%d: %s", e.Source, e.Line, e.Reason)
	}
	return fmt.Sprintf("%s:%d: field %s: %s", e.Source, e.Line, e.Field, e.Reason)
}

// Stats accounts for every line read:
// Lines = Blank + Flows + Replies + Edges + NonFlow + Malformed.
type Stats struct {
	Files      int
	EmptyFiles []string
	Lines      int
	Blank      int
	// Flows are flow lines used (not replies): Hubble flow events and
	// posture Flow records.
	Flows int
	// Replies are reply flows folded into their connection.
	Replies int
	// Edges are posture Edge records.
	Edges int
	// NonFlow are Hubble responses that carry no flow: node_status,
	// lost_events and response types posture does not know.
	NonFlow int
	// LostEvents sums lost_events.num_events_lost: flows Hubble dropped
	// before they reached the export.
	LostEvents uint64
	// UnavailableNodes are nodes a relay reported as not streaming
	// (node_status other than NODE_CONNECTED), at most 32.
	UnavailableNodes []string
	// Malformed lines were skipped; FirstMalformed says which came first.
	Malformed      int
	FirstMalformed *LineError
	// HubbleLines and PostureLines count lines by detected format.
	HubbleLines, PostureLines int
	// Connections is the sum of Counts.Flows over all flows: the
	// connections and requests the edges count.
	Connections uint64
}

// Add folds o into s (for callers that read several inputs).
func (s *Stats) Add(o Stats) {
	s.Files += o.Files
	s.EmptyFiles = append(s.EmptyFiles, o.EmptyFiles...)
	s.Lines += o.Lines
	s.Blank += o.Blank
	s.Flows += o.Flows
	s.Replies += o.Replies
	s.Edges += o.Edges
	s.NonFlow += o.NonFlow
	s.LostEvents += o.LostEvents
	for _, n := range o.UnavailableNodes {
		s.addNode(n)
	}
	s.Malformed += o.Malformed
	if s.FirstMalformed == nil {
		s.FirstMalformed = o.FirstMalformed
	}
	s.HubbleLines += o.HubbleLines
	s.PostureLines += o.PostureLines
	s.Connections += o.Connections
}

func (s *Stats) addNode(n string) {
	if !slices.Contains(s.UnavailableNodes, n) && len(s.UnavailableNodes) < 32 {
		s.UnavailableNodes = append(s.UnavailableNodes, n)
	}
}

// Scan reads path (a file, a directory of files, or "-" for in), calling
// fn for each flow and edge in input order. Malformed lines are skipped
// and counted. fn's error stops the scan and is returned. Each Item's
// Flow and Edge are fresh values fn may keep.
//
// A Hubble export reports each connection many times (every trace point,
// both ends, every packet, and its replies). A caller that counts or
// weighs flows should weigh each by Item.Counts.Flows, which is zero for
// repeats and replies, or use LoadEdges, which does.
func Scan(ctx context.Context, path string, in io.Reader, fn func(Item) error) (Stats, error) {
	return ScanWith(ctx, path, in, Options{}, fn)
}

// ScanWith is Scan with options.
func ScanWith(ctx context.Context, path string, in io.Reader, opts Options, fn func(Item) error) (Stats, error) {
	s := newScanner(opts)
	err := s.run(ctx, path, in, func(it *Item) error {
		c := *it
		c.Flow = hubble.CloneFlow(it.Flow)
		return fn(c)
	}, func(it *Item) error { return fn(*it) })
	return s.stats, err
}

// LoadEdges reads path like Scan and aggregates its flows and edges.
func LoadEdges(ctx context.Context, path string, in io.Reader) ([]flow.Edge, Stats, error) {
	return LoadEdgesWith(ctx, path, in, Options{})
}

// LoadEdgesWith is LoadEdges with options.
func LoadEdgesWith(ctx context.Context, path string, in io.Reader, opts Options) ([]flow.Edge, Stats, error) {
	agg := flow.NewAggregator()
	// Hubble flows share the decoder's label and name slices, and posture
	// Flow records get fresh ones: neither is modified after Observe.
	agg.SharedSlices = true
	s := newScanner(opts)
	err := s.run(ctx, path, in, func(it *Item) error {
		agg.Observe(it.Flow, it.Counts)
		return nil
	}, func(it *Item) error {
		agg.Merge(it.Edge)
		return nil
	})
	if err != nil {
		return nil, s.stats, err
	}
	return agg.Edges(), s.stats, nil
}

// scanner holds the per-scan state: decoder caches, the connection
// tracker and the DNS name map, shared across the files of one scan.
type scanner struct {
	opts    Options
	dec     *hubble.Decoder
	resp    hubble.Response
	tracker *hubble.Tracker
	names   *hubble.Names
	stats   Stats
	item    Item // reused: handing a pointer to a local would allocate per line
}

func newScanner(opts Options) *scanner {
	return &scanner{opts: opts, dec: hubble.NewDecoder(), tracker: hubble.NewTracker(), names: hubble.NewNames()}
}

// run calls onFlow with a flow the callee must not keep (the response is
// reused) and onEdge with a fresh edge.
func (s *scanner) run(ctx context.Context, path string, in io.Reader, onFlow, onEdge func(*Item) error) error {
	srcs, err := sources(path, in)
	if err != nil {
		return err
	}
	for _, src := range srcs {
		if err := s.file(ctx, src, onFlow, onEdge); err != nil {
			return err
		}
	}
	return nil
}

func (s *scanner) file(ctx context.Context, src source, onFlow, onEdge func(*Item) error) error {
	rc, err := src.open()
	if err != nil {
		return fmt.Errorf("reading evidence: %w", err)
	}
	defer rc.Close()
	r, closeZ, err := maybeGunzip(rc)
	if err != nil {
		return fmt.Errorf("%s: %w", src.name, err)
	}
	defer closeZ()
	s.stats.Files++
	lr := newLineReader(r)
	lineNo := 0
	for {
		line, tooLong, err := lr.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("%s:%d: reading: %w", src.name, lineNo+1, err)
		}
		lineNo++
		s.stats.Lines++
		if lineNo%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if tooLong {
			if err := s.bad(&LineError{Source: src.name, Line: lineNo, Reason: flow.ErrLineTooLong.Error()}); err != nil {
				return err
			}
			continue
		}
		if len(bytes.TrimSpace(line)) == 0 {
			s.stats.Blank++
			continue
		}
		if err := s.line(src.name, lineNo, line, onFlow, onEdge); err != nil {
			return err
		}
	}
	if lineNo == 0 {
		s.stats.EmptyFiles = append(s.stats.EmptyFiles, src.name)
	}
	return nil
}

func (s *scanner) bad(e *LineError) error {
	if s.opts.Strict {
		return e
	}
	s.stats.Malformed++
	if s.stats.FirstMalformed == nil {
		s.stats.FirstMalformed = e
	}
	return nil
}

func (s *scanner) line(name string, n int, line []byte, onFlow, onEdge func(*Item) error) error {
	r := &s.resp
	if err := s.dec.Decode(line, r); err != nil {
		le := &LineError{Source: name, Line: n, Reason: err.Error()}
		var fe *hubble.FieldError
		if errors.As(err, &fe) {
			le.Field, le.Reason = fe.Field, fe.Reason
		}
		return s.bad(le)
	}
	it := &s.item
	*it = Item{Line: n, Source: name}
	switch r.Kind {
	case hubble.KindPosture:
		rec, err := flow.DecodeRecord(line)
		if err != nil {
			return s.bad(&LineError{Source: name, Line: n, Reason: "posture record: " + err.Error()})
		}
		s.stats.PostureLines++
		if rec.Edge != nil {
			s.stats.Edges++
			s.stats.Connections += rec.Edge.Flows
			it.Edge = rec.Edge
			return onEdge(it)
		}
		return s.flow(it, rec.Flow, flow.CountsOf(rec.Flow), onFlow)
	case hubble.KindFlow:
		s.stats.HubbleLines++
		f := &r.Flow
		s.names.Learn(f)
		s.names.Annotate(f)
		return s.flow(it, f, s.tracker.Observe(r), onFlow)
	case hubble.KindLostEvents:
		s.stats.HubbleLines++
		s.stats.NonFlow++
		s.stats.LostEvents += r.LostEvents
	case hubble.KindNodeStatus:
		s.stats.HubbleLines++
		s.stats.NonFlow++
		if !r.NodeStatus.Complete() {
			for _, node := range r.NodeStatus.Nodes {
				s.stats.addNode(node)
			}
		}
	default:
		s.stats.HubbleLines++
		s.stats.NonFlow++
	}
	return nil
}

func (s *scanner) flow(it *Item, f *flow.Flow, c flow.Counts, onFlow func(*Item) error) error {
	if f.IsReply {
		s.stats.Replies++
		c = flow.Counts{}
	} else {
		s.stats.Flows++
		s.stats.Connections += c.Flows
	}
	it.Flow, it.Counts = f, c
	return onFlow(it)
}
