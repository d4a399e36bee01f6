// Package redistest starts a real redis-server child process on a free
// loopback port for integration tests.
//
// It is for tests only: production code must not import it. It speaks just
// enough of the Redis protocol to know the server is up; tests talk to the
// server with their own client (go-redis, asynq) through Server.Addr or
// Server.URL. It never touches a Redis it did not start, and every server it
// starts is stopped by the test's Cleanup.
package redistest
