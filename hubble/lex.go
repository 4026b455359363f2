package hubble

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// maxDepth bounds nesting; Hubble flows nest five levels deep, so anything
// far beyond is garbage (and would otherwise cost stack).
const maxDepth = 64

// lexer walks one JSON line without building a tree: fields posture needs
// are read in place, everything else is skipped at memchr speed. Strings
// posture keeps are fully validated and unescaped; skipped strings are only
// checked for termination. The first error stops the walk.
type lexer struct {
	b     []byte
	i     int
	err   error
	depth int
	// path[d] is the byte range of the current key at depth d in b, or
	// {-1, -1} before the first key (offsets, not slices: storing a
	// pointer per key would cost a write barrier per key during GC).
	path [maxDepth][2]int32
}

func (l *lexer) reset(b []byte) {
	l.b, l.i, l.err, l.depth = b, 0, nil, 0
}

// fail records the first error with the field path where it happened.
func (l *lexer) fail(format string, args ...any) {
	if l.err != nil {
		return
	}
	l.err = &FieldError{Field: l.fieldPath(), Offset: l.i, Reason: fmt.Sprintf(format, args...)}
	l.i = len(l.b)
}

func (l *lexer) fieldPath() string {
	var sb strings.Builder
	for i := 0; i < l.depth && i < maxDepth; i++ {
		p := l.path[i]
		if p[0] < 0 {
			continue
		}
		if sb.Len() > 0 {
			sb.WriteByte('.')
		}
		sb.Write(l.b[p[0]:p[1]])
	}
	return sb.String()
}

func (l *lexer) ws() {
	for l.i < len(l.b) {
		switch l.b[l.i] {
		case ' ', '\t', '\n', '\r':
			l.i++
		default:
			return
		}
	}
}

// peek returns the next significant byte, or 0 at the end.
func (l *lexer) peek() byte {
	l.ws()
	if l.i < len(l.b) {
		return l.b[l.i]
	}
	return 0
}

func kindOf(c byte) string {
	switch c {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	case 0:
		return "end of line"
	}
	if c == '-' || (c >= '0' && c <= '9') {
		return "number"
	}
	return fmt.Sprintf("%q", c)
}

// null consumes a JSON null if one is next.
func (l *lexer) null() bool {
	if l.peek() == 'n' {
		l.literal("null")
		return true
	}
	return false
}

func (l *lexer) literal(s string) {
	if !bytes.HasPrefix(l.b[l.i:], []byte(s)) {
		l.fail("invalid literal")
		return
	}
	l.i += len(s)
}

// object starts reading an object; false for null (or on error). Read its
// keys with key until it returns false.
func (l *lexer) object() bool { return l.open('{', "object") }

// key returns the next key of the current object (positioned after its
// colon), or false at the closing brace.
func (l *lexer) key() ([]byte, bool) {
	if l.err != nil {
		return nil, false
	}
	c := l.peek()
	if c == '}' {
		l.i++
		l.depth--
		return nil, false
	}
	if l.path[l.depth-1][0] >= 0 {
		if c != ',' {
			l.fail("want ',' or '}' after object member, got %s", kindOf(c))
			return nil, false
		}
		l.i++
		c = l.peek()
	}
	if c != '"' {
		l.fail("want object key, got %s", kindOf(c))
		return nil, false
	}
	start := l.i + 1
	k := l.str()
	if l.err != nil {
		return nil, false
	}
	if k == nil {
		k = []byte{}
	}
	l.path[l.depth-1] = [2]int32{int32(start), int32(l.i - 1)}
	if l.peek() != ':' {
		l.fail("want ':' after object key")
		return nil, false
	}
	l.i++
	return k, true
}

// array starts reading an array; false for null. Call more before each
// element.
func (l *lexer) array() bool { return l.open('[', "array") }

// open enters an object or array opened by bracket; null reads as absent.
func (l *lexer) open(bracket byte, what string) bool {
	switch c := l.peek(); c {
	case bracket:
		if l.depth >= maxDepth {
			l.fail("nested too deeply")
			return false
		}
		l.i++
		l.path[l.depth] = [2]int32{-1, -1}
		l.depth++
		return true
	case 'n':
		l.literal("null")
		return false
	default:
		l.fail("want %s, got %s", what, kindOf(c))
		return false
	}
}

