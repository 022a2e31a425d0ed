package httpx

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestBearer(t *testing.T) {
	ok := func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }
	refused := 0
	h := Bearer("s3cret", func(*http.Request) { refused++ }, ok)
	for _, tc := range []struct {
		header string
		code   int
	}{
		{"Bearer s3cret", 200}, {"bearer s3cret", 200}, {"BEARER  s3cret ", 200},
		{"Bearer wrong", 401}, {"Basic s3cret", 401}, {"", 401}, {"s3cret", 401},
	} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/", nil)
		if tc.header != "" {
			req.Header.Set("Authorization", tc.header)
		}
		h(rec, req)
		if rec.Code != tc.code {
			t.Errorf("%q: %d, want %d", tc.header, rec.Code, tc.code)
		}
	}
	if refused != 4 {
		t.Errorf("refused %d times, want 4", refused)
	}
	rec := httptest.NewRecorder()
	Bearer("", nil, ok)(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != 200 {
		t.Error("no token should let requests through")
	}
}
