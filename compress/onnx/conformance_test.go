package onnx

import (
	"bufio"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"gorgonia.org/tensor"
)

// ONNX's backend test cases ship in Debian's libonnx-testdata package: one
// directory per case holding model.onnx and test_data_set_*/{input,output}_*.pb.
// TestConformance runs every case the nn engine can represent and compares
// its outputs with ONNX's own runner defaults, rtol 1e-3 and atol 1e-7.

// onnxTestdataEnv overrides where the suites are looked for: a directory
// holding node/, pytorch-converted/, pytorch-operator/ and simple/.
const onnxTestdataEnv = "COMPRESSQ_ONNX_TESTDATA"

// conformanceSuites are the suites run, in report order.
var conformanceSuites = []string{"node", "pytorch-converted", "pytorch-operator", "simple"}

// minConformancePasses guards against regressions: each suite must pass at
// least this many cases.
var minConformancePasses = map[string]int{"node": 67, "pytorch-converted": 20, "pytorch-operator": 4, "simple": 1}

// onnxTestdata returns the suites' directory, or skips the test (fails under
// CI, which installs the package).
func onnxTestdata(t testing.TB) string {
	t.Helper()
	if dir := os.Getenv(onnxTestdataEnv); dir != "" {
		return dir
	}
	if dir, err := dpkgTestdata(); err == nil {
		return dir
	} else if os.Getenv("CI") != "" {
		t.Fatalf("ONNX backend test data not found and CI is set (install the libonnx-testdata package): %v", err)
	} else {
		t.Skipf("ONNX backend test data not found (apt-get install libonnx-testdata, or set %s): %v", onnxTestdataEnv, err)
	}
	return ""
}

// dpkgTestdata asks dpkg where libonnx-testdata put its node/ directory.
func dpkgTestdata() (string, error) {
	out, err := exec.Command("dpkg", "-L", "libonnx-testdata").Output()
	if err != nil {
		return "", fmt.Errorf("dpkg -L libonnx-testdata: %w", err)
	}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		if p := sc.Text(); filepath.Base(p) == "node" {
			if st, err := os.Stat(p); err == nil && st.IsDir() {
				return filepath.Dir(p), nil
			}
		}
	}
	return "", errors.New("no node/ directory in the package's file list")
}

// caseResult is the outcome of one backend test case.
type caseResult struct {
	name string
	ops  []string // op types of the model's nodes, sorted, distinct
	// skip is why the case is out of scope ("" if it ran).
	skip string
	// err is set when the case ran and disagreed with ONNX's outputs.
	err error
	// bound is set when inputs after the first were bound as constants.
	bound bool
}

// runCase imports one case's model and runs every data set.
func runCase(dir string) caseResult {
	r := caseResult{name: filepath.Base(dir)}
	b, err := os.ReadFile(filepath.Join(dir, "model.onnx"))
	if err != nil {
		r.skip = "no model.onnx"
		return r
	}
	g, err := Decode(b, Limits{})
	if err != nil {
		r.skip = "decode: " + err.Error()
		return r
	}
	for _, n := range g.Nodes {
		if !slices.Contains(r.ops, n.OpType) {
			r.ops = append(r.ops, n.OpType)
		}
	}
	sort.Strings(r.ops)
	if len(g.Inputs) == 0 {
		r.skip = "no data input"
		return r
	}
	if len(g.Outputs) != 1 {
		r.skip = fmt.Sprintf("%d outputs", len(g.Outputs))
		return r
	}
	sets, _ := filepath.Glob(filepath.Join(dir, "test_data_set_*"))
	if len(sets) == 0 {
		r.skip = "no data sets"
		return r
	}
	for i, set := range sets {
		// Inputs after the first are the op's other operands (weights,
		// biases, statistics) in the node cases: they are bound as
		// constants from this data set, as initializers would be.
		bound := &Graph{Opset: g.Opset, Inputs: g.Inputs[:1], Outputs: g.Outputs, Nodes: g.Nodes, Constants: maps.Clone(g.Constants)}
		var in *Constant
		for k, vi := range g.Inputs {
			c, err := readPB(filepath.Join(set, fmt.Sprintf("input_%d.pb", k)))
			if err != nil {
				r.skip = fmt.Sprintf("input %d is not a tensor: %v", k, err)
				return r
			}
			if k == 0 {
				in = c
				continue
			}
			c.Name = vi.Name
			bound.Constants[vi.Name] = c
		}
		if in.DataType != onnxFloat {
			r.skip = fmt.Sprintf("input data type %d, not float32", in.DataType)
			return r
		}
		net, err := GraphToNetwork(bound)
		var u *UnsupportedOpsError
		switch {
		case errors.As(err, &u):
			ops := make([]string, 0, len(u.Ops))
			for op := range u.Ops {
				ops = append(ops, op)
			}
			sort.Strings(ops)
			r.skip = "op " + strings.Join(ops, ", ")
			return r
		case err != nil && i == 0:
			r.skip = "not representable: " + err.Error()
			return r
		case err != nil:
			r.err = fmt.Errorf("%s: imported data set 0 but not this one: %w", filepath.Base(set), err)
			return r
		}
		r.bound = len(g.Inputs) > 1
		want, err := readPB(filepath.Join(set, "output_0.pb"))
		if err != nil {
			r.err = err
			return r
		}
		if want.Float == nil {
			r.err = fmt.Errorf("%s: non-float output", filepath.Base(set))
			return r
		}
		y, err := net.Forward(tensor.New(tensor.WithShape(in.Shape...), tensor.WithBacking(in.Float)), false)
		if err != nil {
			r.err = fmt.Errorf("%s: %w", filepath.Base(set), err)
			return r
		}
		got := y.Float32s()
		if len(got) != len(want.Float) {
			r.err = fmt.Errorf("%s: output has %d values (shape %v), ONNX's %d (shape %v)", filepath.Base(set), len(got), y.Shape(), len(want.Float), want.Shape)
			return r
		}
		for i, w := range want.Float {
			if d := math.Abs(float64(got[i] - w)); !(d <= 1e-7+1e-3*math.Abs(float64(w))) {
				r.err = fmt.Errorf("%s: output[%d] = %g, ONNX's %g", filepath.Base(set), i, got[i], w)
				return r
			}
		}
	}
	return r
}

