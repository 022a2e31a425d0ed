// Package httpx holds what every inferplan HTTP server (the gateway, the workers' fronts) does the same way: the
// bearer-token check and JSON answers.
package httpx

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
			WriteError(w, http.StatusUnauthorized, "missing or wrong bearer token")
			return
		}
		h(w, r)
	}
}

// WriteJSON answers v as JSON with the status code.
func WriteJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// WriteError answers {"error": msg} with the status code.
func WriteError(w http.ResponseWriter, code int, msg string) {
	WriteJSON(w, code, map[string]string{"error": msg})
}
