package awsapi

// AWS Signature Version 4 verification, as described in the AWS General
// Reference ("Create a signed AWS API request",
// https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv-create-signed-request.html)
// and in "Authenticating Requests: Using Query Parameters" for presigned URLs.
//
// A request is signed over a canonical request:
//
//	METHOD \n CANONICAL_URI \n CANONICAL_QUERY \n CANONICAL_HEADERS \n SIGNED_HEADERS \n PAYLOAD_HASH
//
// and the string to sign
//
//	AWS4-HMAC-SHA256 \n AMZ_DATE \n DATE/REGION/SERVICE/aws4_request \n hex(SHA256(canonical request))
//
// with the key HMAC(HMAC(HMAC(HMAC("AWS4"+secret, DATE), REGION), SERVICE), "aws4_request").
//
// Clients do not all build the canonical request the same way (path
// normalization, single or double URI encoding, '+' in query strings, a
// session token added after presigning, the payload hash of a streaming
// body), so when the usual form does not match, the verifier also tries the
// forms the official SDKs and the KVS C SDKs are known to produce, at most
// maxAlternatives of them. Each is another reading of the same bytes on the
// wire; the only latitude they leave an attacker who replays a captured
// request is to re-escape its path (which decodes to the same r.URL.Path) or
// to write a query "%2B" as "+", which Go decodes as a space.

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	sigV4Algorithm = "AWS4-HMAC-SHA256"
	sigV4Term      = "aws4_request"
	amzDateLayout  = "20060102T150405Z"
	// UnsignedPayload is the x-amz-content-sha256 value of a request whose
	// body is not covered by its signature.
	UnsignedPayload = "UNSIGNED-PAYLOAD"
	// EmptyPayloadHash is the hex SHA-256 of the empty string: the payload
	// hash of bodiless requests, presigned URLs and (as the KVS producer SDKs
	// sign it) the streaming PutMedia body.
	EmptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

	defaultService           = "kinesisvideo"
	defaultMaxSkew           = 5 * time.Minute
	defaultMaxPresignExpires = 7 * 24 * time.Hour

	// keyCacheSize bounds the signing-key cache; it is emptied when full.
	keyCacheSize = 1024
	// maxAlternatives bounds the canonical forms tried for one request.
	maxAlternatives = 64

	msgMissingToken     = "Missing Authentication Token"
	msgUnknownKey       = "The security token included in the request is invalid."
	msgSignatureMismach = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method."
)

// Errors returned by NewVerifier for an invalid VerifierConfig.
var (
	ErrNoCredentials    = errors.New("awsapi: VerifierConfig.Credentials is required")
	ErrEmptyCredential  = errors.New("awsapi: empty access key ID or secret access key")
	ErrNegativeDuration = errors.New("awsapi: negative duration or size in VerifierConfig")
	ErrBodyBudget       = errors.New("awsapi: VerifierConfig.UnverifiedBodyBytes is smaller than MaxHashedBody")
)

// VerifierConfig configures a Verifier.
type VerifierConfig struct {
	// Credentials maps access key ID -> secret access key. Required (may be
	// empty: then every request is UnrecognizedClient).
	Credentials map[string]string
	// SessionTokens, when non-nil, maps access key ID -> the session token
	// issued with that key. A request that carries a session token must
	// carry that one; with a key that has none it may carry none, as AWS
	// refuses a token with a long-term key. Otherwise the request is
	// UnrecognizedClientException. nil leaves tokens unchecked.
	SessionTokens map[string]string
	// Service is the SigV4 signing name. Defaults to "kinesisvideo".
	Service string
	// Regions restricts accepted regions; empty accepts any region.
	Regions []string
	// MaxSkew is the allowed clock skew for header-signed requests (and how
	// far in the future a presigned URL may be dated). Defaults to 5 minutes.
	MaxSkew time.Duration
	// MaxPresignExpires is the largest X-Amz-Expires accepted. Defaults to 7
	// days (604800 s). A presigned URL without X-Amz-Expires is valid for
	// MaxSkew.
	MaxPresignExpires time.Duration
	// MaxHashedBody is the largest body read to check a payload hash.
	// Defaults to MaxJSONBody.
	MaxHashedBody int64
	// BodyReadTimeout is the longest wait between two reads of a body read
	// before its signature is checked (requests without
	// x-amz-content-sha256). Defaults to DefaultBodyReadTimeout.
	BodyReadTimeout time.Duration
	// UnverifiedBodyBytes bounds the bytes of all the bodies being read
	// before their signature is checked, together; beyond it requests are
	// answered ClientLimitExceededException (503, which the SDKs retry).
	// Defaults to DefaultUnverifiedBodyBytes; it must be at least
	// MaxHashedBody.
	UnverifiedBodyBytes int64
	// Now returns the current time. Defaults to time.Now.
	Now func() time.Time
}

