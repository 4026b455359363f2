package reports

import (
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/olekukonko/tablewriter/pkg/twwidth"
)

func textWidth(s string) int { return twwidth.WidthWithOptions(s, twwidth.Options{}) }

// fitColumns caps column widths so the table fits in width: the narrow
// columns keep their natural width and the widest share what is left (one
// cap for all of them, found by search), so stage names and counts do not
// wrap while long selectors and rule changes do. It returns nil when the
// table fits as it is.
func fitColumns(header []string, rows [][]string, width int) []int {
	if width <= 0 {
		return nil
	}
	natural := make([]int, len(header))
	for i, h := range header {
		natural[i] = textWidth(h)
	}
	for _, row := range rows {
		for i, c := range row {
			if i < len(natural) {
				natural[i] = max(natural[i], textWidth(c))
			}
		}
	}
	// Each column costs its content plus a space either side and a
	// border; the table adds one more border.
	budget := width - 3*len(header) - 1
	// A column is not narrowed below its longest header word (so headers
	// break between words) unless nothing else fits.
	minw := make([]int, len(header))
	for i, h := range header {
		for _, w := range strings.Fields(h) {
			minw[i] = max(minw[i], textWidth(w))
		}
		minw[i] = min(minw[i], natural[i])
	}
	widthAt := func(i, c int, floors bool) int {
		w := min(natural[i], c)
		if floors {
			w = max(w, minw[i])
		}
		return w
	}
	total := func(c int, floors bool) int {
		n := 0
		for i := range natural {
			n += widthAt(i, c, floors)
		}
		return n
	}
	widest := slices.Max(natural)
	if total(widest, false) <= budget {
		return nil
	}
	floors := total(0, true) <= budget
	const floor = 4
	lo, hi := floor, widest // the largest cap that fits
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if total(mid, floors) <= budget {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	caps := make([]int, len(natural))
	for i := range natural {
		caps[i] = widthAt(i, lo, floors)
	}
	return caps
}

func wrapRow(row []string, caps []int) []string {
	out := make([]string, len(row))
	for i, c := range row {
		if i < len(caps) {
			out[i] = wrapCell(c, caps[i])
		} else {
			out[i] = c
		}
	}
	return out
}

// wrapCell wraps a cell, keeping a colour that spans the whole cell on
// every line so no escape sequence bleeds into the borders.
func wrapCell(s string, width int) string {
	if !strings.HasPrefix(s, "\x1b[") || !strings.HasSuffix(s, ansiReset) {
		return wrapText(s, width)
	}
	end := strings.LastIndex(s[:len(s)-len(ansiReset)], "m") // last code before the text
	i := 0
	for strings.HasPrefix(s[i:], "\x1b[") {
		j := strings.IndexByte(s[i:], 'm')
		if j < 0 || i+j > end {
			break
		}
		i += j + 1
	}
	code, inner := s[:i], s[i:len(s)-len(ansiReset)]
	lines := strings.Split(wrapText(inner, width), "\n")
	for k, l := range lines {
		lines[k] = code + l + ansiReset
	}
	return strings.Join(lines, "\n")
}

// wrapText wraps s to lines of at most width columns, between words where
// it can and inside a word only when the word alone is wider.
func wrapText(s string, width int) string {
	if textWidth(s) <= width {
		return s
	}
	var lines []string
	var cur strings.Builder
	curW := 0
	flush := func() {
		lines = append(lines, cur.String())
		cur.Reset()
		curW = 0
	}
	for _, word := range strings.Fields(s) {
		ww := textWidth(word)
		if curW > 0 && curW+1+ww <= width {
			cur.WriteByte(' ')
			cur.WriteString(word)
			curW += 1 + ww
			continue
		}
		if curW > 0 {
			flush()
		}
		for ww > width { // break a long word at the column edge
			n, w := 0, 0
			for i, r := range word {
				rw := textWidth(string(r))
				if w+rw > width {
					n = i
					break
				}
				w += rw
			}
			if n == 0 { // a single rune wider than the column
				_, size := utf8.DecodeRuneInString(word)
				n = size
			}
			lines = append(lines, word[:n])
			word = word[n:]
			ww = textWidth(word)
		}
		cur.WriteString(word)
		curW = ww
	}
	if curW > 0 || len(lines) == 0 {
		flush()
	}
	return strings.Join(lines, "\n")
}
