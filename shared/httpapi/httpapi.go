// Package httpapi is the HTTP side shared by every function: routing, the
// JSON codec, the error-to-status table and the middleware that gives every
// response a request id and every panic a clean 500.
package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"workbench/shared/errs"
	"workbench/shared/logging"
)

// statusOf is the one table from error kinds to HTTP status codes.
var statusOf = map[errs.Kind]int{
	errs.Internal:        http.StatusInternalServerError,
	errs.Invalid:         http.StatusBadRequest,
	errs.Unauthenticated: http.StatusUnauthorized,
	errs.Forbidden:       http.StatusForbidden,
	errs.NotFound:        http.StatusNotFound,
	errs.Conflict:        http.StatusConflict,
	errs.Gone:            http.StatusGone,
	errs.Locked:          http.StatusLocked,
	errs.RateLimited:     http.StatusTooManyRequests,
	errs.Unavailable:     http.StatusServiceUnavailable,
	errs.TooLarge:        http.StatusRequestEntityTooLarge,
}

// StatusOf returns the HTTP status for err.
func StatusOf(err error) int {
	if s, ok := statusOf[errs.KindOf(err)]; ok {
		return s
	}
	return http.StatusInternalServerError
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// WriteError answers with err's status and JSON body. Internal errors are
// logged with their cause and answered with a generic message; Unavailable
// ones (a throttled or failing dependency, a passed deadline) are a 503
// with Retry-After, since the same request may well succeed again.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	e := errs.As(err)
	status, retryAfter := StatusOf(e), e.RetryAfter
	switch {
	case e.Kind == errs.Unavailable:
		// Busy, not broken: the caller is told when to retry, and the
		// cause (a throttled call, a passed deadline) is logged for us.
		slog.WarnContext(r.Context(), "request deferred", "status", status, "error", e.Error())
		retryAfter = max(retryAfter, errs.RetrySoon)
	case status >= 500:
		slog.ErrorContext(r.Context(), "request failed", "status", status, "error", e.Error())
		JSON(w, status, errorBody{errorDetail{Code: "internal", Message: "internal error; quote the request id when reporting it"}})
		return
	}
	if retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(retryAfter.Seconds()))))
	}
	JSON(w, status, errorBody{errorDetail{Code: e.Code, Message: e.Message, Field: e.Field}})
}

// HandlerFunc is an HTTP handler that reports failure by returning an error.
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// Router routes "METHOD /path/{param}" patterns (net/http.ServeMux syntax)
// to HandlerFuncs and answers unknown routes with JSON errors.
type Router struct {
	mux *http.ServeMux
}

func NewRouter() *Router { return &Router{mux: http.NewServeMux()} }

// Handle registers h for pattern, e.g. "POST /v1/platform/tenants".
func (rt *Router) Handle(pattern string, h HandlerFunc) {
	rt.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			WriteError(w, r, err)
		}
	})
}

func (rt *Router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := CheckPath(r.URL.EscapedPath()); err != nil {
		WriteError(w, r, err)
		return
	}
	if _, pattern := rt.mux.Handler(r); pattern != "" {
		rt.mux.ServeHTTP(w, r)
		return
	}
	var allow []string
	for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := rt.mux.Handler(probe); pattern != "" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		MethodNotAllowed(w, r, allow)
		return
	}
	WriteError(w, r, errs.NotFoundf("route_not_found", "no route for %s %s", r.Method, r.URL.Path))
}

// MethodNotAllowed answers 405 for a path that has the methods allow but
// not r's, listing them in Allow.
func MethodNotAllowed(w http.ResponseWriter, r *http.Request, allow []string) {
	w.Header().Set("Allow", strings.Join(allow, ", "))
	JSON(w, http.StatusMethodNotAllowed, errorBody{errorDetail{Code: "method_not_allowed",
		Message: fmt.Sprintf("%s is not allowed on %s; it takes %s", r.Method, r.URL.Path, strings.Join(allow, ", "))}})
}

// CheckPath refuses an escaped path with an encoded slash (%2F) in a
// segment: every path id is one segment, so such a path names no object,
// and decoded it would read as another route.
func CheckPath(escaped string) error {
	for seg := range strings.SplitSeq(escaped, "/") {
		if strings.Contains(strings.ToUpper(seg), "%2F") {
			return errs.Invalidf("path", "invalid_path", "a path segment must not hold an encoded slash (%%2F)")
		}
	}
	return nil
}

// Request describes the caller as the gateway saw it.
type Request struct {
	ID        string
	SourceIP  string
	UserAgent string
}

type requestKey struct{}

// WithRequest returns ctx carrying the gateway's view of the request. The
// Lambda adapter sets it from the API Gateway context; Serve fills in what
// is missing.
func WithRequest(ctx context.Context, req Request) context.Context {
	return logging.WithRequestID(context.WithValue(ctx, requestKey{}, req), req.ID)
}

// RequestOf returns the request description carried by ctx.
func RequestOf(ctx context.Context) Request {
	req, _ := ctx.Value(requestKey{}).(Request)
	return req
}

// Serve wraps h with what every function's HTTP side needs: a request id on
// the response and on every log line, client-sent proxy headers removed,
// panics turned into 500s, and one access log line per request.
func Serve(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		for name := range r.Header {
			// Clients must never smuggle a gateway context in through headers.
			if strings.HasPrefix(strings.ToLower(name), "x-golambdaproxy") {
				r.Header.Del(name)
			}
		}
		req := RequestOf(r.Context())
		if req.ID == "" {
			req.ID = newRequestID()
		}
		if req.SourceIP == "" {
			req.SourceIP = hostOf(r.RemoteAddr)
		}
		if req.UserAgent == "" {
			req.UserAgent = r.UserAgent()
		}
		r = r.WithContext(WithRequest(r.Context(), req))
		w.Header().Set("X-Request-Id", req.ID)
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			if p := recover(); p != nil {
				slog.ErrorContext(r.Context(), "panic", "panic", p)
				if !sw.wrote {
					WriteError(sw, r, errs.E(errs.Internal, "internal", "panic"))
				}
			}
			slog.InfoContext(r.Context(), "request", "method", r.Method, "route", r.Pattern,
				"status", sw.status, "ms", time.Since(start).Milliseconds())
		}()
		h.ServeHTTP(sw, r)
	})
}

func newRequestID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func hostOf(addr string) string {
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}

type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(status int) {
	if !w.wrote {
		w.status, w.wrote = status, true
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.status, w.wrote = http.StatusOK, true
	}
	return w.ResponseWriter.Write(b)
}
