package graph

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the service's Prometheus metrics: HTTP requests and GraphQL
// operations, plus the Go runtime and process collectors.
type Metrics struct {
	reg       *prometheus.Registry
	httpTotal *prometheus.CounterVec
	httpTime  *prometheus.HistogramVec
	opsTotal  *prometheus.CounterVec
	opsTime   *prometheus.HistogramVec
}

// NewMetrics returns a fresh registry with the service's metrics.
func NewMetrics() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.httpTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rapport_http_requests_total", Help: "HTTP requests by path and status.",
	}, []string{"path", "status"})
	m.httpTime = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "rapport_http_request_duration_seconds", Help: "HTTP request latency by path.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	}, []string{"path"})
	m.opsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "rapport_graphql_operations_total", Help: "GraphQL operations by name, type and outcome.",
	}, []string{"operation", "type", "outcome"})
	m.opsTime = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "rapport_graphql_operation_duration_seconds", Help: "GraphQL operation latency by name.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	}, []string{"operation", "type"})
	m.reg.MustRegister(m.httpTotal, m.httpTime, m.opsTotal, m.opsTime,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registerer lets other parts of the service add their metrics.
func (m *Metrics) Registerer() prometheus.Registerer { return m.reg }

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// knownPaths keeps the path label bounded: anything else is "other".
var knownPaths = map[string]bool{"/graphql": true, "/": true, "/schema.graphql": true, "/healthz": true, "/readyz": true, "/metrics": true}

// Wrap counts and times HTTP requests.
func (m *Metrics) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		path := r.URL.Path
		if !knownPaths[path] {
			path = "other"
		}
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		m.httpTotal.WithLabelValues(path, strconv.Itoa(sw.status)).Inc()
		m.httpTime.WithLabelValues(path).Observe(time.Since(start).Seconds())
	})
}

var _ interface {
	graphql.HandlerExtension
	graphql.ResponseInterceptor
} = (*Metrics)(nil)

// ExtensionName names the gqlgen extension.
func (*Metrics) ExtensionName() string { return "Metrics" }

// Validate is part of the gqlgen extension interface.
func (*Metrics) Validate(graphql.ExecutableSchema) error { return nil }

// InterceptResponse times each GraphQL response and counts its outcome.
func (m *Metrics) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	start := time.Now()
	resp := next(ctx)
	if !graphql.HasOperationContext(ctx) {
		return resp
	}
	oc := graphql.GetOperationContext(ctx)
	name, typ := oc.OperationName, "unknown"
	if oc.Operation != nil {
		typ = string(oc.Operation.Operation)
		if name == "" {
			name = oc.Operation.Name
		}
	}
	if name == "" {
		name = "anonymous"
	}
	if len(name) > 64 {
		name = name[:64]
	}
	outcome := "ok"
	if resp != nil && len(resp.Errors) > 0 {
		outcome = "error"
	}
	m.opsTotal.WithLabelValues(name, typ, outcome).Inc()
	m.opsTime.WithLabelValues(name, typ).Observe(time.Since(start).Seconds())
	return resp
}
