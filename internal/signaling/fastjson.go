package signaling

// decodeFlat decodes the common shape of a client message, a flat JSON
// object of ASCII strings without escapes (and nulls), the way
// encoding/json decodes it into a wireClientMessage: member names matched
// without regard to case, unknown members ignored, the last of a repeated
// member winning, null clearing. Anything else (escapes, non-ASCII,
// numbers, arrays, nested objects, bad syntax) returns ok false and is left
// to encoding/json. It exists because a 4 KB SDP takes encoding/json tens of
// microseconds and this a fraction of that; FuzzDecodeMessage checks that
// both agree.
func decodeFlat(data []byte) (w wireClientMessage, ok bool) {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return w, false
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return w, skipSpace(data, i+1) == len(data)
	}
	for {
		key, next, ok := plainString(data, i)
		if !ok {
			return w, false
		}
		i = skipSpace(data, next)
		if i >= len(data) || data[i] != ':' {
			return w, false
		}
		i = skipSpace(data, i+1)
		var val *string
		switch {
		case i < len(data) && data[i] == '"':
			v, next, ok := plainString(data, i)
			if !ok {
				return w, false
			}
			s := string(v)
			val, i = &s, next
		case len(data)-i >= 4 && string(data[i:i+4]) == "null":
			i += 4
		default:
			return w, false
		}
		switch {
		case asciiEqualFold(key, "action"):
			w.Action = val
		case asciiEqualFold(key, "recipientClientId"):
			w.RecipientClientID = val
		case asciiEqualFold(key, "messagePayload"):
			w.MessagePayload = val
		case asciiEqualFold(key, "correlationId"):
			w.CorrelationID = val
		}
		i = skipSpace(data, i)
		if i >= len(data) {
			return w, false
		}
		switch data[i] {
		case ',':
			i = skipSpace(data, i+1)
		case '}':
			return w, skipSpace(data, i+1) == len(data)
		default:
			return w, false
		}
	}
}

// skipSpace skips JSON whitespace from i.
func skipSpace(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// plainString reads the string starting with the quote at data[i]: its
// contents and the index after the closing quote, or ok false if it is not
// a string of printable ASCII without escapes.
func plainString(data []byte, i int) (s []byte, next int, ok bool) {
	if i >= len(data) || data[i] != '"' {
		return nil, 0, false
	}
	for j := i + 1; j < len(data); j++ {
		switch c := data[j]; {
		case c == '"':
			return data[i+1 : j], j + 1, true
		case c == '\\' || c < 0x20 || c >= 0x80:
			return nil, 0, false
		}
	}
	return nil, 0, false
}

// asciiEqualFold compares an ASCII b with the ASCII name, ignoring case.
func asciiEqualFold(b []byte, name string) bool {
	if len(b) != len(name) {
		return false
	}
	for i := range b {
		c, n := b[i], name[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if 'A' <= n && n <= 'Z' {
			n += 'a' - 'A'
		}
		if c != n {
			return false
		}
	}
	return true
}
