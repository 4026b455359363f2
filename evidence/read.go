package evidence

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/posture-dev/posture/flow"
)

// source is one input stream with its name for messages.
type source struct {
	name string
	open func() (io.ReadCloser, error)
}

// sources expands path: "-" is in, a directory is its regular files
// (sorted, hidden ones skipped, not recursive), anything else one file.
func sources(path string, in io.Reader) ([]source, error) {
	if path == "-" {
		if in == nil {
			return nil, fmt.Errorf("reading stdin: no input stream")
		}
		return []source{{name: "-", open: func() (io.ReadCloser, error) { return io.NopCloser(in), nil }}}, nil
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("reading evidence: %w", err)
	}
	if !st.IsDir() {
		return []source{fileSource(path)}, nil
	}
	ents, err := os.ReadDir(path)
	if err != nil {
		return nil, fmt.Errorf("reading evidence directory: %w", err)
	}
	var out []source
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") || !e.Type().IsRegular() {
			continue
		}
		out = append(out, fileSource(filepath.Join(path, e.Name())))
	}
	slices.SortFunc(out, func(a, b source) int { return strings.Compare(a.name, b.name) })
	if len(out) == 0 {
		return nil, fmt.Errorf("reading evidence directory %s: no files", path)
	}
	return out, nil
}

func fileSource(p string) source {
	return source{name: p, open: func() (io.ReadCloser, error) { return os.Open(p) }}
}

// maybeGunzip returns a reader that decompresses gzip input (detected by
// its magic bytes, not the file name, so it works on stdin too).
func maybeGunzip(r io.Reader) (io.Reader, func() error, error) {
	br := bufio.NewReaderSize(r, 256<<10)
	magic, _ := br.Peek(2)
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, fmt.Errorf("opening gzip: %w", err)
		}
		return bufio.NewReaderSize(zr, 256<<10), zr.Close, nil
	}
	return br, func() error { return nil }, nil
}

// lineReader yields lines without their newline. Lines longer than
// flow.MaxLineBytes are reported as too long and discarded as they are
// read, never held in memory whole.
type lineReader struct {
	r   *bufio.Reader
	buf []byte
}

func newLineReader(r io.Reader) *lineReader {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, 256<<10)
	}
	return &lineReader{r: br}
}

// next returns the next line; at the end of input it returns io.EOF with
// no line. The line is valid until the next call.
func (lr *lineReader) next() (line []byte, tooLong bool, err error) {
	lr.buf = lr.buf[:0]
	n := 0
	for {
		frag, err := lr.r.ReadSlice('\n')
		n += len(frag)
		switch {
		case err == bufio.ErrBufferFull:
			if !tooLong {
				if n > flow.MaxLineBytes {
					tooLong, lr.buf = true, lr.buf[:0]
				} else {
					lr.buf = append(lr.buf, frag...)
				}
			}
			continue
		case err == io.EOF && n == 0:
			return nil, false, io.EOF
		case err != nil && err != io.EOF:
			return nil, false, err
		}
		if tooLong {
			return nil, true, nil
		}
		if len(lr.buf) > 0 {
			lr.buf = append(lr.buf, frag...)
			frag = lr.buf
		}
		frag = bytes.TrimSuffix(frag, []byte{'\n'})
		frag = bytes.TrimSuffix(frag, []byte{'\r'})
		if len(frag) > flow.MaxLineBytes {
			return nil, true, nil
		}
		return frag, false, nil
	}
}
