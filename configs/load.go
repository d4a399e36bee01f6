package configs

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strconv"
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
// own. Unknown keys in the file are errors. Durations are Go duration
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

// load merges the layers of src over Default() and validates the result.
func load(src source) (Config, error) {
	k := koanf.New(".")
	var layers []*koanf.Koanf
	if src.file != nil {
		kf, err := loadYAML(src.fileName, src.file)
		if err != nil {
			return Config{}, err
		}
		layers = append(layers, kf)
	}
	ke, err := loadEnv(src.environ)
	if err != nil {
		return Config{}, err
	}
	layers = append(layers, ke)
	if src.flags != nil {
		kp, err := loadFlags(src.flags)
		if err != nil {
			return Config{}, err
		}
		layers = append(layers, kp)
	}
	for _, l := range layers {
		// A map set by a higher layer replaces the lower one whole rather
		// than merging key by key.
		for _, m := range schema.maps {
			if l.Exists(m) {
				k.Delete(m)
			}
		}
		if err := k.Merge(l); err != nil {
			return Config{}, fmt.Errorf("merge configuration: %w", err)
		}
	}

	cfg := Default()
	// Maps decode into a fresh map so a set map replaces the default.
	if k.Exists("worker.queues") {
		cfg.Worker.Queues = nil
	}
	if k.Exists("worker.task_timeouts") {
		cfg.Worker.TaskTimeouts = nil
	}
	if err := k.UnmarshalWithConf("", &cfg, koanf.UnmarshalConf{DecoderConfig: &mapstructure.DecoderConfig{
		DecodeHook:  durationHook,
		ErrorUnused: true,
		TagName:     "koanf",
	}}); err != nil {
		return Config{}, fmt.Errorf("configuration: %w", keyErrors(err))
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, fmt.Errorf("invalid configuration: %w", err)
	}
	return cfg, nil
}

// loadYAML parses a config file and rejects keys that are not in Config.
func loadYAML(name string, b []byte) (*koanf.Koanf, error) {
	if name == "" {
		name = "(unnamed)"
	}
	kf := koanf.New(".")
	if err := kf.Load(bytesProvider(b), yaml.Parser()); err != nil {
		return nil, fmt.Errorf("config file %q: %w", name, err)
	}
	var errs []error
	for _, key := range kf.Keys() {
		if kf.Get(key) == nil {
			continue // an empty section such as "redis:" sets nothing
		}
		if err := schema.check(key); err != nil {
			errs = append(errs, fmt.Errorf("config file %q: %w", name, err))
		}
	}
	return kf, errors.Join(errs...)
}

// loadEnv reads COMPRESSQ_* variables that name a key, parsing each value by
// the key's type.
func loadEnv(environ []string) (*koanf.Koanf, error) {
	var errs []error
	ke := koanf.New(".")
	p := env.Provider(".", env.Opt{
		Prefix:      EnvPrefix,
		EnvironFunc: func() []string { return environ },
		TransformFunc: func(name, value string) (string, any) {
			key, ok := schema.envKeys[name]
			if !ok {
				return "", nil
			}
			v, err := parseValue(schema.types[key], value)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s (%s): %q: %w", name, key, value, err))
				return "", nil
			}
			return key, v
		},
	})
	if err := ke.Load(p, nil); err != nil {
		return nil, fmt.Errorf("environment: %w", err)
	}
	return ke, errors.Join(errs...)
}

// loadFlags reads the flags of fs that were set and name a key.
func loadFlags(fs *pflag.FlagSet) (*koanf.Koanf, error) {
	kp := koanf.New(".")
	p := posflag.ProviderWithFlag(fs, ".", nil, func(f *pflag.Flag) (string, any) {
		key, ok := flagKeys[f.Name]
		if !ok || !f.Changed {
			return "", nil
		}
		return key, posflag.FlagVal(fs, f)
	})
	if err := kp.Load(p, nil); err != nil {
		return nil, fmt.Errorf("flags: %w", err)
	}
	return kp, nil
}

// bytesProvider is a koanf.Provider over an in-memory file.
type bytesProvider []byte