func readPB(path string) (*Constant, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return DecodeTensorProto(b, Limits{})
}

// skipReason shortens a skip message to its category for the summary.
func skipReason(s string) string {
	switch {
	case strings.HasPrefix(s, "op "), strings.HasPrefix(s, "input data type"):
		return s
	case strings.HasPrefix(s, "input "):
		return s[:strings.Index(s, ":")]
	case strings.Contains(s, "want a batch dimension and"):
		return "not representable: input rank (no batch dimension, or more than 4 per-sample dimensions)"
	case strings.HasPrefix(s, "not representable: "):
		s = strings.TrimPrefix(s, "not representable: ")
		if i := strings.Index(s, "): "); i >= 0 {
			s = s[i+3:]
		}
		s = strings.TrimSuffix(s, ": "+ErrNotImportable.Error())
		return "not representable: " + s
	}
	return s
}

func TestConformance(t *testing.T) {
	root := onnxTestdata(t)
	for _, suite := range conformanceSuites {
		t.Run(suite, func(t *testing.T) {
			dirs, err := filepath.Glob(filepath.Join(root, suite, "test_*"))
			if err != nil || len(dirs) == 0 {
				t.Fatalf("no cases in %s: %v", filepath.Join(root, suite), err)
			}
			passed := map[string]int{} // by op
			var pass []string
			bound := 0
			reasons := map[string]int{}
			for _, dir := range dirs {
				r := runCase(dir)
				switch {
				case r.err != nil:
					t.Errorf("%s: %v", r.name, r.err)
				case r.skip != "":
					reasons[skipReason(r.skip)]++
				default:
					pass = append(pass, r.name)
					if r.bound {
						bound++
					}
					for _, op := range r.ops {
						passed[op]++
					}
				}
			}
			t.Logf("%s: %d of %d cases pass (%d with operands bound as constants)", suite, len(pass), len(dirs), bound)
			t.Logf("passing: %s", strings.Join(pass, " "))
			ops := make([]string, 0, len(passed))
			for op, n := range passed {
				ops = append(ops, fmt.Sprintf("%s %d", op, n))
			}
			sort.Strings(ops)
			t.Logf("passing cases per op: %s", strings.Join(ops, ", "))
			type kv struct {
				k string
				v int
			}
			var rs []kv
			for k, v := range reasons {
				rs = append(rs, kv{k, v})
			}
			sort.Slice(rs, func(i, j int) bool { return rs[i].v > rs[j].v || rs[i].v == rs[j].v && rs[i].k < rs[j].k })
			for _, r := range rs {
				t.Logf("  out of scope ×%d: %s", r.v, r.k)
			}
			if min := minConformancePasses[suite]; len(pass) < min {
				t.Errorf("%s: %d cases pass, want at least %d", suite, len(pass), min)
			}
		})
	}
}