// Verifier authenticates requests signed with AWS Signature Version 4, in
// the Authorization header or as a presigned URL. It is safe for concurrent
// use.
type Verifier struct {
	creds         map[string]string
	tokens        map[string]string // nil: tokens unchecked
	service       string
	regions       map[string]bool // nil: any region
	maxSkew       time.Duration
	maxExpires    time.Duration
	maxHashedBody int64
	bodyTimeout   time.Duration
	budget        *bodyBudget
	now           func() time.Time

	// testHookReserved, when set, runs after a request reserved bytes of
	// the unverified-body budget.
	testHookReserved func()

	mu   sync.Mutex
	keys map[keyID][]byte
}

// keyID names one derived signing key. The service is the Verifier's own
// and the secret is fixed per access key, so neither is part of it.
type keyID struct{ accessKey, date, region string }

// NewVerifier returns a Verifier for cfg.
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	if cfg.Credentials == nil {
		return nil, ErrNoCredentials
	}
	if cfg.MaxSkew < 0 || cfg.MaxPresignExpires < 0 || cfg.MaxHashedBody < 0 || cfg.BodyReadTimeout < 0 || cfg.UnverifiedBodyBytes < 0 {
		return nil, ErrNegativeDuration
	}
	v := &Verifier{
		creds:         make(map[string]string, len(cfg.Credentials)),
		tokens:        maps.Clone(cfg.SessionTokens),
		service:       cfg.Service,
		maxSkew:       cfg.MaxSkew,
		maxExpires:    cfg.MaxPresignExpires,
		maxHashedBody: cfg.MaxHashedBody,
		bodyTimeout:   cfg.BodyReadTimeout,
		budget:        &bodyBudget{max: cfg.UnverifiedBodyBytes},
		now:           cfg.Now,
		keys:          make(map[keyID][]byte),
	}
	for id, secret := range cfg.Credentials {
		if id == "" || secret == "" {
			return nil, ErrEmptyCredential
		}
		v.creds[id] = secret
	}
	if v.service == "" {
		v.service = defaultService
	}
	if len(cfg.Regions) > 0 {
		v.regions = make(map[string]bool, len(cfg.Regions))
		for _, r := range cfg.Regions {
			v.regions[r] = true
		}
	}
	if v.maxSkew == 0 {
		v.maxSkew = defaultMaxSkew
	}
	if v.maxExpires == 0 {
		v.maxExpires = defaultMaxPresignExpires
	}
	if v.maxHashedBody == 0 {
		v.maxHashedBody = MaxJSONBody
	}
	if v.bodyTimeout == 0 {
		v.bodyTimeout = DefaultBodyReadTimeout
	}
	if v.budget.max == 0 {
		v.budget.max = DefaultUnverifiedBodyBytes
	}
	if v.budget.max < v.maxHashedBody {
		return nil, ErrBodyBudget
	}
	if v.now == nil {
		v.now = time.Now
	}
	return v, nil
}

// Middleware wraps next: it verifies each request, records the caller with
// WithIdentity and calls next, or answers with the verification error.
func (v *Verifier) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := v.verify(w, r)
		if err != nil {
			if hasBody(r) {
				// Answer now and close instead of reading the rest of
				// the body, which net/http would do to reuse the
				// connection: a streaming body (PutMedia) may never end,
				// and a slow one would hold the connection unbounded.
				w.Header().Set("Connection", "close")
			}
			WriteError(w, r, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(WithIdentity(r.Context(), id)))
	})
}

// sigAuth is what a request claims about its own signature, from the
// Authorization header or the presigned query.
type sigAuth struct {
	presigned     bool
	accessKey     string
	scopeDate     string
	region        string
	service       string
	signedHeaders []string // lower case, in the client's order
	signedRaw     string   // the SignedHeaders value as sent
	signature     [sha256.Size]byte
	sigValid      bool // signature is 64 hex digits
	amzDate       string
	time          time.Time
	expires       time.Duration // presigned only
	token         string
	payloadHash   string // from x-amz-content-sha256 (header or query), or ""
}

// Verify authenticates r (Authorization header or presigned query string).
// On success it returns the caller's identity; r.Body may have been
// replaced by an equivalent reader (when the body had to be hashed). On
// failure it returns an *Error with the code and status AWS uses. Verify
// cannot bound the time a body read before the signature check takes;
// Middleware does.
func (v *Verifier) Verify(r *http.Request) (*Identity, error) {
	return v.verify(nil, r)
}

