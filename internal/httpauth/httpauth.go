// Package httpauth is the bearer-token check every inferplan HTTP server (the gateway, the workers' fronts) applies
// the same way.
package httpauth

import (
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"strings"
)

// Bearer lets through requests whose Authorization header carries token ("" lets every request through). The
// scheme is case-insensitive (RFC 9110 §11.1): "bearer" and "BEARER" are "Bearer". refused, when set, hears of
// every request turned away, before it is answered 401.
func Bearer(token string, refused func(*http.Request), h http.HandlerFunc) http.HandlerFunc {
	if token == "" {
		return h
	}
	want := []byte(token)
	return func(w http.ResponseWriter, r *http.Request) {
		scheme, got, _ := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
		if !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), want) != 1 {
			if refused != nil {
				refused(r)
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="inferplan"`)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": "missing or wrong bearer token"})
			return
		}
		h(w, r)
	}
}
