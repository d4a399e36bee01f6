// Package configs holds compressq's one configuration struct, its defaults,
// its validation, and its loading from a YAML file, COMPRESSQ_* environment
// variables and command-line flags.
//
// Precedence, lowest first: Default(), the YAML file (--config or
// COMPRESSQ_CONFIG), environment variables, flags the user set. Load
// validates the result, so a Config from Load is ready to use.
//
// The package only describes configuration: it must not connect to Redis,
// open artifact stores, start servers or import asynq or redis clients. The
// packages that act on a Config do that.
package configs
