package auth

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestGuard(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	h := Guard(ok, Tokens{Submit: "sub-secret", Read: "read-secret"}, true, func(r *http.Request) bool { return r.URL.Path == "/healthz" })
	tests := []struct {
		name, method, path, auth string
		basic                    string // password for HTTP Basic
		want                     int
	}{
		{"probe open", "GET", "/healthz", "", "", http.StatusNoContent},
		{"no token", "GET", "/v1/jobs", "", "", http.StatusUnauthorized},
		{"wrong token", "GET", "/v1/jobs", "Bearer nope", "", http.StatusUnauthorized},
		{"token prefix", "GET", "/v1/jobs", "Bearer read-secre", "", http.StatusUnauthorized},
		{"not bearer", "GET", "/v1/jobs", "read-secret", "", http.StatusUnauthorized},
		{"read reads", "GET", "/v1/jobs", "Bearer read-secret", "", http.StatusNoContent},
		{"read cannot submit", "POST", "/v1/jobs", "Bearer read-secret", "", http.StatusForbidden},
		{"read cannot delete", "DELETE", "/ui/api/queues/default", "Bearer read-secret", "", http.StatusForbidden},
		{"submit reads", "GET", "/v1/jobs", "Bearer sub-secret", "", http.StatusNoContent},
		{"submit submits", "POST", "/v1/jobs", "Bearer sub-secret", "", http.StatusNoContent},
		{"basic read", "GET", "/ui/", "", "read-secret", http.StatusNoContent},
		{"basic submit acts", "POST", "/ui/api/queues/default:pause", "", "sub-secret", http.StatusNoContent},
		{"basic wrong", "GET", "/ui/", "", "x", http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, tt.path, nil)
			if tt.auth != "" {
				r.Header.Set("Authorization", tt.auth)
			}
			if tt.basic != "" {
				r.SetBasicAuth("anyone", tt.basic)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tt.want {
				t.Fatalf("%s %s: %d, want %d", tt.method, tt.path, w.Code, tt.want)
			}
			if w.Code == http.StatusUnauthorized && len(w.Header().Values("WWW-Authenticate")) != 2 {
				t.Errorf("401 without both challenges: %q", w.Header().Values("WWW-Authenticate"))
			}
		})
	}
}

func TestGuardOffWithoutTokens(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	w := httptest.NewRecorder()
	Guard(ok, Tokens{}, false, nil).ServeHTTP(w, httptest.NewRequest("POST", "/v1/jobs", nil))
	if w.Code != http.StatusNoContent {
		t.Fatalf("no tokens configured: %d, want the request through", w.Code)
	}
}

func TestReadOnlyTokenAlone(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	h := Guard(ok, Tokens{Read: "r"}, false, nil)
	for method, want := range map[string]int{"GET": http.StatusNoContent, "POST": http.StatusForbidden} {
		r := httptest.NewRequest(method, "/", nil)
		r.Header.Set("Authorization", "Bearer r")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != want {
			t.Errorf("%s with only a read token configured: %d, want %d", method, w.Code, want)
		}
	}
}
