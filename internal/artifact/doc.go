// Package artifact is compressq's content-addressed store for models and
// reports, over gocloud.dev/blob: a local directory or file:// URL by default,
// s3:// in clusters, mem:// in tests.
//
// Put stores bytes under <root>/sha256/<hex[:2]>/<hex><ext> and returns a URI
// that carries the hash; storing the same bytes again returns the same URI.
// Get and Open read only URIs inside the configured roots (the write root and
// the read-only roots), refuse "..", foreign schemes, foreign buckets and
// symlinks that leave a directory root, enforce a size limit before reading,
// and verify the hash in a content-addressed name. Their errors match the
// sentinels ErrOutsideRoot, ErrInvalidURI, ErrTooLarge, ErrCorrupt and
// ErrNotFound with errors.Is, so callers can tell a bad request (do not
// retry) from a transient failure.
//
// The package stores bytes; it must not parse model formats, know about
// tasks or queues, or write anywhere but its write root.
package artifact
