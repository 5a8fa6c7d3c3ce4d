package token

import (
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// maxDepth bounds the nesting of claims we skip, so that a token cannot
// make the reader recurse deeply.
const maxDepth = 16

// lexer reads the single JSON object (RFC 8259) of a JOSE header or a JWT
// claims set. It is stricter than encoding/json where laxness could let two
// parsers read one token differently: member names may not be escaped,
// strings must be valid UTF-8, dates must be plain integers, and nothing but
// whitespace may follow the object. Errors set bad; callers check it after
// each value.
type lexer struct {
	b    []byte
	i    int
	more bool // a member has been read, so the next needs a comma
	bad  bool
}

func (l *lexer) peek() byte {
	if l.i < len(l.b) {
		return l.b[l.i]
	}
	return 0
}

func (l *lexer) ws() {
	// Tokens are compact JSON; one comparison settles the usual case.
	for l.i < len(l.b) && l.b[l.i] <= ' ' && (l.b[l.i] == ' ' || l.b[l.i] == '\t' || l.b[l.i] == '\n' || l.b[l.i] == '\r') {
		l.i++
	}
}

// open reads the '{' that starts the object.
func (l *lexer) open() bool {
	l.ws()
	if l.peek() != '{' {
		return false
	}
	l.i++
	return true
}

// member reads the next member's name and the ':' after it. At the closing
// '}', or on an error, it returns false.
func (l *lexer) member() (name []byte, ok bool) {
	l.ws()
	switch {
	case l.peek() == '}':
		l.i++
		return nil, false
	case l.more && l.peek() != ',':
		l.bad = true
		return nil, false
	case l.more:
		l.i++
		l.ws()
	}
	name, esc := l.str()
	l.ws()
	if l.bad || esc || l.peek() != ':' {
		l.bad = true
		return nil, false
	}
	l.i++
	l.ws()
	l.more = true
	return name, true
}

// end reports whether the object was well formed and is all there is.
func (l *lexer) end() bool {
	l.ws()
	return !l.bad && l.i == len(l.b)
}

// str reads a string and returns its raw contents and whether they hold
// escapes. The escapes are checked but not decoded.
func (l *lexer) str() (raw []byte, esc bool) {
	b, i := l.b, l.i // locals keep the loop in registers
	if i >= len(b) || b[i] != '"' {
		l.bad = true
		return nil, false
	}
	i++
	start, ascii := i, true
	for i < len(b) {
		switch c := b[i]; {
		case c >= 0x20 && c < utf8.RuneSelf && c != '"' && c != '\\':
			i++
		case c == '"':
			l.i = i + 1
			raw = b[start:i]
			if !ascii && !utf8.Valid(raw) {
				l.bad = true
			}
			return raw, esc
		case c == '\\':
			n := escapeLen(b[i:])
			if n == 0 {
				l.bad = true
				return nil, false
			}
			esc = true
			i += n
		case c < 0x20:
			l.bad = true
			return nil, false
		default:
			ascii = false
			i++
		}
	}
	l.bad = true // unterminated
	return nil, false
}

// escapeLen returns the length of the escape sequence (RFC 8259 §7) that
// starts b, or 0 if it is not one.
func escapeLen(b []byte) int {
	if len(b) < 2 {
		return 0
	}
	switch b[1] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return 2
	case 'u':
		if len(b) < 6 || hex4(b[2:6]) < 0 {
			return 0
		}
		return 6
	}
	return 0
}

// text reads a string value. src holds the same bytes as l.b, so an
// unescaped value is returned as a substring of src, without allocating.
func (l *lexer) text(src string) string {
	start := l.i + 1
	raw, esc := l.str()
	if l.bad {
		return ""
	}
	if !esc {
		return src[start : start+len(raw)]
	}
	s, ok := unescape(raw)
	l.bad = !ok
	return s
}