// verify is Verify; with w set, a body read before the signature check
// gets read deadlines through w's connection.
func (v *Verifier) verify(w http.ResponseWriter, r *http.Request) (*Identity, error) {
	query := parseQuery(r.URL.RawQuery)
	authz := r.Header.Values("Authorization")
	if len(authz) == 1 && strings.TrimSpace(authz[0]) == "" {
		authz = nil // an empty header is no header
	}
	presigned := query.has("X-Amz-Algorithm") || query.has("X-Amz-Credential") || query.has("X-Amz-Signature")

	var a *sigAuth
	var err error
	switch {
	case len(authz) == 0 && !presigned:
		return nil, Errorf(MissingAuthenticationToken, msgMissingToken)
	case len(authz) > 0 && presigned:
		return nil, Errorf(IncompleteSignature, "Only one authentication method is allowed: sign the request with either the Authorization header or the X-Amz-* query parameters, not both.")
	case len(authz) > 1:
		return nil, Errorf(IncompleteSignature, "The request has %d Authorization headers; exactly one is allowed.", len(authz))
	case presigned:
		a, err = v.parsePresigned(r, query)
	default:
		a, err = v.parseHeaderAuth(r, authz[0])
	}
	if err != nil {
		return nil, err
	}
	if err := v.checkScope(a); err != nil {
		return nil, err
	}
	secret, ok := v.creds[a.accessKey]
	if !ok {
		return nil, Errorf(UnrecognizedClient, msgUnknownKey)
	}
	if err := v.checkToken(a); err != nil {
		return nil, err
	}
	body := &unverifiedBody{v: v, w: w}
	defer body.release()
	payloads, after, err := v.payloadHashes(r, a, body)
	if err != nil {
		return nil, err
	}
	key := v.signingKey(a.accessKey, secret, a.scopeDate, a.region)
	if !v.matches(r, a, query, key, payloads) {
		return nil, Errorf(InvalidSignature, msgSignatureMismach)
	}
	if after != nil {
		if err := after(); err != nil {
			return nil, err
		}
	}
	return &Identity{AccessKeyID: a.accessKey, Region: a.region, SessionToken: a.token}, nil
}

