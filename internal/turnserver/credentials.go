package turnserver

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // HMAC-SHA1 is what the TURN REST API scheme specifies.
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// maxExpiry bounds the expiry part of a username (year 9999) so that
// time.Unix never sees absurd values.
const maxExpiry = 253402300799

// MintCredential returns a time-limited TURN credential for clientID in the
// TURN REST API style that coturn, pion/turn and the KVS services use: the
// username is "EXPIRY:CLIENTID" with EXPIRY the Unix time (seconds) after
// which the credential no longer opens new allocations, and the password is
// base64(HMAC-SHA1(secret, username)).
//
// It needs nothing but the shared secret, so a node that does not run the
// TURN server (the control plane in a cluster) can hand out credentials that
// any node's TURN server accepts. clientID is used verbatim; keep it short
// (STUN limits the whole username to 513 bytes).
func MintCredential(secret []byte, clientID string, expires time.Time) (username, password string) {
	username = strconv.FormatInt(expires.Unix(), 10) + ":" + clientID
	return username, sign(secret, username)
}

// ParseUsername splits a credential username made by MintCredential into its
// expiry and client id. The client id may itself contain colons.
func ParseUsername(username string) (expires time.Time, clientID string, err error) {
	ts, id, ok := strings.Cut(username, ":")
	if !ok || ts == "" || ts[0] == '+' || ts[0] == '-' {
		return time.Time{}, "", fmt.Errorf("%w: %q", ErrBadUsername, username)
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sec > maxExpiry {
		return time.Time{}, "", fmt.Errorf("%w: %q", ErrBadUsername, username)
	}
	return time.Unix(sec, 0), id, nil
}

// sign computes the password for username.
func sign(secret []byte, username string) string {
	mac := hmac.New(sha1.New, secret)
	mac.Write([]byte(username))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}
