package recorder

import (
	"context"
	"os"
	"strconv"
	"time"
)

// EndpointSource delivers the node's endpoints: a full snapshot on start
// and after every change.
type EndpointSource interface {
	Run(ctx context.Context, updates chan<- []Endpoint) error
}

// StaticSource is a fixed endpoint list (tests).
type StaticSource []Endpoint

// Run sends the list once.
func (s StaticSource) Run(ctx context.Context, updates chan<- []Endpoint) error {
	select {
	case updates <- []Endpoint(s):
	case <-ctx.Done():
	}
	<-ctx.Done()
	return nil
}

// FileSource reads an --endpoints file and re-reads it when it changes.
type FileSource struct {
	Path string
	// Poll is how often the file is checked (default 2s).
	Poll time.Duration
	// OnError reports a bad file; the previous endpoints stay.
	OnError func(error)
}

// Run sends the file's endpoints, then again whenever it changes.
func (s FileSource) Run(ctx context.Context, updates chan<- []Endpoint) error {
	poll := s.Poll
	if poll <= 0 {
		poll = 2 * time.Second
	}
	eps, err := LoadEndpointsFile(s.Path)
	if err != nil {
		return err
	}
	stamp := fileStamp(s.Path)
	select {
	case updates <- eps:
	case <-ctx.Done():
		return nil
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		st := fileStamp(s.Path)
		if st == stamp {
			continue
		}
		stamp = st
		eps, err := LoadEndpointsFile(s.Path)
		if err != nil {
			if s.OnError != nil {
				s.OnError(err)
			}
			continue
		}
		select {
		case updates <- eps:
		case <-ctx.Done():
			return nil
		}
	}
}

func fileStamp(path string) string {
	info, err := os.Stat(path)
	if err != nil {
		return "missing"
	}
	return info.ModTime().String() + "/" + strconv.FormatInt(info.Size(), 10)
}
