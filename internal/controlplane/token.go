package controlplane

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"hash/crc32"
)

// Pagination tokens are opaque to clients: standard base64 (which satisfies
// the model's NextToken pattern [a-zA-Z0-9+/=]*) of
//
//	"okvs1" 0x00 kind 0x00 after CRC32(everything before)
//
// where kind names the listing ("streams", "channels", ...) and after is the
// last name returned. The checksum makes a damaged or hand-made token fail
// with InvalidArgumentException instead of silently listing from somewhere
// else. Tokens hold no server state, so they survive restarts and work on
// every node.

const tokenMagic = "okvs1"

// Token kinds.
const (
	tokenStreams  = "streams"
	tokenChannels = "channels"
	tokenEdge     = "edge"
)

func encodeToken(kind, after string) string {
	var b bytes.Buffer
	b.WriteString(tokenMagic)
	b.WriteByte(0)
	b.WriteString(kind)
	b.WriteByte(0)
	b.WriteString(after)
	b.Write(binary.BigEndian.AppendUint32(nil, crc32.ChecksumIEEE(b.Bytes())))
	return base64.StdEncoding.EncodeToString(b.Bytes())
}

// decodeToken returns the cursor in a token made by encodeToken for kind.
// An empty token is the first page. Anything else that is not such a token
// is an InvalidArgumentException.
func decodeToken(kind, tok string) (after string, err error) {
	if tok == "" {
		return "", nil
	}
	bad := invalid("The NextToken %s is not valid for this operation.", quote(tok))
	raw, err := base64.StdEncoding.DecodeString(tok)
	if err != nil || len(raw) < 4 {
		return "", bad
	}
	body, sum := raw[:len(raw)-4], raw[len(raw)-4:]
	if crc32.ChecksumIEEE(body) != binary.BigEndian.Uint32(sum) {
		return "", bad
	}
	parts := bytes.SplitN(body, []byte{0}, 3)
	if len(parts) != 3 || string(parts[0]) != tokenMagic || string(parts[1]) != kind {
		return "", bad
	}
	after = string(parts[2])
	if !namePattern.MatchString(after) || len(after) > 256 {
		return "", bad
	}
	return after, nil
}
