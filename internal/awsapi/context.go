package awsapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
)

// Identity is the caller a request was authenticated as.
type Identity struct {
	AccessKeyID  string
	Region       string
	SessionToken string
}

// requestInfo is what the server's middleware learns about one request; it
// is stored in the request context once and filled in as the request runs.
type requestInfo struct {
	id        string
	operation string
	identity  *Identity
	logger    *slog.Logger
	errCode   Code
}

type ctxKey struct{}

// NewRequestContext returns ctx carrying a fresh request ID, the operation
// name and a logger; the server calls it once per request.
func NewRequestContext(ctx context.Context, operation string, log *slog.Logger) context.Context {
	return context.WithValue(ctx, ctxKey{}, &requestInfo{id: NewRequestID(), operation: operation, logger: log})
}

func info(ctx context.Context) *requestInfo {
	ri, _ := ctx.Value(ctxKey{}).(*requestInfo)
	return ri
}

// NewRequestID returns a random request ID in the UUID shape AWS uses.
func NewRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// RequestIDFrom returns the request ID in ctx, or "".
func RequestIDFrom(ctx context.Context) string {
	if ri := info(ctx); ri != nil {
		return ri.id
	}
	return ""
}

// OperationFrom returns the operation name in ctx, or "".
func OperationFrom(ctx context.Context) string {
	if ri := info(ctx); ri != nil {
		return ri.operation
	}
	return ""
}

// LoggerFrom returns the request's logger, or nil.
func LoggerFrom(ctx context.Context) *slog.Logger {
	if ri := info(ctx); ri != nil {
		return ri.logger
	}
	return nil
}

// IdentityFrom returns the authenticated caller, or nil for unsigned requests.
func IdentityFrom(ctx context.Context) *Identity {
	if ri := info(ctx); ri != nil {
		return ri.identity
	}
	return nil
}

// WithIdentity records the authenticated caller in ctx. If ctx was not made
// by NewRequestContext a new request context is made.
func WithIdentity(ctx context.Context, id *Identity) context.Context {
	ri := info(ctx)
	if ri == nil {
		ctx = NewRequestContext(ctx, "", nil)
		ri = info(ctx)
	}
	ri.identity = id
	return ctx
}

// SetErrorCode records the error code a request was answered with, for
// metrics. WriteError calls it.
func SetErrorCode(ctx context.Context, c Code) {
	if ri := info(ctx); ri != nil {
		ri.errCode = c
	}
}

// ErrorCodeFrom returns the error code the request was answered with, or "".
func ErrorCodeFrom(ctx context.Context) Code {
	if ri := info(ctx); ri != nil {
		return ri.errCode
	}
	return ""
}

// Operation is one API operation served over HTTP: a name (as in the AWS API
// reference, used for metrics and logs), a ServeMux pattern and the handler.
type Operation struct {
	// Name is the AWS operation name, e.g. "CreateStream".
	Name string
	// Pattern is the http.ServeMux pattern, e.g. "POST /createStream".
	Pattern string
	// Handler serves the operation.
	Handler http.Handler
	// Auth selects how the request is authenticated. Defaults to AuthSigV4.
	Auth AuthMode
	// SameOrigin keeps the operation off other origins: no CORS headers,
	// preflights refused. API operations leave it false, so that pages on
	// other origins (the KVS WebRTC test page) can call them; the server's
	// own pages and endpoints such as /metrics set it.
	SameOrigin bool
}

// AuthMode says how an operation is authenticated.
type AuthMode int

const (
	// AuthSigV4 requires a valid SigV4 signature (header or presigned query).
	AuthSigV4 AuthMode = iota
	// AuthNone serves the request without a signature (health, metrics,
	// console pages, HLS/DASH resources that carry their own session token).
	AuthNone
)
