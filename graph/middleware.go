package graph

import (
	"context"
	"log/slog"
	"net/http"
	"runtime/debug"
	"sync"
	"time"
)

type requestIDKey struct{}
type logAttrsKey struct{}

// RequestID returns the id of the request ctx belongs to.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// logAttrs collects attributes inner handlers learn (tenant, user) for the
// request's log line.
type logAttrs struct {
	mu    sync.Mutex
	attrs []slog.Attr
}

func setLogAttrs(ctx context.Context, attrs ...slog.Attr) {
	if la, ok := ctx.Value(logAttrsKey{}).(*logAttrs); ok {
		la.mu.Lock()
		la.attrs = append(la.attrs, attrs...)
		la.mu.Unlock()
	}
}

type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += n
	return n, err
}

// Unwrap lets http.ResponseController reach the connection (websockets
// need to hijack it; streaming needs Flush).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// requestContext gives each request an id (X-Request-ID, or a new one),
// recovers panics, and writes one structured log line per request.
func requestContext(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-ID")
		if id == "" || len(id) > 64 {
			id = newRequestID()
		}
		w.Header().Set("X-Request-ID", id)
		la := &logAttrs{}
		ctx := context.WithValue(r.Context(), requestIDKey{}, id)
		ctx = context.WithValue(ctx, logAttrsKey{}, la)
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				log.ErrorContext(ctx, "panic", "panic", p, "stack", string(debug.Stack()), "request_id", id)
				if sw.status == 0 {
					writeJSON(sw, http.StatusInternalServerError, map[string]any{
						"errors": []map[string]any{{"message": "internal error", "extensions": map[string]any{"code": "INTERNAL"}}},
					})
				}
			}
			if r.URL.Path == "/healthz" || r.URL.Path == "/metrics" {
				return
			}
			attrs := []slog.Attr{
				slog.String("request_id", id),
				slog.String("method", r.Method),
				slog.String("path", r.URL.Path),
				slog.Int("status", sw.status),
				slog.Int("bytes", sw.bytes),
				slog.Duration("duration", time.Since(start)),
			}
			la.mu.Lock()
			attrs = append(attrs, la.attrs...)
			la.mu.Unlock()
			log.LogAttrs(ctx, slog.LevelInfo, "request", attrs...)
		}()
		next.ServeHTTP(sw, r.WithContext(ctx))
	})
}
