package configs

import (
	"errors"
	"fmt"
	"math"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/providers/posflag"
	"github.com/knadh/koanf/v2"
	"github.com/spf13/pflag"
)

// EnvPrefix starts the name of every environment variable Load reads.
const EnvPrefix = "COMPRESSQ_"

// EnvConfig names the environment variable holding the config file path; the
// --config flag overrides it.
const EnvConfig = EnvPrefix + "CONFIG"

// flagKeys maps the configuration flags to the keys they set. --config is
// not a key: it names the file.
var flagKeys = map[string]string{
	"redis-url":   "redis.url",
	"concurrency": "worker.concurrency",
	"http-addr":   "worker.http_addr",
	"artifacts":   "artifacts.root",
	"api-addr":    "api.addr",
	"log-level":   "log.level",
	"log-format":  "log.format",
}

// The Bind*Flags functions define configuration flags on a flag set; each
// command takes the groups whose keys it reads. Defaults shown in help are
// Default()'s; only flags the user set override the file and the
// environment (Load reads every flag of these groups that fs holds).

// BindFlags defines the flags every command takes: --config, --log-level
// and --log-format.
func BindFlags(fs *pflag.FlagSet) {
	d := Default()
	fs.String("config", "", "YAML config file (env "+EnvConfig+")")
	fs.String("log-level", d.Log.Level, "log level: debug, info, warn or error")
	fs.String("log-format", d.Log.Format, "log format: text or json")
}

// BindRedisFlags defines --redis-url, for commands that use Redis.
func BindRedisFlags(fs *pflag.FlagSet) {
	fs.String("redis-url", Default().Redis.URL, "Redis URL redis[s]://[user:password@]host:port[/db], redis[s]-sentinel://h1:26379,h2:26379/MASTER[/db] or redis[s]-cluster://h1:7000,h2:7001; empty = embedded Redis (local mode only)")
}

// BindArtifactFlags defines --artifacts, for commands that use the artifact
// store.
func BindArtifactFlags(fs *pflag.FlagSet) {
	fs.String("artifacts", Default().Artifacts.Root, "artifact root: directory or bucket URL (file://, s3://, mem://)")
}

// BindWorkerFlags defines --concurrency and --http-addr, for commands that
// run a worker.
func BindWorkerFlags(fs *pflag.FlagSet) {
	d := Default()
	fs.Int("concurrency", d.Worker.Concurrency, "tasks run at once per worker process; 0 = GOMAXPROCS")
	fs.String("http-addr", d.Worker.HTTPAddr, "worker listen address for /metrics, /healthz, /readyz (port 0 = a free port); empty disables")
}

// BindAPIFlags defines --api-addr, for commands that serve the HTTP API.
func BindAPIFlags(fs *pflag.FlagSet) {
	fs.String("api-addr", Default().API.Addr, "listen address of the HTTP submission API (port 0 = a free port)")
}

// Load builds the configuration from, lowest precedence first: Default(), the
// YAML file named by the --config flag or the COMPRESSQ_CONFIG variable,
// COMPRESSQ_* environment variables, and the flags in fs that were set on the
// command line. fs may be nil. The result is validated.
//
// Environment variable names are COMPRESSQ_ followed by the key path in upper
// case with '.' replaced by '_' (COMPRESSQ_WORKER_SHUTDOWN_TIMEOUT). Maps are
// written "critical=6,default=3", lists "a,b". COMPRESSQ_* variables that name
// no key are ignored, since other parts of compressq have variables of their
// own. Unknown keys in the file are errors; an empty value in it ("redis:")
// sets nothing. Durations are Go duration
// strings ("30s", "1h30m"). A map (worker.queues, worker.task_timeouts) set
// by a layer replaces the lower layers' map whole.
func Load(fs *pflag.FlagSet) (Config, error) {
	path := os.Getenv(EnvConfig)
	if fs != nil {
		if f := fs.Lookup("config"); f != nil && f.Changed {
			path = f.Value.String()
		}
	}
	var file []byte
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return Config{}, fmt.Errorf("config file: %w", err)
		}
		file = b
	}
	return load(source{fileName: path, file: file, environ: os.Environ(), flags: fs})
}

