// Package ui serves asynq's web UI (asynqmon) for compressq's queues: queue
// sizes, tasks by state, workers, and Redis information, with buttons to run,
// archive, delete and cancel tasks and to pause queues. Next to it, the
// sweep pages (Sweeps): per sweep a dashboard of charts drawn in the browser
// from a JSON endpoint it polls while the sweep runs, and per trial its
// learning curve, attempts and checkpoints.
//
// It must not be exposed without authentication: the UI can delete tasks.
// Serve it on a loopback address or behind an authenticating proxy.
package ui

import (
	"net/http"
	"strings"

	"github.com/hibiken/asynq"
	"github.com/hibiken/asynqmon"
	"github.com/redis/go-redis/v9"
)

// Handler returns a handler that serves the asynq web UI under prefix (for
// example "/ui"; "" or "/" serves it at the root): the single-page app at
// prefix+"/" and its JSON API at prefix+"/api/…" (prefix+"/api/queues"
// lists the queues). A request for prefix without the trailing slash is
// redirected to prefix+"/".
//
// The handler uses rc for every query and never closes it: rc stays owned by
// the caller. Redis information (prefix+"/api/redis_info") is only served
// when rc is a *redis.Client or a *redis.ClusterClient.
func Handler(rc redis.UniversalClient, prefix string) http.Handler {
	prefix = "/" + strings.Trim(prefix, "/")
	if prefix == "/" {
		prefix = ""
	}
	h := asynqmon.New(asynqmon.Options{
		RootPath:     prefix,
		RedisConnOpt: sharedClient{rc},
	})
	if prefix == "" {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == prefix {
			http.Redirect(w, r, prefix+"/", http.StatusMovedPermanently)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// sharedClient hands asynqmon an existing client instead of letting it dial
// its own. asynqmon closes its client only in HTTPHandler.Close, which
// Handler never calls.
type sharedClient struct{ rc redis.UniversalClient }

// MakeRedisClient implements asynq.RedisConnOpt.
func (s sharedClient) MakeRedisClient() any { return s.rc }

var _ asynq.RedisConnOpt = sharedClient{}