// parseHeaderAuth reads the Authorization header and the request date.
func (v *Verifier) parseHeaderAuth(r *http.Request, authz string) (*sigAuth, error) {
	cred, signed, sig, missing, err := parseAuthorization(authz)
	if err != nil {
		return nil, err
	}
	a := &sigAuth{token: r.Header.Get("X-Amz-Security-Token"), payloadHash: r.Header.Get("X-Amz-Content-Sha256")}
	if d := r.Header.Get("X-Amz-Date"); d != "" {
		a.amzDate = d
		t, err := time.Parse(amzDateLayout, d)
		if err != nil {
			return nil, Errorf(IncompleteSignature, "Date must be in ISO-8601 basic format (YYYYMMDD'T'HHMMSS'Z'); got X-Amz-Date %q.", truncate(d, 64))
		}
		a.time = t
	} else if d := r.Header.Get("Date"); d != "" {
		t, err := http.ParseTime(d)
		if err != nil {
			return nil, Errorf(IncompleteSignature, "The Date header %q is not an HTTP date; send X-Amz-Date in ISO-8601 basic format instead.", truncate(d, 64))
		}
		a.time = t.UTC()
		a.amzDate = a.time.Format(amzDateLayout)
	} else {
		missing = append(missing, "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
	}
	if len(missing) > 0 {
		return nil, missingError(missing, authz)
	}
	if err := a.setCredential(cred); err != nil {
		return nil, err
	}
	if err := a.setSignedHeaders(signed); err != nil {
		return nil, err
	}
	a.setSignature(sig)
	if err := v.checkSkew(a); err != nil {
		return nil, err
	}
	return a, nil
}

func missingError(missing []string, authz string) *Error {
	return Errorf(IncompleteSignature, "%s Authorization=%s", strings.Join(missing, " "), truncate(authz, 256))
}

// ParseAuthorization splits a SigV4 Authorization header value,
// "AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request,
// SignedHeaders=a;b, Signature=HEX", into its three components. It checks
// only the syntax; errors are *Error values with code
// IncompleteSignatureException.
func ParseAuthorization(h string) (credential, signedHeaders, signature string, err error) {
	credential, signedHeaders, signature, missing, err := parseAuthorization(h)
	if err == nil && len(missing) > 0 {
		err = missingError(missing, h)
	}
	return credential, signedHeaders, signature, err
}

// parseAuthorization is ParseAuthorization that lists absent components
// instead of failing, so that they can be reported with other problems.
func parseAuthorization(h string) (credential, signedHeaders, signature string, missing []string, err error) {
	alg, rest, _ := strings.Cut(strings.TrimLeft(h, " "), " ")
	if alg != sigV4Algorithm {
		return "", "", "", nil, Errorf(IncompleteSignature, "Unsupported Authorization scheme %q: requests must be signed with %s. Authorization=%s", truncate(alg, 64), sigV4Algorithm, truncate(h, 256))
	}
	seen := 0
	for part := range strings.SplitSeq(rest, ",") {
		part = strings.Trim(part, " \t")
		if part == "" {
			continue
		}
		k, val, ok := strings.Cut(part, "=")
		if !ok {
			return "", "", "", nil, Errorf(IncompleteSignature, "Authorization header component %q is not a key=value pair. Authorization=%s", truncate(part, 64), truncate(h, 256))
		}
		var dst *string
		var bit int
		switch k {
		case "Credential":
			dst, bit = &credential, 1
		case "SignedHeaders":
			dst, bit = &signedHeaders, 2
		case "Signature":
			dst, bit = &signature, 4
		default:
			continue // unknown components are ignored
		}
		if seen&bit != 0 {
			return "", "", "", nil, Errorf(IncompleteSignature, "Authorization header has more than one %q component. Authorization=%s", k, truncate(h, 256))
		}
		seen |= bit
		*dst = val
	}
	for _, c := range [...]struct{ name, val string }{{"Credential", credential}, {"Signature", signature}, {"SignedHeaders", signedHeaders}} {
		if c.val == "" {
			missing = append(missing, "Authorization header requires '"+c.name+"' parameter.")
		}
	}
	return credential, signedHeaders, signature, missing, nil
}

// parsePresigned reads the X-Amz-* query parameters of a presigned URL.
func (v *Verifier) parsePresigned(r *http.Request, q queryPairs) (*sigAuth, error) {
	var missing []string
	get := func(name string) string {
		val, ok := q.get(name)
		if !ok || val == "" {
			missing = append(missing, "'"+name+"'")
		}
		return val
	}
	alg := get("X-Amz-Algorithm")
	cred := get("X-Amz-Credential")
	sig := get("X-Amz-Signature")
	date := get("X-Amz-Date")
	signed := get("X-Amz-SignedHeaders")
	if len(missing) > 0 {
		return nil, Errorf(IncompleteSignature, "AWS query-string authentication requires the parameters 'X-Amz-Algorithm', 'X-Amz-Credential', 'X-Amz-Signature', 'X-Amz-Date', 'X-Amz-SignedHeaders' (and optionally 'X-Amz-Expires', 'X-Amz-Security-Token'); missing %s.", strings.Join(missing, ", "))
	}
	if alg != sigV4Algorithm {
		return nil, Errorf(IncompleteSignature, "X-Amz-Algorithm only supports %q, not %q.", sigV4Algorithm, truncate(alg, 64))
	}
	a := &sigAuth{presigned: true, amzDate: date, expires: v.maxSkew}
	a.token, _ = q.get("X-Amz-Security-Token")
	if h, ok := q.get("X-Amz-Content-Sha256"); ok {
		a.payloadHash = h
	} else {
		a.payloadHash = r.Header.Get("X-Amz-Content-Sha256")
	}
	t, err := time.Parse(amzDateLayout, date)
	if err != nil {
		return nil, Errorf(IncompleteSignature, "X-Amz-Date must be in ISO-8601 basic format (YYYYMMDD'T'HHMMSS'Z'); got %q.", truncate(date, 64))
	}
	a.time = t
	if e, ok := q.get("X-Amz-Expires"); ok {
		n, err := strconv.ParseInt(e, 10, 64)
		if err != nil || n < 0 {
			return nil, Errorf(IncompleteSignature, "X-Amz-Expires must be a non-negative integer number of seconds; got %q.", truncate(e, 64))
		}
		if max := int64(v.maxExpires / time.Second); n > max {
			return nil, Errorf(IncompleteSignature, "X-Amz-Expires must be at most %d seconds; got %d.", max, n)
		}
		a.expires = time.Duration(n) * time.Second
	}
	if err := a.setCredential(cred); err != nil {
		return nil, err
	}
	if err := a.setSignedHeaders(signed); err != nil {
		return nil, err
	}
	a.setSignature(sig)
	if err := v.checkSkew(a); err != nil {
		return nil, err
	}
	return a, nil
}

// setCredential parses AKID/YYYYMMDD/REGION/SERVICE/aws4_request.
func (a *sigAuth) setCredential(cred string) error {
	parts := strings.Split(cred, "/")
	if len(parts) != 5 || parts[0] == "" || parts[2] == "" || parts[3] == "" {
		return Errorf(IncompleteSignature, "Credential must have the form 'AccessKeyID/YYYYMMDD/region/service/aws4_request'; got %q.", truncate(cred, 256))
	}
	if len(parts[1]) != 8 || !allDigits(parts[1]) {
		return Errorf(IncompleteSignature, "Credential scope date must be YYYYMMDD; got %q.", truncate(parts[1], 64))
	}
	if parts[4] != sigV4Term {
		return Errorf(IncompleteSignature, "Credential should be scoped with a valid terminator: '%s', not '%s'.", sigV4Term, truncate(parts[4], 64))
	}
	a.accessKey, a.scopeDate, a.region, a.service = parts[0], parts[1], parts[2], parts[3]
	return nil
}

// setSignedHeaders parses "host;x-amz-date". Host must be signed: it binds
// the signature to the endpoint it was made for.
func (a *sigAuth) setSignedHeaders(s string) error {
	a.signedRaw = s
	a.signedHeaders = strings.Split(s, ";")
	for i, h := range a.signedHeaders {
		a.signedHeaders[i] = strings.ToLower(h)
	}
	if !slices.Contains(a.signedHeaders, "host") {
		return Errorf(IncompleteSignature, "SignedHeaders must include 'host'; got %q.", truncate(s, 256))
	}
	return nil
}

// setSignature decodes the hex signature; a malformed one never matches.
func (a *sigAuth) setSignature(sig string) {
	if len(sig) != 2*sha256.Size {
		return
	}
	_, err := hex.Decode(a.signature[:], []byte(sig))
	a.sigValid = err == nil
}

// checkToken rejects a session token that was not issued with the
// request's access key. It runs before the body is read or the signature
// computed.
func (v *Verifier) checkToken(a *sigAuth) error {
	if v.tokens == nil || a.token == "" {
		return nil
	}
	want, ok := v.tokens[a.accessKey]
	if !ok {
		return Errorf(UnrecognizedClient, msgUnknownKey+" Access key %s takes no session token: unset AWS_SESSION_TOKEN.", a.accessKey)
	}
	if subtle.ConstantTimeCompare([]byte(a.token), []byte(want)) != 1 {
		return Errorf(UnrecognizedClient, msgUnknownKey)
	}
	return nil
}

// checkSkew rejects requests dated too far from now. Header-signed requests
// get InvalidSignatureException and presigned URLs AccessDeniedException
// (403), both with the "Signature expired" / "Signature not yet current"
// wording that the KVS C SDKs look for to correct their clock.
func (v *Verifier) checkSkew(a *sigAuth) error {
	now := v.now().UTC()
	code, status := InvalidSignature, 0
	validity := v.maxSkew
	if a.presigned {
		code, status = AccessDenied, http.StatusForbidden
		validity = a.expires
	}
	if a.time.After(now.Add(v.maxSkew)) {
		return &Error{Code: code, StatusCode: status, Message: fmt.Sprintf("Signature not yet current: %s is still later than %s (%s + %s)",
			a.amzDate, now.Add(v.maxSkew).Format(amzDateLayout), now.Format(amzDateLayout), fmtDuration(v.maxSkew))}
	}
	if now.After(a.time.Add(validity)) {
		return &Error{Code: code, StatusCode: status, Message: fmt.Sprintf("Signature expired: %s is now earlier than %s (%s - %s)",
			a.amzDate, now.Add(-validity).Format(amzDateLayout), now.Format(amzDateLayout), fmtDuration(validity))}
	}
	return nil
}

// checkScope checks the service, region and date of the credential scope.
func (v *Verifier) checkScope(a *sigAuth) error {
	if a.service != v.service {
		return Errorf(InvalidSignature, "Credential should be scoped to correct service: '%s'. Got '%s'.", v.service, truncate(a.service, 64))
	}
	if v.regions != nil && !v.regions[a.region] {
		return Errorf(InvalidSignature, "Credential should be scoped to a valid region, not '%s'.", truncate(a.region, 64))
	}
	if !strings.HasPrefix(a.amzDate, a.scopeDate) {
		return Errorf(InvalidSignature, "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.", a.scopeDate, a.amzDate[:min(8, len(a.amzDate))], a.amzDate)
	}
	return nil
}

// payloadHashes returns the payload hashes to try, the client's choice
// first, and a check to run once the signature matched. It may read and
// replace r.Body.
func (v *Verifier) payloadHashes(r *http.Request, a *sigAuth, body *unverifiedBody) ([]string, func() error, error) {
	if h := a.payloadHash; h != "" {
		switch {
		case h == UnsignedPayload:
			return []string{h}, nil, nil
		case isLowerHex(h, 2*sha256.Size):
			return []string{h}, func() error { return v.checkBodyHash(r, h) }, nil
		default:
			return nil, nil, Errorf(IncompleteSignature, "x-amz-content-sha256 must be %s or the lower-case hex SHA-256 of the body; got %q.", UnsignedPayload, truncate(h, 80))
		}
	}
	if !hasBody(r) {
		return []string{EmptyPayloadHash, UnsignedPayload}, nil, nil
	}
	if isStreaming(r) || r.ContentLength > v.maxHashedBody {
		// The KVS producers sign their endless PutMedia body as empty.
		return []string{EmptyPayloadHash, UnsignedPayload}, nil, nil
	}
	sum, err := body.read(r, r.ContentLength)
	if err != nil {
		return nil, nil, err
	}
	return []string{sum, EmptyPayloadHash, UnsignedPayload}, nil, nil
}

// checkBodyHash makes sure the body hashes to want: at once when it is small
// enough to buffer, else when the handler reaches its end.
func (v *Verifier) checkBodyHash(r *http.Request, want string) error {
	if !hasBody(r) {
		if want != EmptyPayloadHash {
			return errBodyHashMismatch()
		}
		return nil
	}
	if isStreaming(r) || r.ContentLength > v.maxHashedBody {
		wantSum, _ := hex.DecodeString(want)
		r.Body = &verifyingBody{rc: r.Body, h: sha256.New(), want: wantSum}
		return nil
	}
	sum, err := hashBody(r, r.ContentLength)
	if err != nil {
		return bodyReadError(r.ContentLength, err)
	}
	if sum != want {
		return errBodyHashMismatch()
	}
	return nil
}

func errBodyHashMismatch() *Error {
	return Errorf(InvalidSignature, "The x-amz-content-sha256 header does not match the SHA-256 of the request body.")
}

// hashBody reads r's body of length n, replaces it with an in-memory copy
// and returns its hex SHA-256. Read errors are returned as they are.
func hashBody(r *http.Request, n int64) (string, error) {
	buf := make([]byte, n)
	if _, err := io.ReadFull(r.Body, buf); err != nil {
		return "", err
	}
	r.Body = &replayBody{Reader: bytes.NewReader(buf), orig: r.Body}
	sum := sha256.Sum256(buf)
	return hex.EncodeToString(sum[:]), nil
}

// replayBody serves an already-read body and closes the original one.
type replayBody struct {
	*bytes.Reader
	orig io.Closer
}

func (b *replayBody) Close() error { return b.orig.Close() }

// verifyingBody fails the read that reaches the end of a body whose SHA-256
// differs from the one the client signed.
type verifyingBody struct {
	rc   io.ReadCloser
	h    hash.Hash
	want []byte
}

func (b *verifyingBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.h.Write(p[:n])
	if errors.Is(err, io.EOF) && !hmac.Equal(b.h.Sum(nil), b.want) {
		return n, errBodyHashMismatch()
	}
	return n, err
}

func (b *verifyingBody) Close() error { return b.rc.Close() }

func hasBody(r *http.Request) bool {
	return r.Body != nil && r.Body != http.NoBody && (r.ContentLength != 0 || len(r.TransferEncoding) > 0)
}

func isStreaming(r *http.Request) bool {
	return r.ContentLength < 0 || len(r.TransferEncoding) > 0
}

// signingKey returns the derived key for (access key, date, region), from
// the cache when it can.
func (v *Verifier) signingKey(accessKey, secret, date, region string) []byte {
	id := keyID{accessKey, date, region}
	v.mu.Lock()
	k, ok := v.keys[id]
	v.mu.Unlock()
	if ok {
		return k
	}
	k = DeriveSigningKey(secret, date, region, v.service)
	v.mu.Lock()
	if len(v.keys) >= keyCacheSize {
		clear(v.keys)
	}
	v.keys[id] = k
	v.mu.Unlock()
	return k
}

// DeriveSigningKey returns the SigV4 signing key for secret on date
// (YYYYMMDD) in region for service.
func DeriveSigningKey(secret, date, region, service string) []byte {
	k := hmacSum([]byte("AWS4"+secret), date)
	k = hmacSum(k, region)
	k = hmacSum(k, service)
	return hmacSum(k, sigV4Term)
}

func hmacSum(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// matches reports whether a's signature is that of r under key in the
// client's canonical form or one of the known alternative forms.
func (v *Verifier) matches(r *http.Request, a *sigAuth, q queryPairs, key []byte, payloads []string) bool {
	if !a.sigValid {
		return false
	}
	s := &signer{key: key, scope: a.scopeDate + "/" + a.region + "/" + a.service + "/" + sigV4Term, amzDate: a.amzDate}
	host := requestHost(r)
	headers := canonicalHeaders(r, a.signedHeaders, host)
	uri := canonicalURIs(r, false)[0]
	query := q.canonical(a.presigned, true, false)
	if s.check(r.Method, uri, query, headers, a.signedRaw, payloads[0], a.signature) {
		return true
	}

	// The usual form failed: try the other readings of the same request.
	hostForms := []string{headers}
	if h, ok := stripDefaultPort(host); ok {
		hostForms = append(hostForms, canonicalHeaders(r, a.signedHeaders, h))
	}
	queries := []string{query}
	if strings.Contains(r.URL.RawQuery, "+") {
		queries = appendUnique(queries, q.canonical(a.presigned, false, false))
	}
	if a.presigned && a.token != "" {
		queries = appendUnique(queries, q.canonical(a.presigned, true, true))
	}
	uris := canonicalURIs(r, true)
	tries := 0
	for _, hdr := range hostForms {
		for _, u := range uris {
			for _, qs := range queries {
				for _, p := range payloads {
					if tries++; tries > maxAlternatives {
						return false
					}
					if s.check(r.Method, u, qs, hdr, a.signedRaw, p, a.signature) {
						return true
					}
				}
			}
		}
	}
	return false
}

// signer computes signatures for one credential scope.
type signer struct {
	key     []byte
	scope   string
	amzDate string
}

// check computes the signature of one canonical request and compares it
// with want in constant time.
func (s *signer) check(method, uri, query, headers, signed, payload string, want [sha256.Size]byte) bool {
	got := s.sign(canonicalRequestHash(method, uri, query, headers, signed, payload))
	return hmac.Equal(got[:], want[:])
}

func (s *signer) sign(canonicalHash [sha256.Size]byte) [sha256.Size]byte {
	buf := make([]byte, 0, len(sigV4Algorithm)+len(s.amzDate)+len(s.scope)+3+2*sha256.Size)
	buf = append(buf, sigV4Algorithm+"\n"...)
	buf = append(buf, s.amzDate...)
	buf = append(buf, '\n')
	buf = append(buf, s.scope...)
	buf = append(buf, '\n')
	buf = hex.AppendEncode(buf, canonicalHash[:])
	m := hmac.New(sha256.New, s.key)
	m.Write(buf)
	var out [sha256.Size]byte
	m.Sum(out[:0])
	return out
}

// canonicalRequestHash is SHA-256 of the canonical request. headers is the
// canonical header block, each line ending in "\n".
func canonicalRequestHash(method, uri, query, headers, signed, payload string) [sha256.Size]byte {
	parts := [...]string{method, uri, query, headers, signed, payload}
	n := len(parts) - 1
	for _, p := range parts {
		n += len(p)
	}
	buf := make([]byte, 0, n)
	for i, p := range parts {
		if i > 0 {
			buf = append(buf, '\n')
		}
		buf = append(buf, p...)
	}
	return sha256.Sum256(buf)
}

// CanonicalRequest returns the SigV4 canonical request of r for the given
// signed headers and payload hash, in the usual form (normalized,
// double-encoded path). It is exported for debugging and tests; Verify also
// tries other forms.
func CanonicalRequest(r *http.Request, signedHeaders []string, payloadHash string) string {
	presigned := r.URL.Query().Has("X-Amz-Signature")
	lower := make([]string, len(signedHeaders))
	for i, h := range signedHeaders {
		lower[i] = strings.ToLower(h)
	}
	return strings.Join([]string{
		r.Method,
		canonicalURIs(r, false)[0],
		parseQuery(r.URL.RawQuery).canonical(presigned, true, false),
		canonicalHeaders(r, lower, requestHost(r)),
		strings.Join(lower, ";"),
		payloadHash,
	}, "\n")
}

// requestHost is the Host the client sent (net/http moves it to r.Host).
func requestHost(r *http.Request) string {
	if r.Host != "" {
		return r.Host
	}
	return r.URL.Host
}

func stripDefaultPort(host string) (string, bool) {
	for _, p := range [...]string{":443", ":80"} {
		if h, ok := strings.CutSuffix(host, p); ok && h != "" {
			return h, true
		}
	}
	return "", false
}

// canonicalHeaders builds "name:value\n" for each signed header, in the
// client's order. Values are trimmed, runs of spaces collapsed and repeated
// headers joined with ",". Headers that net/http keeps outside r.Header
// (Host, Transfer-Encoding, Content-Length) are rebuilt from the request.
func canonicalHeaders(r *http.Request, names []string, host string) string {
	var b strings.Builder
	for _, name := range names {
		b.WriteString(name)
		b.WriteByte(':')
		for i, val := range headerValues(r, name, host) {
			if i > 0 {
				b.WriteByte(',')
			}
			writeCollapsed(&b, val)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

func headerValues(r *http.Request, name, host string) []string {
	switch name {
	case "host":
		return []string{host}
	case "transfer-encoding":
		if vs := lookupHeader(r.Header, name); len(vs) > 0 {
			return vs
		}
		return r.TransferEncoding
	case "content-length":
		if vs := lookupHeader(r.Header, name); len(vs) > 0 {
			return vs
		}
		if r.ContentLength >= 0 && len(r.TransferEncoding) == 0 {
			return []string{strconv.FormatInt(r.ContentLength, 10)}
		}
		return nil
	}
	return lookupHeader(r.Header, name)
}

// lookupHeader finds a header by its lower-case name, also under keys that
// are not in canonical form.
func lookupHeader(h http.Header, lower string) []string {
	if vs, ok := h[http.CanonicalHeaderKey(lower)]; ok {
		return vs
	}
	var vs []string
	for k, v := range h {
		if strings.EqualFold(k, lower) {
			vs = append(vs, v...)
		}
	}
	return vs
}

// writeCollapsed writes v trimmed of surrounding whitespace, with each run
// of spaces, tabs or folded line breaks inside it written as one space.
func writeCollapsed(b *strings.Builder, v string) {
	v = strings.Trim(v, " \t\r\n")
	space := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == ' ' || c == '\t' || c == '\r' || c == '\n' {
			space = true
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteByte(c)
	}
}

// canonicalURIs returns the canonical URI in the usual non-S3 form (the
// wire path, normalized, each segment URI-encoded again), and with all set
// also the forms other signers use: without normalization (aws-sdk-go-v2),
// single-encoded (the SigV4 test suite, S3-style signers) and the path
// exactly as sent.
func canonicalURIs(r *http.Request, all bool) []string {
	escaped := r.URL.EscapedPath()
	if r.URL.Opaque != "" {
		escaped = r.URL.Opaque
		if strings.HasPrefix(escaped, "//") {
			// "//host/path" form: keep the path.
			if i := strings.IndexByte(escaped[2:], '/'); i >= 0 {
				escaped = escaped[2+i:]
			} else {
				escaped = "/"
			}
		}
	}
	usual := uriEncode(normalizePath(escaped), false)
	if !all {
		return []string{usual}
	}
	uris := []string{usual}
	uris = appendUnique(uris, uriEncode(orSlash(escaped), false))
	uris = appendUnique(uris, uriEncode(normalizePath(r.URL.Path), false))
	uris = appendUnique(uris, uriEncode(orSlash(r.URL.Path), false))
	if raw, _, _ := strings.Cut(r.RequestURI, "?"); strings.HasPrefix(raw, "/") {
		uris = appendUnique(uris, raw)
	}
	uris = appendUnique(uris, orSlash(escaped))
	return uris
}

func orSlash(p string) string {
	if p == "" {
		return "/"
	}
	return p
}

// normalizePath removes empty, "." and ".." segments (RFC 3986 §5.2.4 as
// the SigV4 signers apply it), keeping a leading and trailing slash.
func normalizePath(p string) string {
	if p == "" || p == "/" {
		return "/"
	}
	var segs []string
	for s := range strings.SplitSeq(p, "/") {
		switch s {
		case "", ".":
		case "..":
			if len(segs) > 0 {
				segs = segs[:len(segs)-1]
			}
		default:
			segs = append(segs, s)
		}
	}
	out := "/" + strings.Join(segs, "/")
	if len(segs) > 0 && strings.HasSuffix(p, "/") {
		out += "/"
	}
	return out
}

// uriEncode percent-encodes every byte outside RFC 3986's unreserved set
// (A-Z a-z 0-9 - . _ ~), and '/' too when encodeSlash is set.
func uriEncode(s string, encodeSlash bool) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if !unreserved(s[i]) && (encodeSlash || s[i] != '/') {
			n++
		}
	}
	if n == 0 {
		return s
	}
	const hexUpper = "0123456789ABCDEF"
	b := make([]byte, 0, len(s)+2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if unreserved(c) || (!encodeSlash && c == '/') {
			b = append(b, c)
			continue
		}
		b = append(b, '%', hexUpper[c>>4], hexUpper[c&15])
	}
	return string(b)
}

func unreserved(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}

// queryPairs is a raw query string split on '&', each part kept raw so it
// can be decoded more than one way.
type queryPairs []rawPair

type rawPair struct{ key, value string }

func parseQuery(raw string) queryPairs {
	if raw == "" {
		return nil
	}
	var q queryPairs
	for part := range strings.SplitSeq(raw, "&") {
		if part == "" {
			continue
		}
		k, val, _ := strings.Cut(part, "=")
		q = append(q, rawPair{k, val})
	}
	return q
}

func (q queryPairs) has(name string) bool {
	_, ok := q.get(name)
	return ok
}

// get returns the first value of name (parameter names compared decoded).
func (q queryPairs) get(name string) (string, bool) {
	for _, p := range q {
		if queryUnescape(p.key, true) == name {
			return queryUnescape(p.value, true), true
		}
	}
	return "", false
}

// canonical returns the canonical query string: every parameter (less
// X-Amz-Signature for a presigned URL, and less X-Amz-Security-Token when
// dropToken) decoded, RFC 3986 encoded and sorted by name then value.
// plusIsSpace decodes '+' as a space, as form encoding does.
func (q queryPairs) canonical(presigned, plusIsSpace, dropToken bool) string {
	if len(q) == 0 {
		return ""
	}
	enc := make([]rawPair, 0, len(q))
	for _, p := range q {
		k := queryUnescape(p.key, plusIsSpace)
		if presigned && (k == "X-Amz-Signature" || dropToken && k == "X-Amz-Security-Token") {
			continue
		}
		enc = append(enc, rawPair{uriEncode(k, true), uriEncode(queryUnescape(p.value, plusIsSpace), true)})
	}
	slices.SortFunc(enc, func(a, b rawPair) int {
		if c := strings.Compare(a.key, b.key); c != 0 {
			return c
		}
		return strings.Compare(a.value, b.value)
	})
	var b strings.Builder
	for i, p := range enc {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.key)
		b.WriteByte('=')
		b.WriteString(p.value)
	}
	return b.String()
}

// queryUnescape decodes a query component; malformed escapes are kept as
// they are.
func queryUnescape(s string, plusIsSpace bool) string {
	if !strings.ContainsAny(s, "%+") {
		return s
	}
	if !plusIsSpace {
		s = strings.ReplaceAll(s, "+", "%2B")
	}
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}

func appendUnique(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isLowerHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// fmtDuration writes d the way AWS' skew messages do ("5 min.").
func fmtDuration(d time.Duration) string {
	if d%time.Minute == 0 {
		return strconv.FormatInt(int64(d/time.Minute), 10) + " min."
	}
	return strconv.FormatInt(int64(d/time.Second), 10) + " sec."
}