// source is everything load reads, so tests and fuzzing need no files or
// process environment.
type source struct {
	fileName string
	file     []byte // YAML; nil means no file
	environ  []string
	flags    *pflag.FlagSet
}

// load decodes the layers of src, lowest first, over Default() and validates
// the result. Each layer is unmarshalled by koanf into the Config the layers
// below filled, so it overrides only the keys it sets; a map it sets
// replaces the map below whole. Problems of every layer are reported at once.
func load(src source) (Config, error) {
	cfg := Default()
	var errs []error
	if src.file != nil {
		errs = append(errs, decodeFile(&cfg, src.fileName, src.file)...)
	}
	errs = append(errs, decodeEnv(&cfg, src.environ)...)
	if src.flags != nil {
		errs = append(errs, decodeFlags(&cfg, src.flags)...)
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, err
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, fmt.Errorf("invalid configuration: %w", err)
	}
	return cfg, nil
}

// decodeFile decodes a YAML config file into cfg. Keys Config does not have
// are errors.
func decodeFile(cfg *Config, name string, b []byte) []error {
	if name == "" {
		name = "(unnamed)"
	}
	k := koanf.New(".")
	if err := k.Load(bytesProvider(b), yaml.Parser()); err != nil {
		return []error{fmt.Errorf("config file %q: %w", name, err)}
	}
	// An empty section or value ("redis:") sets nothing.
	for key, v := range k.All() {
		if v == nil {
			k.Delete(key)
		}
	}
	var errs []error
	for _, ke := range decode(k, cfg, fileHooks) {
		errs = append(errs, fmt.Errorf("config file %q: %w", name, ke))
	}
	return errs
}

// decodeEnv decodes the COMPRESSQ_* variables of environ that name a key
// into cfg. Others are ignored: other parts of compressq have variables of
// their own.
func decodeEnv(cfg *Config, environ []string) []error {
	k := koanf.New(".")
	p := env.Provider(".", env.Opt{
		Prefix:      EnvPrefix,
		EnvironFunc: func() []string { return environ },
		TransformFunc: func(name, value string) (string, any) {
			return envKeys[name], value // "" drops the variable
		},
	})
	if err := k.Load(p, nil); err != nil {
		return []error{fmt.Errorf("environment: %w", err)}
	}
	var errs []error
	for _, ke := range decode(k, cfg, envHooks) {
		errs = append(errs, fmt.Errorf("%s (%s): %q: %w", envName(ke.key), ke.key, k.String(ke.key), ke.err))
	}
	return errs
}

// decodeFlags decodes the flags of fs that were set and name a key into cfg.
func decodeFlags(cfg *Config, fs *pflag.FlagSet) []error {
	k := koanf.New(".")
	p := posflag.ProviderWithFlag(fs, ".", nil, func(f *pflag.Flag) (string, any) {
		key, ok := flagKeys[f.Name]
		if !ok || !f.Changed {
			return "", nil
		}
		return key, posflag.FlagVal(fs, f)
	})
	if err := k.Load(p, nil); err != nil {
		return []error{fmt.Errorf("flags: %w", err)}
	}
	var errs []error
	for _, ke := range decode(k, cfg, fileHooks) {
		errs = append(errs, fmt.Errorf("flags: %w", ke))
	}
	return errs
}

// decode unmarshals k into cfg with koanf: mapstructure with the given
// hooks, the koanf struct tags, unknown keys refused (ErrorUnused), and maps
// replaced rather than merged (ZeroFields).
func decode(k *koanf.Koanf, cfg *Config, hook mapstructure.DecodeHookFunc) []keyError {
	err := k.UnmarshalWithConf("", cfg, koanf.UnmarshalConf{DecoderConfig: &mapstructure.DecoderConfig{
		DecodeHook:  hook,
		ErrorUnused: true,
		ZeroFields:  true,
	}})
	return keyErrors(err)
}

// bytesProvider is a koanf.Provider over an in-memory file.
type bytesProvider []byte

// ReadBytes returns the file.
func (b bytesProvider) ReadBytes() ([]byte, error) { return b, nil }

// Read is not supported: the bytes need a parser.
func (b bytesProvider) Read() (map[string]any, error) {
	return nil, errors.New("bytes provider needs a parser")
}

// mapProvider is a koanf.Provider over a nested map.
type mapProvider map[string]any