// more reports whether another array element follows; first is true
// before the first element.
func (l *lexer) more(first bool) bool {
	if l.err != nil {
		return false
	}
	c := l.peek()
	if c == ']' {
		l.i++
		l.depth--
		return false
	}
	if !first {
		if c != ',' {
			l.fail("want ',' or ']' after array element, got %s", kindOf(c))
			return false
		}
		l.i++
	}
	return true
}

// str reads a string value and returns its unescaped bytes. Without
// escapes the result aliases the line.
func (l *lexer) str() []byte {
	if c := l.peek(); c != '"' {
		l.fail("want string, got %s", kindOf(c))
		return nil
	}
	start := l.i + 1
	j := start
	// Eight bytes at a time while none is a quote, backslash or control
	// character.
	for j+8 <= len(l.b) && !special(binary.LittleEndian.Uint64(l.b[j:])) {
		j += 8
	}
	for ; j < len(l.b); j++ {
		c := l.b[j]
		if c == '"' {
			l.i = j + 1
			return l.b[start:j]
		}
		if c == '\\' {
			return l.strEscaped(start)
		}
		if c < 0x20 {
			l.i = j
			l.fail("control character in string")
			return nil
		}
	}
	l.i = len(l.b)
	l.fail("unterminated string")
	return nil
}

const (
	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// special reports whether any byte of x is '"', '\\' or below 0x20.
func special(x uint64) bool {
	q := x ^ (lsb * '"')
	bs := x ^ (lsb * '\\')
	return ((q-lsb)&^q|(bs-lsb)&^bs|(x-lsb*0x20)&^x)&msb != 0
}

func (l *lexer) strEscaped(start int) []byte {
	out := make([]byte, 0, 64)
	j := start
	for j < len(l.b) {
		c := l.b[j]
		switch {
		case c == '"':
			l.i = j + 1
			return out
		case c < 0x20:
			l.i = j
			l.fail("control character in string")
			return nil
		case c != '\\':
			out = append(out, c)
			j++
			continue
		}
		if j+1 >= len(l.b) {
			break
		}
		switch e := l.b[j+1]; e {
		case '"', '\\', '/':
			out = append(out, e)
			j += 2
		case 'b':
			out, j = append(out, '\b'), j+2
		case 'f':
			out, j = append(out, '\f'), j+2
		case 'n':
			out, j = append(out, '\n'), j+2
		case 'r':
			out, j = append(out, '\r'), j+2
		case 't':
			out, j = append(out, '\t'), j+2
		case 'u':
			r, ok := hex4(l.b, j+2)
			if !ok {
				l.i = j
				l.fail("invalid \\u escape")
				return nil
			}
			j += 6
			if utf16.IsSurrogate(r) {
				if r2, ok := hex4(l.b, j+2); ok && j+1 < len(l.b) && l.b[j] == '\\' && l.b[j+1] == 'u' {
					if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
						r = d
						j += 6
					} else {
						r = utf8.RuneError
					}
				} else {
					r = utf8.RuneError
				}
			}
			out = utf8.AppendRune(out, r)
		default:
			l.i = j
			l.fail("invalid escape")
			return nil
		}
	}
	l.i = len(l.b)
	l.fail("unterminated string")
	return nil
}

