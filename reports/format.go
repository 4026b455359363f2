package reports

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// fmtDuration renders a duration for people at the precision a rollout
// cares about: days and hours, or hours and minutes under a day.
func fmtDuration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	days := int64(d / (24 * time.Hour))
	hours := int64(d/time.Hour) % 24
	mins := int64(d/time.Minute) % 60
	switch {
	case days > 0 && hours > 0:
		return fmt.Sprintf("%dd %dh", days, hours)
	case days > 0:
		return fmt.Sprintf("%dd", days)
	case hours > 0 && mins > 0:
		return fmt.Sprintf("%dh %dm", hours, mins)
	case hours > 0:
		return fmt.Sprintf("%dh", hours)
	case mins > 0:
		return fmt.Sprintf("%dm", mins)
	default:
		return "<1m"
	}
}

func fmtSeconds(s int64) string { return fmtDuration(time.Duration(s) * time.Second) }

// fmtPercent renders a 0..1 ratio; 99.95% must not read as 100%, since
// "100% covered" is a promise, so it rounds down.
func fmtPercent(r float64) string {
	if r != r { // NaN from a bad status file
		return "n/a"
	}
	tenths := int64(math.Floor(r*1000 + 1e-9))
	if tenths < 0 {
		tenths = 0
	}
	return strconv.FormatInt(tenths/10, 10) + "." + strconv.FormatInt(tenths%10, 10) + "%"
}

// fmtTime is an absolute UTC timestamp at minute precision.
func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// fmtShortTime names a moment within the next weeks: "Tue 25 Nov 06:00 UTC".
func fmtShortTime(t time.Time) string { return t.UTC().Format("Mon 02 Jan 15:04 UTC") }

// fmtCount groups thousands so large would-deny counts read at a glance.
func fmtCount(n uint64) string {
	s := strconv.FormatUint(n, 10)
	if len(s) <= 3 {
		return s
	}
	var b strings.Builder
	pre := len(s) % 3
	if pre > 0 {
		b.WriteString(s[:pre])
	}
	for i := pre; i < len(s); i += 3 {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(s[i : i+3])
	}
	return b.String()
}

// isBidiControl reports the invisible characters that reorder text
// (Trojan Source): a label holding one could make a report say something
// other than what it contains.
func isBidiControl(r rune) bool {
	return (r >= 0x202A && r <= 0x202E) || (r >= 0x2066 && r <= 0x2069) || r == 0x200E || r == 0x200F || r == 0x061C
}

// plain makes user-controlled text safe for a terminal or a text document:
// control characters (ANSI escapes, newlines) and bidi controls become
// visible \u escapes, and the result is cut to max runes (0 = no cut).
func plain(s string, max int) string {
	clean := true
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || isBidiControl(r) || r == utf8.RuneError {
			clean = false
			break
		}
	}
	if clean && (max == 0 || utf8.RuneCountInString(s) <= max) {
		return s
	}
	var b strings.Builder
	n := 0
	for _, r := range s {
		if max > 0 && n >= max-1 {
			b.WriteString("…")
			break
		}
		switch {
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == utf8.RuneError:
			b.WriteRune(unicode.ReplacementChar)
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || isBidiControl(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
		n++
	}
	return b.String()
}

// dash stands in for an empty value so a cell never looks like a bug.
func dash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}
