package nas

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Parameter types for Param.Type.
const (
	ParamInt         = "int"         // integers low, low+step, … ≤ high
	ParamFloat       = "float"       // uniform on [low, high]
	ParamLog         = "log"         // log-uniform on [low, high], low > 0
	ParamCategorical = "categorical" // one of choices (strings or numbers)
)

// paramTypes lists the parameter types.
var paramTypes = []string{ParamInt, ParamFloat, ParamLog, ParamCategorical}

// Param is one typed parameter of a ParamSpace. Numbers are held as
// float64 everywhere (an int parameter's values are integral float64s), so
// a parameter and its values read back from JSON equal the originals.
type Param struct {
	// Type is int, float, log or categorical.
	Type string `json:"type"`
	// Low and High bound int, float and log parameters, both inclusive.
	Low  float64 `json:"low,omitempty"`
	High float64 `json:"high,omitempty"`
	// Step is an int parameter's spacing (default 1).
	Step float64 `json:"step,omitempty"`
	// Choices are a categorical parameter's values: strings or numbers.
	Choices []any `json:"choices,omitempty"`
	// When makes the parameter conditional: it is active only when every
	// named parameter is active and has one of the listed values.
	When map[string][]any `json:"when,omitempty"`
}

// ParamSpace is a user-defined search space: named typed parameters, some
// conditional on others. Names are the keys SPACE.md lists (architecture
// genes, training hyperparameters, compression genes).
type ParamSpace map[string]Param

// Values is one point of a ParamSpace: the value of every active
// parameter. Numbers are float64; encoding/json writes the keys sorted, so
// the encoding is deterministic.
type Values map[string]any

// paramKeys are the keys a parameter document may hold.
var paramKeys = []string{"type", "low", "high", "step", "choices", "when"}

// UnmarshalYAML decodes the params document, naming the parameter and key
// of every problem.
func (ps *ParamSpace) UnmarshalYAML(n *yaml.Node) error {
	var raw map[string]any
	if err := n.Decode(&raw); err != nil {
		return fmt.Errorf("params: want a mapping of parameter names to parameters: %w", err)
	}
	out := ParamSpace{}
	var errs []error
	names := sortedKeys(raw)
	for _, name := range names {
		path := "params." + name
		m, ok := raw[name].(map[string]any)
		if !ok {
			errs = append(errs, fmt.Errorf("%s: want a mapping with type, low, high, step, choices or when", path))
			continue
		}
		p, perrs := decodeParam(path, m)
		errs = append(errs, perrs...)
		out[name] = p
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	*ps = out
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// decodeParam builds a Param from its decoded YAML mapping.
func decodeParam(path string, m map[string]any) (Param, []error) {
	var p Param
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s.%s: %s", path, key, fmt.Sprintf(format, args...)))
	}
	for _, k := range sortedKeys(m) {
		if !slices.Contains(paramKeys, k) {
			bad(k, "unknown key, want one of %v", paramKeys)
		}
	}
	if t, ok := m["type"]; !ok {
		bad("type", "required, one of %v", paramTypes)
	} else if s, ok := t.(string); !ok {
		bad("type", "%v, want one of %v", t, paramTypes)
	} else {
		p.Type = s
	}
	num := func(key string) float64 {
		v, ok := m[key]
		if !ok {
			return 0
		}
		f, ok := number(v)
		if !ok {
			bad(key, "%v, want a number", v)
		}
		return f
	}
	p.Low, p.High, p.Step = num("low"), num("high"), num("step")
	if c, ok := m["choices"]; ok {
		list, ok := c.([]any)
		if !ok {
			bad("choices", "want a list")
		}
		for i, v := range list {
			nv, ok := normalize(v)
			if !ok {
				bad(fmt.Sprintf("choices[%d]", i), "%v, want a string or a number", v)
			}
			p.Choices = append(p.Choices, nv)
		}
	}
	if w, ok := m["when"]; ok {
		wm, ok := w.(map[string]any)
		if !ok {
			bad("when", "want a mapping of parameter names to values")
		}
		p.When = map[string][]any{}
		for _, parent := range sortedKeys(wm) {
			vals, ok := wm[parent].([]any)
			if !ok {
				vals = []any{wm[parent]}
			}
			for i, v := range vals {
				nv, ok := normalize(v)
				if !ok {
					bad(fmt.Sprintf("when.%s[%d]", parent, i), "%v, want a string or a number", v)
				}
				p.When[parent] = append(p.When[parent], nv)
			}
		}
	}
	return p, errs
}

// number returns v as a float64 when it is a number.
func number(v any) (float64, bool) {
	switch x := v.(type) {
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case uint64:
		return float64(x), true
	case float64:
		return x, true
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	}
	return 0, false
}

// normalize returns a categorical value in its canonical form: a string,
// or a number as float64.
func normalize(v any) (any, bool) {
	if s, ok := v.(string); ok {
		return s, true
	}
	f, ok := number(v)
	if !ok || math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, false
	}
	return f, true
}

