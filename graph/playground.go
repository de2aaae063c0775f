package graph

import (
	_ "embed"
	"net/http"
)

//go:embed playground.html
var playgroundHTML []byte

// servePlayground serves GraphiQL. Staff paste a token in the Headers tab;
// `rapport serve --demo` prints a link whose #token fragment pre-fills it
// (the fragment never reaches the server or its logs).
func servePlayground(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	_, _ = w.Write(playgroundHTML)
}