func hex4(b []byte, at int) (rune, bool) {
	if at+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[at : at+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// skipString skips a string without unescaping: only its end matters.
func (l *lexer) skipString() {
	j := l.i + 1
	for {
		k := bytes.IndexByte(l.b[j:], '"')
		if k < 0 {
			l.i = len(l.b)
			l.fail("unterminated string")
			return
		}
		j += k
		n := 0
		for p := j - 1; p >= l.i+1 && l.b[p] == '\\'; p-- {
			n++
		}
		j++
		if n%2 == 0 {
			l.i = j
			return
		}
	}
}

// skip skips any value. Scalars are checked fully; objects and arrays
// only for balanced brackets and terminated strings, which is what lets a
// line's unread parts (headers, ethernet, Summary) go by at memchr speed.
func (l *lexer) skip() {
	switch c := l.peek(); c {
	case '"':
		l.skipString()
	case '{', '[':
		l.skipContainer()
	case 't':
		l.literal("true")
	case 'f':
		l.literal("false")
	case 'n':
		l.literal("null")
	default:
		if c == '-' || (c >= '0' && c <= '9') {
			l.number()
			return
		}
		l.fail("want value, got %s", kindOf(c))
	}
}

func (l *lexer) skipContainer() {
	var objects uint64 // bit d set: level d is an object
	depth := 0
	b := l.b
	for j := l.i; j < len(b); j++ {
		switch b[j] {
		case '{', '[':
			if l.depth+depth >= maxDepth {
				l.i = j
				l.fail("nested too deeply")
				return
			}
			objects &^= 1 << depth
			if b[j] == '{' {
				objects |= 1 << depth
			}
			depth++
		case '}', ']':
			depth--
			if (objects&(1<<depth) != 0) != (b[j] == '}') {
				l.i = j
				l.fail("mismatched %q", b[j])
				return
			}
			if depth == 0 {
				l.i = j + 1
				return
			}
		case '"':
			l.i = j
			l.skipString()
			if l.err != nil {
				return
			}
			j = l.i - 1
		}
	}
	l.i = len(b)
	l.fail("unterminated object or array")
}

// number consumes a JSON number and returns its text.
func (l *lexer) number() []byte {
	start := l.i
	j := l.i
	if j < len(l.b) && l.b[j] == '-' {
		j++
	}
	digits := func() int {
		n := 0
		for j < len(l.b) && l.b[j] >= '0' && l.b[j] <= '9' {
			j++
			n++
		}
		return n
	}
	d0 := j
	if digits() == 0 || (l.b[d0] == '0' && j-d0 > 1) {
		l.i = start
		l.fail("invalid number")
		return nil
	}
	if j < len(l.b) && l.b[j] == '.' {
		j++
		if digits() == 0 {
			l.i = start
			l.fail("invalid number")
			return nil
		}
	}
	if j < len(l.b) && (l.b[j] == 'e' || l.b[j] == 'E') {
		j++
		if j < len(l.b) && (l.b[j] == '+' || l.b[j] == '-') {
			j++
		}
		if digits() == 0 {
			l.i = start
			l.fail("invalid number")
			return nil
		}
	}
	l.i = j
	return l.b[start:j]
}

// uint reads an unsigned integer up to max, written as a JSON number or,
// as protojson writes 64-bit integers, as a string.
func (l *lexer) uint(max uint64) uint64 {
	var txt []byte
	switch c := l.peek(); {
	case c == '"':
		txt = l.str()
	case c == '-' || (c >= '0' && c <= '9'):
		txt = l.number()
	case c == 'n':
		l.literal("null")
		return 0
	default:
		l.fail("want number, got %s", kindOf(c))
		return 0
	}
	if l.err != nil {
		return 0
	}
	var v uint64
	if len(txt) == 0 || len(txt) > 20 {
		l.fail("want unsigned integer, got %q", txt)
		return 0
	}
	for _, c := range txt {
		if c < '0' || c > '9' {
			l.fail("want unsigned integer, got %q", txt)
			return 0
		}
		d := uint64(c - '0')
		if v > (max-d)/10 {
			l.fail("%s out of range (max %d)", txt, max)
			return 0
		}
		v = v*10 + d
	}
	return v
}

// boolean reads true, false or null (false); Go's JSON encoding of a
// protobuf BoolValue wrapper, {"value":true}, is accepted too.
func (l *lexer) boolean() bool {
	switch c := l.peek(); c {
	case 't':
		l.literal("true")
		return true
	case 'f':
		l.literal("false")
		return false
	case 'n':
		l.literal("null")
		return false
	case '{':
		v := false
		if l.object() {
			for k, ok := l.key(); ok; k, ok = l.key() {
				if string(k) == "value" {
					v = l.boolean()
				} else {
					l.skip()
				}
			}
		}
		return v
	default:
		l.fail("want boolean, got %s", kindOf(c))
		return false
	}
}

// enum reads a protojson enum: its name as a string, or its number.
// Exactly one of name and num is meaningful (num is -1 for names).
func (l *lexer) enum() (name []byte, num int64) {
	switch c := l.peek(); {
	case c == '"':
		return l.str(), -1
	case c == '-' || (c >= '0' && c <= '9'):
		txt := l.number()
		n, err := strconv.ParseInt(string(txt), 10, 32)
		if err != nil && l.err == nil {
			l.fail("invalid enum number %q", txt)
		}
		return nil, n
	case c == 'n':
		l.literal("null")
		return nil, 0
	default:
		l.fail("want enum name or number, got %s", kindOf(c))
		return nil, 0
	}
}

// end checks nothing but whitespace follows the top-level value.
func (l *lexer) end() {
	if l.err == nil && l.peek() != 0 {
		l.fail("trailing data after JSON value")
	}
}