// count returns the number of values of an int parameter.
func (p Param) count() int {
	return int(math.Floor((p.High-p.Low)/p.step()+1e-9)) + 1
}

func (p Param) step() float64 {
	if p.Step == 0 {
		return 1
	}
	return p.Step
}

// contains reports whether v is a value p can take.
func (p Param) contains(v any) bool {
	switch p.Type {
	case ParamCategorical:
		return slices.Contains(p.Choices, v)
	case ParamInt:
		f, ok := v.(float64)
		if !ok || f < p.Low || f > p.High {
			return false
		}
		k := (f - p.Low) / p.step()
		return math.Abs(k-math.Round(k)) < 1e-9
	default:
		f, ok := v.(float64)
		return ok && f >= p.Low && f <= p.High
	}
}

// validate reports p's problems, each under path.
func (p Param) validate(path string) []error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s%s: %s", path, key, fmt.Sprintf(format, args...)))
	}
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	switch p.Type {
	case ParamInt, ParamFloat, ParamLog:
		if len(p.Choices) > 0 {
			bad(".choices", "only for categorical parameters")
		}
		if !finite(p.Low) || !finite(p.High) {
			bad("", "low and high must be finite")
			break
		}
		if p.High < p.Low {
			bad(".high", "%g is below low %g", p.High, p.Low)
		} else if p.High == p.Low && p.Type != ParamInt {
			bad(".high", "%g equals low: an empty range", p.High)
		}
		if p.Type == ParamLog && p.Low <= 0 {
			bad(".low", "%g, must be > 0 for log-uniform", p.Low)
		}
		if p.Type == ParamInt {
			if p.Low != math.Trunc(p.Low) || p.High != math.Trunc(p.High) || math.Abs(p.Low) > 1<<40 || math.Abs(p.High) > 1<<40 {
				bad("", "low %g and high %g must be integers of magnitude <= 2^40", p.Low, p.High)
			}
			if p.Step < 0 || p.Step != math.Trunc(p.Step) || !finite(p.Step) {
				bad(".step", "%g, want a positive integer", p.Step)
			}
		} else if p.Step != 0 {
			bad(".step", "only for int parameters")
		}
	case ParamCategorical:
		if p.Low != 0 || p.High != 0 || p.Step != 0 {
			bad("", "low, high and step are not for categorical parameters")
		}
		if len(p.Choices) == 0 {
			bad(".choices", "no choices")
		}
		if hasDup(p.Choices) {
			bad(".choices", "duplicate choices")
		}
	default:
		bad(".type", "%q, want one of %v", p.Type, paramTypes)
	}
	return errs
}