// ReadBytes is not supported: the map is already parsed.
func (m mapProvider) ReadBytes() ([]byte, error) {
	return nil, errors.New("map provider has no bytes")
}

// Read returns the map.
func (m mapProvider) Read() (map[string]any, error) { return m, nil }

// keys lists the keys of Config in koanf's order (a map such as
// worker.queues is one key); envKeys maps COMPRESSQ_X_Y to x.y.
var keys, envKeys = configKeys()

// configKeys lets mapstructure turn Default() into nested maps by the koanf
// tags and koanf flatten them into keys.
func configKeys() ([]string, map[string]string) {
	var m map[string]any
	d, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{TagName: "koanf", Result: &m})
	if err == nil {
		err = d.Decode(Default())
	}
	k := koanf.New(".")
	if err == nil {
		err = k.Load(mapProvider(m), nil)
	}
	if err != nil {
		panic("configs: listing the keys of Config: " + err.Error()) // a bug in Config's tags
	}
	env := make(map[string]string)
	for _, key := range k.Keys() {
		env[envName(key)] = key
	}
	return k.Keys(), env
}

// envName is the environment variable of a key: worker.shutdown_timeout is
// COMPRESSQ_WORKER_SHUTDOWN_TIMEOUT.
func envName(key string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

var durationType = reflect.TypeFor[time.Duration]()

// fileHooks decode YAML and flag values: durations from strings, whole
// numbers for integers, sections that must be mappings, map entries that
// must be single names.
var fileHooks = mapstructure.ComposeDecodeHookFunc(durationHook, wholeHook, sectionHook, entryHook)

// envHooks decode environment variables, all strings: lists "a, b", maps
// "name=value,…", and trimmed scalars parsed by the target's type.
var envHooks = mapstructure.ComposeDecodeHookFunc(envListHook, envMapHook, scalarHooks)

// scalarHooks parse a trimmed string by the target's type.
var scalarHooks = mapstructure.ComposeDecodeHookFunc(trimHook, durationHook, mapstructure.StringToBasicTypeHookFunc())

// durationHook decodes Go duration strings into time.Duration and refuses
// bare numbers other than 0, which would silently mean nanoseconds.
func durationHook(_ reflect.Type, to reflect.Type, data any) (any, error) {
	if to != durationType {
		return data, nil
	}
	switch v := data.(type) {
	case string:
		return time.ParseDuration(v)
	case time.Duration:
		return v, nil
	case int, int64, uint64, float64:
		if reflect.ValueOf(v).IsZero() {
			return time.Duration(0), nil
		}
		return nil, fmt.Errorf("%v is a bare number: want a duration string such as \"30s\"", v)
	}
	return data, nil
}

// wholeHook refuses a fraction where Config has an integer, which
// mapstructure would truncate.
func wholeHook(_, to reflect.Type, data any) (any, error) {
	f, ok := data.(float64)
	if !ok {
		return data, nil
	}
	switch to.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if f != math.Trunc(f) {
			return nil, fmt.Errorf("%v is not a whole number", f)
		}
	}
	return data, nil
}

// errNotMapping is sectionHook's complaint.
var errNotMapping = errors.New("must be a mapping of its keys")

// sectionHook refuses a scalar or list where Config has a section.
func sectionHook(from, to reflect.Type, data any) (any, error) {
	if to.Kind() == reflect.Struct && from.Kind() != reflect.Map {
		return nil, errNotMapping
	}
	return data, nil
}

// dottedEntries lists map entries whose names contain '.'.
type dottedEntries []string

func (d dottedEntries) Error() string { return "entries are single names without '.'" }

// entryHook refuses map entries whose names contain '.', which a key path
// could not tell from nested keys.
func entryHook(_, to reflect.Type, data any) (any, error) {
	m, ok := data.(map[string]any)
	if !ok || to.Kind() != reflect.Map {
		return data, nil
	}
	var bad dottedEntries
	for name := range m {
		if strings.Contains(name, ".") {
			bad = append(bad, name)
		}
	}
	if bad != nil {
		slices.Sort(bad)
		return nil, bad
	}
	return data, nil
}

