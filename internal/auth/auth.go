// Package auth guards compressq's HTTP servers (the API and the web UI)
// with bearer tokens in two roles: read-only and submit. It compares tokens
// in constant time and knows nothing of what it guards.
package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"strings"
)

// Role is what a token may do.
type Role int

// Roles, weakest first.
const (
	// None is the role of a request without a valid token.
	None Role = iota
	// Read may use safe methods (GET, HEAD, OPTIONS).
	Read
	// Submit may do everything: submit jobs, and in the UI pause queues,
	// retry, archive and delete tasks.
	Submit
)

// Tokens are the configured secrets; an empty one is unset.
type Tokens struct {
	// Submit is the token of the submit role.
	Submit string
	// Read is the token of the read-only role.
	Read string
}

// Enabled reports whether any token is set; with none, Guard lets every
// request through.
func (t Tokens) Enabled() bool { return t.Submit != "" || t.Read != "" }

// RoleOf returns the role r's credentials carry: "Authorization: Bearer
// <token>", or HTTP Basic with the token as the password (what a browser
// sends for the web UI after its login prompt; the user name is ignored).
func (t Tokens) RoleOf(r *http.Request) Role {
	got, ok := credential(r)
	if !ok {
		return None
	}
	// Compare digests so the time taken does not depend on the token's
	// length or content; check both roles every time.
	h := sha256.Sum256([]byte(got))
	submit := t.Submit != "" && equal(h, t.Submit)
	read := t.Read != "" && equal(h, t.Read)
	switch {
	case submit:
		return Submit
	case read:
		return Read
	}
	return None
}

func equal(h [32]byte, token string) bool {
	w := sha256.Sum256([]byte(token))
	return subtle.ConstantTimeCompare(h[:], w[:]) == 1
}

func credential(r *http.Request) (string, bool) {
	a := r.Header.Get("Authorization")
	if tok, ok := strings.CutPrefix(a, "Bearer "); ok && tok != "" {
		return tok, true
	}
	if _, pass, ok := r.BasicAuth(); ok && pass != "" {
		return pass, true
	}
	return "", false
}

// safe reports whether the method only reads.
func safe(method string) bool {
	return method == http.MethodGet || method == http.MethodHead || method == http.MethodOptions
}

// Guard returns h behind t: safe methods need the read or submit role, the
// others the submit role; paths for which open returns true (health probes)
// need nothing. Refusals are JSON: 401 without valid credentials (with a
// WWW-Authenticate challenge for Bearer and, when basic is set, for a
// browser's login prompt), 403 for a read-only token that tries to change
// something. With no token set, Guard returns h unchanged.
func Guard(h http.Handler, t Tokens, basic bool, open func(*http.Request) bool) http.Handler {
	if !t.Enabled() {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if open != nil && open(r) {
			h.ServeHTTP(w, r)
			return
		}
		need := Submit
		if safe(r.Method) {
			need = Read
		}
		switch role := t.RoleOf(r); {
		case role >= need:
			h.ServeHTTP(w, r)
		case role == None:
			w.Header().Add("WWW-Authenticate", `Bearer realm="compressq"`)
			if basic {
				w.Header().Add("WWW-Authenticate", `Basic realm="compressq", charset="UTF-8"`)
			}
			refuse(w, http.StatusUnauthorized, "missing or wrong bearer token")
		default:
			refuse(w, http.StatusForbidden, "this token is read-only: "+r.Method+" needs the submit token")
		}
	})
}

func refuse(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
