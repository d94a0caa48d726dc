package awsapi

import (
	"errors"
	"io"
	"net/http"
	"os"
	"sync/atomic"
	"time"
)

// A request signed without x-amz-content-sha256 is signed over the SHA-256
// of its body, so the verifier reads the body (up to MaxHashedBody) before
// it knows whether the signature is good: anyone who knows an access key
// ID can make it do so. Two bounds keep that cheap: a deadline between two
// reads of such a body (as nginx's client_body_timeout), and a budget of
// bytes held by all such reads together, beyond which requests are turned
// away at once.

const (
	// DefaultBodyReadTimeout is VerifierConfig.BodyReadTimeout's default.
	DefaultBodyReadTimeout = 60 * time.Second
	// DefaultUnverifiedBodyBytes is VerifierConfig.UnverifiedBodyBytes'
	// default: 64 one-MiB control-plane bodies, or thousands of usual ones.
	DefaultUnverifiedBodyBytes = 64 << 20
)

// bodyBudget counts the bytes of request bodies being read before their
// signature is checked, across every request of a Verifier.
type bodyBudget struct {
	max  int64
	used atomic.Int64
}

// reserve claims n bytes, or reports that the budget cannot hold them.
func (b *bodyBudget) reserve(n int64) bool {
	if b.used.Add(n) > b.max {
		b.used.Add(-n)
		return false
	}
	return true
}

func (b *bodyBudget) release(n int64) { b.used.Add(-n) }

// unverifiedBody reads one request's body before its signature is checked.
// Verify makes one per request and calls release when it is done.
type unverifiedBody struct {
	v        *Verifier
	w        http.ResponseWriter // nil: no read deadline can be set
	reserved int64
}

// read reads r's body of length n within the budget and with the read
// deadline, replaces it with an in-memory copy and returns its hex SHA-256.
func (u *unverifiedBody) read(r *http.Request, n int64) (string, error) {
	if !u.v.budget.reserve(n) {
		return "", &Error{Code: ClientLimitExceeded, StatusCode: http.StatusServiceUnavailable,
			Message: "The server is reading too many request bodies whose signature is not yet checked; retry later, or sign the body's SHA-256 in x-amz-content-sha256."}
	}
	u.reserved += n
	if u.v.testHookReserved != nil {
		u.v.testHookReserved()
	}
	if u.w == nil {
		sum, err := hashBody(r, n)
		if err != nil {
			return "", bodyReadError(n, err)
		}
		return sum, nil
	}
	rc := http.NewResponseController(u.w)
	orig := r.Body
	r.Body = &deadlineBody{ReadCloser: orig, rc: rc, timeout: u.v.bodyTimeout}
	sum, err := hashBody(r, n)
	_ = rc.SetReadDeadline(time.Time{})
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return "", Errorf(InvalidArgument, "The request body was not received in time: no data for %s.", u.v.bodyTimeout)
	}
	if err != nil {
		return "", bodyReadError(n, err)
	}
	return sum, nil
}

func bodyReadError(n int64, err error) *Error {
	return Errorf(InvalidArgument, "cannot read the %d-byte request body: %v", n, err)
}

// release returns the bytes read to the budget: once the signature is
// checked they are either dropped or owned by an authenticated request.
func (u *unverifiedBody) release() {
	u.v.budget.release(u.reserved)
	u.reserved = 0
}

// deadlineBody sets the connection's read deadline before each read, so
// that a client may take at most timeout between two pieces of the body.
type deadlineBody struct {
	io.ReadCloser
	rc      *http.ResponseController
	timeout time.Duration
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	_ = b.rc.SetReadDeadline(time.Now().Add(b.timeout))
	return b.ReadCloser.Read(p)
}