// validate reports every problem of ps: each parameter's own, conditions
// on missing parameters or impossible values, and cycles of conditions.
func (ps ParamSpace) validate() []error {
	var errs []error
	if len(ps) == 0 {
		return []error{errors.New("params: no parameters")}
	}
	for _, name := range sortedKeys(ps) {
		p := ps[name]
		path := "params." + name
		errs = append(errs, p.validate(path)...)
		for _, parent := range sortedKeys(p.When) {
			wp := path + ".when." + parent
			q, ok := ps[parent]
			switch {
			case parent == name:
				errs = append(errs, fmt.Errorf("%s: a parameter cannot depend on itself", wp))
			case !ok:
				errs = append(errs, fmt.Errorf("%s: no parameter %q", wp, parent))
			case len(p.When[parent]) == 0:
				errs = append(errs, fmt.Errorf("%s: no values", wp))
			default:
				for _, v := range p.When[parent] {
					if !q.contains(v) {
						errs = append(errs, fmt.Errorf("%s: %v is not a value %s can take", wp, v, parent))
					}
				}
			}
		}
	}
	if c := ps.cycle(); c != nil {
		errs = append(errs, fmt.Errorf("params.%s.when: conditions form a cycle %s", c[0], strings.Join(c, " → ")))
	}
	return errs
}

// cycle returns a cycle of conditions (first name repeated at the end), or
// nil.
func (ps ParamSpace) cycle() []string {
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var stack []string
	var found []string
	var visit func(n string) bool
	visit = func(n string) bool {
		color[n] = grey
		stack = append(stack, n)
		for _, parent := range sortedKeys(ps[n].When) {
			if _, ok := ps[parent]; !ok || parent == n {
				continue
			}
			switch color[parent] {
			case grey:
				i := slices.Index(stack, parent)
				found = append(slices.Clone(stack[i:]), parent)
				return true
			case white:
				if visit(parent) {
					return true
				}
			}
		}
		stack = stack[:len(stack)-1]
		color[n] = black
		return false
	}
	for _, n := range sortedKeys(ps) {
		if color[n] == white && visit(n) {
			return found
		}
	}
	return nil
}

// order returns the parameter names with every parameter after those its
// condition names, ties broken by name. ps must be acyclic.
func (ps ParamSpace) order() []string {
	names := sortedKeys(ps)
	done := map[string]bool{}
	out := make([]string, 0, len(names))
	for len(out) < len(names) {
		progressed := false
		for _, n := range names {
			if done[n] {
				continue
			}
			ready := true
			for parent := range ps[n].When {
				if _, ok := ps[parent]; ok && parent != n && !done[parent] {
					ready = false
				}
			}
			if ready {
				done[n] = true
				out = append(out, n)
				progressed = true
			}
		}
		if !progressed { // a cycle: validate refuses it; keep the rest in name order
			for _, n := range names {
				if !done[n] {
					done[n] = true
					out = append(out, n)
				}
			}
		}
	}
	return out
}

// active reports whether parameter name is active given the values of the
// parameters before it.
func (ps ParamSpace) active(name string, v Values) bool {
	for parent, allowed := range ps[name].When {
		pv, ok := v[parent]
		if !ok || !slices.Contains(allowed, pv) {
			return false
		}
	}
	return true
}

// Sample draws a point uniformly: every active parameter in dependency
// order, int values uniform over the grid, float uniform, log uniform in
// the logarithm, categorical uniform over the choices.
func (ps ParamSpace) Sample(r *rng) Values {
	v := Values{}
	for _, name := range ps.order() {
		if ps.active(name, v) {
			v[name] = ps[name].uniform(r)
		}
	}
	return v
}

// uniform draws one value of p.
func (p Param) uniform(r *rng) any {
	switch p.Type {
	case ParamInt:
		return p.Low + float64(r.intn(p.count()))*p.step()
	case ParamFloat:
		return math.Min(p.High, p.Low+r.float()*(p.High-p.Low))
	case ParamLog:
		lo, hi := math.Log(p.Low), math.Log(p.High)
		return math.Min(p.High, math.Max(p.Low, math.Exp(lo+r.float()*(hi-lo))))
	default:
		return p.Choices[r.intn(len(p.Choices))]
	}
}

// encode returns the canonical JSON of v (keys sorted).
func (v Values) encode() []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("nas: marshal values: %v", err)) // strings and finite floats cannot fail
	}
	return b
}
