package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/rapportcrm/rapport/internal/apperr"
	"github.com/rapportcrm/rapport/internal/auth"
	"github.com/rapportcrm/rapport/internal/ingest"
)

// EventIntake processes a batch of raw event envelopes, or says what
// processing them would do.
type EventIntake interface {
	Process(ctx context.Context, raws [][]byte) []ingest.Result
	Check(ctx context.Context, raws [][]byte) []ingest.Result
}

const (
	maxEventBody  = 10 << 20
	maxEventBatch = 1000
)

// eventsHandler serves POST /events: one envelope or a JSON array of them,
// from an upstream service authenticated with an API key (or a token) that
// has crm:admin. Events are processed before the response, which carries one
// result per event. The caller's organization is the only tenant it may post
// for; an envelope without a tenant gets the caller's. With ?dryRun=true the
// events are validated and resolved but nothing is written: an upstream team
// can try its payloads against the real profiles.
func eventsHandler(intake EventIntake) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := auth.Require(r.Context(), auth.ScopeAdmin); err != nil {
			status := http.StatusForbidden
			if apperr.CodeOf(err) == apperr.Unauthenticated {
				status = http.StatusUnauthorized
			}
			writeGraphQLError(w, status, err)
			return
		}
		org, _ := OrganizationFrom(r.Context())
		dry := false
		if v := r.URL.Query().Get("dryRun"); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				writeGraphQLError(w, http.StatusBadRequest, apperr.New(apperr.Invalid, "dryRun: %q is not true or false", v))
				return
			}
			dry = b
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxEventBody))
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				writeGraphQLError(w, http.StatusRequestEntityTooLarge, apperr.New(apperr.Invalid, "body larger than %d bytes", maxEventBody))
				return
			}
			writeGraphQLError(w, http.StatusBadRequest, apperr.New(apperr.Invalid, "read body: %v", err))
			return
		}
		body = bytes.TrimSpace(body)
		var raws []json.RawMessage
		if len(body) > 0 && body[0] == '[' {
			if err := json.Unmarshal(body, &raws); err != nil {
				writeGraphQLError(w, http.StatusBadRequest, apperr.New(apperr.Invalid, "body is not a JSON array of events: %v", err))
				return
			}
		} else {
			raws = []json.RawMessage{body}
		}
		if len(raws) == 0 || len(raws) > maxEventBatch {
			writeGraphQLError(w, http.StatusBadRequest, apperr.New(apperr.Invalid, "send 1 to %d events", maxEventBatch))
			return
		}
		results := make([]ingest.Result, len(raws))
		var batch [][]byte
		var at []int
		for i, raw := range raws {
			var head struct {
				Tenant *string `json:"tenant"`
			}
			if err := json.Unmarshal(raw, &head); err != nil {
				// Decoding again in the pipeline yields the precise reason.
				batch, at = append(batch, raw), append(at, i)
				continue
			}
			switch {
			case head.Tenant == nil || strings.TrimSpace(*head.Tenant) == "":
				var m map[string]json.RawMessage
				if json.Unmarshal(raw, &m) == nil {
					m["tenant"], _ = json.Marshal(org.ID.String())
					raw, _ = json.Marshal(m)
				}
			case !strings.EqualFold(strings.TrimSpace(*head.Tenant), org.Slug) && strings.TrimSpace(*head.Tenant) != org.ID.String():
				results[i] = ingest.Result{Status: ingest.Rejected, Reason: "tenant: events may only be posted for the caller's organization"}
				continue
			}
			batch, at = append(batch, raw), append(at, i)
		}
		if len(batch) > 0 {
			apply := intake.Process
			if dry {
				apply = intake.Check
			}
			for j, res := range apply(r.Context(), batch) {
				results[at[j]] = res
			}
		}
		summary := map[ingest.Status]int{}
		for _, res := range results {
			summary[res.Status]++
		}
		status := http.StatusOK
		if summary[ingest.Failed] > 0 {
			status = http.StatusServiceUnavailable // retry the batch; processed events dedup
		}
		out := map[string]any{"results": results, "summary": summary}
		if dry {
			out["dryRun"] = true
		}
		writeJSON(w, status, out)
	})
}
