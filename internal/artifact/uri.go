package artifact

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"regexp"
	"strings"
)

// hashDir is the top-level directory of content-addressed keys.
const hashDir = "sha256"

// extPattern is what Put accepts as a file extension: up to three
// dot-separated parts, e.g. ".safetensors", ".tar.gz".
var extPattern = regexp.MustCompile(`^(\.[A-Za-z0-9_-]{1,16}){0,3}$`)

// hashedKey matches a content-addressed key and captures the directory, the
// hex digest and the extension.
var hashedKey = regexp.MustCompile(`^sha256/([0-9a-f]{2})/([0-9a-f]{64})((?:\.[A-Za-z0-9_-]{1,16}){0,3})$`)

// keyFor returns the key of content with hex digest sum and extension ext.
func keyFor(sum, ext string) string {
	return hashDir + "/" + sum[:2] + "/" + sum + ext
}

// digestOf returns the hex digest a key names, or "" for a key that is not
// content-addressed. A key under sha256/ that does not have the layout is an
// error.
func digestOf(key string) (string, error) {
	if key != hashDir && !strings.HasPrefix(key, hashDir+"/") {
		return "", nil
	}
	m := hashedKey.FindStringSubmatch(key)
	if m == nil {
		return "", fmt.Errorf("key %q is under %s/ but is not sha256/<hex[:2]>/<64 hex><ext>", key, hashDir)
	}
	if m[1] != m[2][:2] {
		return "", fmt.Errorf("key %q: directory %q does not match the digest", key, m[1])
	}
	return m[2], nil
}

// checkKey accepts keys made of non-empty segments of letters, digits and
// ._-+=@, separated by '/'; no segment may be "." or "..", start with a dot,
// or end in ".attrs" (the file store's metadata files).
func checkKey(key string) error {
	if key == "" {
		return fmt.Errorf("empty key")
	}
	for seg := range strings.SplitSeq(key, "/") {
		switch {
		case seg == "":
			return fmt.Errorf("empty path segment")
		case seg == "..":
			return errDotDot
		case seg == ".":
			return fmt.Errorf("path segment %q", seg)
		case strings.HasPrefix(seg, "."):
			return fmt.Errorf("hidden path segment %q", seg)
		case strings.HasSuffix(seg, ".attrs"):
			return fmt.Errorf("path segment %q names a metadata file", seg)
		}
		for _, c := range seg {
			if !keyRune(c) {
				return fmt.Errorf("path segment %q has character %q", seg, c)
			}
		}
	}
	return nil
}

func keyRune(c rune) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		strings.ContainsRune("._-+=@", c)
}

// errDotDot is the reason for a ".." segment, matched to give the
// "path escapes root" wording.
var errDotDot = fmt.Errorf(`".." path segment`)

// location is a parsed artifact URI: which bucket and which key path in it.
type location struct {
	scheme string // lower case
	host   string // bucket name; "" for file://
	path   string // file:// absolute path, else the object path without the leading '/'
}

// parseURI splits an artifact URI (or an absolute file path) into a location.
// It rejects query strings, fragments, user info, ".." and "." segments and
// empty segments, before any root is consulted.
func parseURI(raw string) (location, error) {
	if strings.HasPrefix(raw, "/") {
		raw = (&url.URL{Scheme: "file", Path: raw}).String()
	}
	u, err := url.Parse(raw)
	if err != nil {
		return location{}, fmt.Errorf("does not parse as a URL: %w", err)
	}
	if u.Scheme == "" {
		return location{}, fmt.Errorf("no scheme (want a URL such as file:///dir/sha256/… or an absolute path)")
	}
	if u.Opaque != "" {
		return location{}, fmt.Errorf("opaque URL (want scheme://bucket/path)")
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return location{}, fmt.Errorf("query or fragment not allowed in an artifact URI")
	}
	if u.User != nil {
		return location{}, fmt.Errorf("user info not allowed in an artifact URI")
	}
	loc := location{scheme: strings.ToLower(u.Scheme), host: u.Host}
	p := u.Path
	for seg := range strings.SplitSeq(strings.TrimPrefix(p, "/"), "/") {
		if seg == ".." {
			return location{}, errDotDot
		}
	}
	if loc.scheme == "file" {
		if loc.host != "" && loc.host != "localhost" {
			return location{}, fmt.Errorf("file URI with host %q", loc.host)
		}
		loc.host = ""
		if !strings.HasPrefix(p, "/") {
			return location{}, fmt.Errorf("file URI path %q is not absolute", p)
		}
		if path.Clean(p) != p {
			return location{}, fmt.Errorf("file URI path %q is not clean", p)
		}
		loc.path = p
		return loc, nil
	}
	loc.path = strings.TrimPrefix(p, "/")
	if loc.path != "" && path.Clean(loc.path) != loc.path {
		return location{}, fmt.Errorf("path %q is not clean", p)
	}
	return loc, nil
}

// uriFor renders the URI of key under a root whose base is base (as Root
// returns it).
func uriFor(base, key string) string {
	return strings.TrimSuffix(base, "/") + "/" + key
}

// Problem says, for the person who gave uri, what is wrong with it when
// opening it failed with err: no artifact there, outside the roots,
// malformed or too large. ok is false when err is not about the URI (the
// store did not answer), so that the caller can report it as its own
// failure instead.
func Problem(uri string, err error) (reason string, ok bool) {
	switch {
	case errors.Is(err, ErrNotFound):
		return fmt.Sprintf("%q: no such artifact", uri), true
	case errors.Is(err, ErrOutsideRoot):
		return fmt.Sprintf("%q is outside the artifact roots", uri), true
	case errors.Is(err, ErrInvalidURI), errors.Is(err, ErrTooLarge):
		return err.Error(), true
	}
	return "", false
}
