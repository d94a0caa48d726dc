package server

import (
	"bufio"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/openkvs/openkvs/internal/awsapi"
)

// metrics are the per-operation Prometheus series.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	errors   *prometheus.CounterVec
	inflight *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "openkvs", Name: "requests_total",
			Help: "API requests by operation and HTTP status code.",
		}, []string{"operation", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "openkvs", Name: "request_duration_seconds",
			Help:    "API request latency by operation (whole request, including streamed bodies).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10, 60, 600},
		}, []string{"operation"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "openkvs", Name: "errors_total",
			Help: "API errors by operation and AWS error type.",
		}, []string{"operation", "type"}),
		inflight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: "openkvs", Name: "requests_in_flight",
			Help: "API requests being served, by operation (long-lived streams included).",
		}, []string{"operation"}),
	}
	reg.MustRegister(m.requests, m.duration, m.errors, m.inflight)
	return m
}

// wrap gives op's handler the request context, metrics, panic recovery and,
// unless the operation is unsigned, SigV4 verification.
func (s *Server) wrap(op awsapi.Operation) http.Handler {
	h := op.Handler
	if op.Auth == awsapi.AuthSigV4 {
		h = s.verifier.Middleware(h)
	}
	log := s.log.With("op", op.Name)
	requests := s.metrics.requests.MustCurryWith(prometheus.Labels{"operation": op.Name})
	duration := s.metrics.duration.WithLabelValues(op.Name)
	errs := s.metrics.errors.MustCurryWith(prometheus.Labels{"operation": op.Name})
	inflight := s.metrics.inflight.WithLabelValues(op.Name)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		if !op.SameOrigin && r.Header.Get("Origin") != "" {
			setCORSHeaders(w.Header())
		}
		ctx := awsapi.NewRequestContext(r.Context(), op.Name, log)
		r = r.WithContext(ctx)
		rw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		rw.Header().Set("x-amzn-RequestId", awsapi.RequestIDFrom(ctx))
		inflight.Inc()
		defer func() {
			inflight.Dec()
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler { //nolint:errorlint // sentinel value compared as net/http does
					panic(p)
				}
				log.Error("panic serving request", "panic", p, "request_id", awsapi.RequestIDFrom(ctx))
				if !rw.wrote {
					awsapi.WriteError(rw, r, fmt.Errorf("panic: %v", p))
				}
			}
			requests.WithLabelValues(fmt.Sprint(rw.status)).Inc()
			duration.Observe(time.Since(start).Seconds())
			if c := awsapi.ErrorCodeFrom(ctx); c != "" {
				errs.WithLabelValues(string(c)).Inc()
			}
			if log.Enabled(ctx, slog.LevelDebug) {
				log.Debug("request", "status", rw.status, "dur", time.Since(start), "request_id", awsapi.RequestIDFrom(ctx))
			}
		}()
		h.ServeHTTP(rw, r)
	})
}

// statusWriter records the status code. It passes Flush and Hijack through
// (streaming responses and WebSocket upgrades need them) and unwraps for
// http.ResponseController.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	w.wrote = true
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.status, w.wrote = http.StatusSwitchingProtocols, true
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// CORS headers. KVS answers browsers from any origin (the KVS WebRTC test
// page calls it cross-origin); SigV4 is the credential, not cookies.
const (
	corsAllowHeaders  = "Authorization, Content-Type, X-Amz-Date, X-Amz-Security-Token, X-Amz-Content-Sha256, X-Amz-User-Agent, X-Amz-Target, Amz-Sdk-Invocation-Id, Amz-Sdk-Request"
	corsExposeHeaders = "x-amzn-RequestId, x-amzn-ErrorType, x-amz-request-id, x-amz-id-2, Content-Length, Content-Type"
)

// setCORSHeaders lets a page on another origin read the response.
func setCORSHeaders(h http.Header) {
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
}

// preflight answers CORS preflight requests for the operations whose
// pattern is in crossOrigin (wrap adds the CORS headers to their other
// responses) and refuses the others, such as /metrics, without CORS
// headers, so that browsers keep other origins' pages off them.
func preflight(mux *http.ServeMux, crossOrigin map[string]bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		method := r.Header.Get("Access-Control-Request-Method")
		if r.Method != http.MethodOptions || method == "" || r.Header.Get("Origin") == "" {
			mux.ServeHTTP(w, r)
			return
		}
		probe := r.Clone(r.Context())
		probe.Method = method
		if _, pattern := mux.Handler(probe); !crossOrigin[pattern] {
			http.Error(w, "cross-origin requests are not allowed here", http.StatusForbidden)
			return
		}
		h := w.Header()
		setCORSHeaders(h)
		h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
		if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
			h.Set("Access-Control-Allow-Headers", req)
		} else {
			h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
		}
		h.Set("Access-Control-Max-Age", "86400")
		w.WriteHeader(http.StatusNoContent)
	})
}
