// Package rdb owns every Redis key and script compressq itself writes (asynq
// owns its own): job (pipeline) state, the job index, sweep state, the points
// of sensitivity runs, and the construction of Redis clients from
// configuration. Key names are built by functions here and nowhere else.
package rdb
