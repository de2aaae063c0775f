package graph

import (
	"context"
	"errors"
	"log/slog"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/rapportcrm/rapport/ent"
	"github.com/rapportcrm/rapport/internal/apperr"
)

// presentError gives every error a code in extensions.code. Domain errors
// keep their message; anything unexpected is logged and shown as "internal
// error" so no SQL, stack or secret reaches a client.
func presentError(log *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		gerr := graphql.DefaultErrorPresenter(ctx, err)
		if gerr.Extensions == nil {
			gerr.Extensions = map[string]any{}
		}
		var (
			ae   *apperr.Error
			verr *ent.ValidationError
			nf   *ent.NotFoundError
		)
		switch {
		case errors.As(err, &ae):
			gerr.Message = ae.Message
			gerr.Extensions["code"] = string(ae.Code)
			if ae.Field != "" {
				gerr.Extensions["field"] = ae.Field
			}
		case errors.As(err, &verr):
			gerr.Message = "invalid " + verr.Name + ": " + strings.TrimPrefix(verr.Error(), "ent: ")
			gerr.Extensions["code"] = string(apperr.Invalid)
			gerr.Extensions["field"] = verr.Name
		case errors.As(err, &nf), isNodeNotFound(err):
			gerr.Message = "not found"
			gerr.Extensions["code"] = string(apperr.NotFound)
		case gerr.Extensions["code"] == "PERSISTED_QUERY_NOT_FOUND":
			// Apollo and other APQ clients retry with the full query on
			// exactly this code: keep it.
		case isGraphQLRequestError(gerr):
			// Parse, validation and argument-coercion errors are the
			// caller's to fix: their message is safe and useful.
			gerr.Extensions["code"] = string(apperr.Invalid)
		default:
			log.ErrorContext(ctx, "internal error", "err", err, "path", gerr.Path.String(), "request_id", RequestID(ctx))
			gerr.Message = "internal error"
			gerr.Extensions["code"] = string(apperr.Internal)
		}
		return gerr
	}
}

func isNodeNotFound(err error) bool {
	var e *gqlerror.Error
	return errors.As(err, &e) && e.Extensions["code"] == string(apperr.NotFound)
}

// isGraphQLRequestError reports whether gqlgen itself rejected the request
// (syntax, unknown field, wrong argument type) rather than a resolver failing.
func isGraphQLRequestError(e *gqlerror.Error) bool {
	code, _ := e.Extensions["code"].(string)
	return strings.HasPrefix(code, "GRAPHQL_") || code == "COMPLEXITY_LIMIT_EXCEEDED" ||
		code == string(apperr.Invalid) || e.Rule != ""
}