// ReadBytes returns the file.
func (b bytesProvider) ReadBytes() ([]byte, error) { return b, nil }

// Read is not supported: the bytes need a parser.
func (b bytesProvider) Read() (map[string]any, error) {
	return nil, errors.New("bytes provider needs a parser")
}

var durationType = reflect.TypeFor[time.Duration]()

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

// parseValue parses an environment variable's text as a value of type t.
func parseValue(t reflect.Type, s string) (any, error) {
	if t == durationType {
		return time.ParseDuration(strings.TrimSpace(s))
	}
	switch t.Kind() {
	case reflect.String:
		return s, nil
	case reflect.Bool:
		return strconv.ParseBool(strings.TrimSpace(s))
	case reflect.Int, reflect.Int64:
		return strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	case reflect.Slice:
		var out []any
		for part := range strings.SplitSeq(s, ",") {
			if part = strings.TrimSpace(part); part != "" {
				v, err := parseValue(t.Elem(), part)
				if err != nil {
					return nil, err
				}
				out = append(out, v)
			}
		}
		return out, nil
	case reflect.Map:
		out := make(map[string]any)
		for part := range strings.SplitSeq(s, ",") {
			if part = strings.TrimSpace(part); part == "" {
				continue
			}
			name, value, ok := strings.Cut(part, "=")
			if !ok {
				return nil, fmt.Errorf("entry %q: want name=value", part)
			}
			v, err := parseValue(t.Elem(), value)
			if err != nil {
				return nil, fmt.Errorf("entry %q: %w", part, err)
			}
			out[strings.TrimSpace(name)] = v
		}
		return out, nil
	}
	return nil, fmt.Errorf("unsupported type %v", t)
}

// keySchema lists the keys of Config, derived from its koanf tags.
type keySchema struct {
	types    map[string]reflect.Type // leaf key → field type
	sections []string                // keys of nested structs
	maps     []string                // leaf keys whose values are maps
	envKeys  map[string]string       // COMPRESSQ_X_Y → x.y
}

var schema = newSchema(reflect.TypeFor[Config]())

func newSchema(t reflect.Type) keySchema {
	s := keySchema{types: map[string]reflect.Type{}, envKeys: map[string]string{}}
	var walk func(prefix string, t reflect.Type)
	walk = func(prefix string, t reflect.Type) {
		for f := range t.Fields() {
			key := prefix + f.Tag.Get("koanf")
			if f.Type.Kind() == reflect.Struct {
				s.sections = append(s.sections, key)
				walk(key+".", f.Type)
				continue
			}
			s.types[key] = f.Type
			if f.Type.Kind() == reflect.Map {
				s.maps = append(s.maps, key)
			}
			s.envKeys[EnvPrefix+strings.ToUpper(strings.ReplaceAll(key, ".", "_"))] = key
		}
	}
	walk("", t)
	slices.Sort(s.maps)
	return s
}

// check reports whether a flattened file key is allowed.
func (s keySchema) check(key string) error {
	if _, ok := s.types[key]; ok {
		return nil
	}
	for _, m := range s.maps {
		if strings.HasPrefix(key, m+".") {
			if strings.Contains(key[len(m)+1:], ".") {
				return fmt.Errorf("key %q: entries of %s are single names without '.'", key, m)
			}
			return nil
		}
	}
	if slices.Contains(s.sections, key) {
		return fmt.Errorf("key %q must be a mapping of its keys", key)
	}
	return fmt.Errorf("unknown key %q", key)
}

// keyErrors rewrites mapstructure's decoding errors as one "key: problem"
// error per field, keeping the originals wrapped.
func keyErrors(err error) error {
	var out []error
	var walk func(err error)
	walk = func(err error) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		var de *mapstructure.DecodeError
		if !errors.As(err, &de) {
			out = append(out, err)
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
		var ut *mapstructure.UnconvertibleTypeError
		if errors.As(inner, &ut) {
			out = append(out, fmt.Errorf("%s: value %#v: %w", de.Name(), ut.Value, inner))
			return
		}
		out = append(out, fmt.Errorf("%s: %w", de.Name(), inner))
	}
	walk(err)
	return errors.Join(out...)
}