// trimHook trims the text of a value that is not a string.
func trimHook(from, to reflect.Type, data any) (any, error) {
	if s, ok := data.(string); ok && to.Kind() != reflect.String {
		return strings.TrimSpace(s), nil
	}
	return data, nil
}

// envListHook splits "a, b" into a list, dropping empty parts.
func envListHook(_, to reflect.Type, data any) (any, error) {
	s, ok := data.(string)
	if !ok || to.Kind() != reflect.Slice {
		return data, nil
	}
	out := []string{}
	for part := range strings.SplitSeq(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out, nil
}

// envMapHook parses "name=value,…" into a map, decoding each value by the
// map's element type.
func envMapHook(_, to reflect.Type, data any) (any, error) {
	s, ok := data.(string)
	if !ok || to.Kind() != reflect.Map {
		return data, nil
	}
	out := make(map[string]any)
	for part := range strings.SplitSeq(s, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		name, value, ok := strings.Cut(part, "=")
		if !ok {
			return nil, fmt.Errorf("entry %q: want name=value", part)
		}
		v := reflect.New(to.Elem())
		d, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{DecodeHook: scalarHooks, Result: v.Interface()})
		if err == nil {
			err = d.Decode(value)
		}
		if err != nil {
			var de *mapstructure.DecodeError
			if errors.As(err, &de) {
				err = de.Unwrap()
			}
			return nil, fmt.Errorf("entry %q: %w", part, err)
		}
		out[strings.TrimSpace(name)] = v.Elem().Interface()
	}
	return out, nil
}

// keyError is one decoding problem and the key it is about.
type keyError struct {
	key string
	err error
	// unknown says Config has no such key.
	unknown bool
}

func (e keyError) Error() string {
	var dotted dottedEntries
	switch {
	case e.unknown:
		return fmt.Sprintf("unknown key %q", e.key)
	case errors.Is(e.err, errNotMapping):
		return fmt.Sprintf("key %q %v", e.key, e.err)
	case errors.As(e.err, &dotted):
		msgs := make([]string, len(dotted))
		for i, name := range dotted {
			msgs[i] = fmt.Sprintf("key %q: entries of %s are single names without '.'", e.key+"."+name, e.key)
		}
		return strings.Join(msgs, "; ")
	}
	return e.key + ": " + e.err.Error()
}

func (e keyError) Unwrap() error { return e.err }

// invalidKeys is mapstructure's ErrorUnused complaint, "has invalid keys:
// a, b".
const invalidKeys = "has invalid keys: "

// keyErrors splits mapstructure's decoding error into one keyError per key,
// keeping the originals wrapped: unknown keys each become "unknown key",
// and a value of the wrong type is quoted.
func keyErrors(err error) []keyError {
	var out []keyError
	var walk func(err error)
	walk = func(err error) {
		var de *mapstructure.DecodeError
		switch e := err.(type) {
		case *mapstructure.DecodeError:
			de = e
		case interface{ Unwrap() []error }:
			for _, e := range e.Unwrap() {
				walk(e)
			}
			return
		case interface{ Unwrap() error }:
			// mapstructure wraps its list of problems in a summary.
			if errors.As(e.Unwrap(), &de) {
				walk(e.Unwrap())
				return
			}
		}
		if de == nil {
			out = append(out, keyError{key: "(configuration)", err: err})
			return
		}
		inner := de.Unwrap()
		if _, ok := inner.(interface{ Unwrap() []error }); ok {
			walk(inner)
			return
		}
		if _, ok := inner.(*mapstructure.DecodeError); ok {
			walk(inner)
			return
		}
		// Map entries are named worker.queues[a]; the key is the map.
		key, _, _ := strings.Cut(de.Name(), "[")
		if rest, ok := strings.CutPrefix(inner.Error(), invalidKeys); ok {
			for name := range strings.SplitSeq(rest, ", ") {
				full := name
				if key != "" {
					full = key + "." + name
				}
				out = append(out, keyError{key: full, err: inner, unknown: true})
			}
			return
		}
		var ut *mapstructure.UnconvertibleTypeError
		if errors.As(inner, &ut) {
			inner = fmt.Errorf("value %#v: %w", ut.Value, inner)
		}
		out = append(out, keyError{key: key, err: inner})
	}
	if err != nil {
		walk(err)
	}
	return out
}