// unescape decodes the escapes of raw, which str has checked. A lone or
// reversed surrogate is refused, not replaced: it cannot be valid UTF-8.
func unescape(raw []byte) (string, bool) {
	var b strings.Builder
	b.Grow(len(raw))
	for i := 0; i < len(raw); {
		if raw[i] != '\\' {
			b.WriteByte(raw[i])
			i++
			continue
		}
		c := raw[i+1]
		i += 2
		switch c {
		case 'b':
			c = '\b'
		case 'f':
			c = '\f'
		case 'n':
			c = '\n'
		case 'r':
			c = '\r'
		case 't':
			c = '\t'
		case 'u':
			r := rune(hex4(raw[i : i+4]))
			i += 4
			if utf16.IsSurrogate(r) {
				if i+6 > len(raw) || raw[i] != '\\' || raw[i+1] != 'u' {
					return "", false
				}
				if r = utf16.DecodeRune(r, rune(hex4(raw[i+2:i+6]))); r == utf8.RuneError {
					return "", false
				}
				i += 6
			}
			b.WriteRune(r)
			continue
		}
		b.WriteByte(c) // '"', '\\', '/' stand for themselves
	}
	return b.String(), true
}

// hex4 decodes four hex digits, or returns -1.
func hex4(b []byte) int {
	n := 0
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return -1
		}
		n = n<<4 | int(c)
	}
	return n
}

// date reads a NumericDate (RFC 7519 §2). We accept only a non-negative
// integer of at most 18 digits (so it cannot overflow), without fraction or
// exponent — what every issuer we talk to writes — rather than round a
// time; anything else is malformed.
func (l *lexer) date() int64 {
	b, i := l.b, l.i
	var n int64
	for ; i < len(b) && '0' <= b[i] && b[i] <= '9'; i++ {
		n = n*10 + int64(b[i]-'0')
	}
	if digits := i - l.i; digits == 0 || digits > 18 || digits > 1 && b[l.i] == '0' {
		l.bad = true
	}
	l.i = i
	// A '.', 'e' or other byte that follows is caught by member, which
	// then expects ',' or '}'.
	return n
}

// skip steps over one value of any kind, checking its form.
func (l *lexer) skip(depth int) {
	if depth > maxDepth {
		l.bad = true
		return
	}
	switch c := l.peek(); {
	case c == '"':
		l.str()
	case c == '{':
		l.i++
		l.ws()
		if l.peek() == '}' {
			l.i++
			return
		}
		for !l.bad {
			l.str()
			l.ws()
			if l.peek() != ':' {
				l.bad = true
				return
			}
			l.i++
			l.ws()
			l.skip(depth + 1)
			if !l.closeOrComma('}') {
				return
			}
		}
	case c == '[':
		l.i++
		l.ws()
		if l.peek() == ']' {
			l.i++
			return
		}
		for !l.bad {
			l.skip(depth + 1)
			if !l.closeOrComma(']') {
				return
			}
		}
	case c == '-' || '0' <= c && c <= '9':
		l.number()
	case c == 't':
		l.literal("true")
	case c == 'f':
		l.literal("false")
	case c == 'n':
		l.literal("null")
	default:
		l.bad = true
	}
}

// closeOrComma reads the ',' between elements (and reports true: more
// follow) or the closing byte.
func (l *lexer) closeOrComma(closing byte) bool {
	l.ws()
	switch l.peek() {
	case ',':
		l.i++
		l.ws()
		return !l.bad
	case closing:
		l.i++
	default:
		l.bad = true
	}
	return false
}

func (l *lexer) literal(word string) {
	if len(l.b)-l.i < len(word) || string(l.b[l.i:l.i+len(word)]) != word {
		l.bad = true
		return
	}
	l.i += len(word)
}

// number steps over a JSON number (RFC 8259 §6).
func (l *lexer) number() {
	digits := func() int {
		start := l.i
		for l.i < len(l.b) && '0' <= l.b[l.i] && l.b[l.i] <= '9' {
			l.i++
		}
		return l.i - start
	}
	if l.peek() == '-' {
		l.i++
	}
	if l.peek() == '0' {
		l.i++
	} else if digits() == 0 {
		l.bad = true
		return
	}
	if l.peek() == '.' {
		l.i++
		if digits() == 0 {
			l.bad = true
			return
		}
	}
	if c := l.peek(); c == 'e' || c == 'E' {
		l.i++
		if c := l.peek(); c == '+' || c == '-' {
			l.i++
		}
		if digits() == 0 {
			l.bad = true
		}
	}
}
