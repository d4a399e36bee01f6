// Package rdb owns every Redis key and script compressq itself writes (asynq
// owns its own): job (pipeline) state, the job index, sweep state, the points
// of sensitivity runs, and the construction of Redis clients from
// configuration. Key names are built by functions here and nowhere else.
//
// Every key of one job, sweep or sensitivity run carries that id as its
// Redis Cluster hash tag ("compressq:{<id>}:…"), so every script touches a
// single slot. The global indexes (JobIndexKey, SweepIndexKey) are written
// outside scripts and trimmed to the state TTL.
package rdb
