package nas

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/compressq/compressq/compress/nn"
)

const exampleYAML = `
input: [1, 28, 28]
classes: 10
conv:
  depth: [0, 1, 2]
  channels: [4, 8, 16]
  kernels: [3, 5]
dense:
  depth: [1, 2]
  widths: [32, 64, 128]
activations: [relu]
compression:
  sparsity: [0, 0.5, 0.9]
  weight_bits: [8, 32]
  kmeans_bits: [0, 4]
constraints:
  max_params: 200000
  max_bytes: 150000
`

// TestParseSpace parses the SPACE.md example as YAML and an equivalent JSON
// document, and a minimal document to check the defaults.
func TestParseSpace(t *testing.T) {
	y, err := ParseSpace([]byte(exampleYAML))
	if err != nil {
		t.Fatal(err)
	}
	j, err := ParseSpace([]byte(`{"conv": {"depth": [0, 1, 2], "channels": [4, 8, 16], "kernels": [3, 5]},
		"dense": {"depth": [1, 2], "widths": [32, 64, 128]},
		"compression": {"sparsity": [0, 0.5, 0.9], "weight_bits": [8, 32], "kmeans_bits": [0, 4]},
		"constraints": {"max_params": 200000, "max_bytes": 150000}}`))
	if err != nil {
		t.Fatal(err)
	}
	if y.Constraints != j.Constraints || len(y.Conv.Channels) != 3 || len(j.Activations) != 1 || j.Input[2] != 28 || j.Classes != 10 {
		t.Errorf("yaml %+v\njson %+v", y, j)
	}
	m, err := ParseSpace([]byte("dense: {widths: [10]}"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Conv.Depth[0] != 0 || m.Dense.Depth[0] != 1 || m.Compression.WeightBits[0] != 32 || m.Compression.KMeansBits[0] != 0 {
		t.Errorf("defaults not applied: %+v", m)
	}
}

// TestSpaceRejects checks that bad documents fail with the field named.
func TestSpaceRejects(t *testing.T) {
	for _, tc := range []struct{ doc, want string }{
		{"dense: {widths: [10]}\nfoo: 1", "foo"},
		{"conv: {depth: [1]}\ndense: {widths: [8]}", "conv.channels: no choices"},
		{"conv: {depth: [1], channels: [4], kernels: [4]}\ndense: {widths: [8]}", "conv.kernels: 4, want odd"},
		{"conv: {depth: [6], channels: [4], kernels: [3]}\ndense: {widths: [8]}", "conv.depth: 6 blocks"},
		{"dense: {widths: [8, 8]}", "dense.widths: duplicate"},
		{"dense: {widths: [8]}\nactivations: [tanh]", "activations: \"tanh\""},
		{"dense: {widths: [8]}\ncompression: {sparsity: [1]}", "compression.sparsity: 1"},
		{"dense: {widths: [8]}\ncompression: {weight_bits: [16]}", "compression.weight_bits: 16"},
		{"dense: {widths: [8]}\nconstraints: {max_bytes: -1}", "constraints.max_bytes"},
	} {
		_, err := ParseSpace([]byte(tc.doc))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want it to mention %q", tc.doc, err, tc.want)
		}
	}
}

// TestCandidateSizes checks, for every genome of the test space, that the
// architecture validates and that SizeOf's count equals the built network's
// parameter count.
func TestCandidateSizes(t *testing.T) {
	s := mustNew(t, Config{Strategy: StrategyGrid, Space: testSpace(), MaxTrials: 1 << 20}).(*Grid)
	ts, err := s.Ask(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, tr := range ts {
		c := tr.Candidate
		key := fmt.Sprint(c.Genome.Conv, c.Genome.Dense)
		if seen[key] {
			continue // one check per architecture
		}
		seen[key] = true
		a, err := testSpace().Arch(c.Genome)
		if err != nil {
			t.Fatal(err)
		}
		net, err := nn.Build(a, 1)
		if err != nil {
			t.Fatal(err)
		}
		if net.NumParams() != c.Params {
			t.Fatalf("genome %+v: SizeOf %d params, network %d", c.Genome, c.Params, net.NumParams())
		}
	}
	if len(seen) != 21*12 {
		t.Errorf("%d architectures checked, want 252", len(seen))
	}
}

// TestHash checks that the hash depends on the genome's values only: equal
// genomes (nil or empty conv) hash alike, any changed gene changes it, and
// a fixed genome keeps the value recorded when the format was set (sweeps
// store hashes, so a change here breaks resuming them).
func TestHash(t *testing.T) {
	g := Genome{Dense: []int{64}, Activation: "relu", Compression: Compression{Sparsity: 0.5, WeightBits: 8}}
	h := g.Hash()
	g2 := g
	g2.Conv = []ConvGene{}
	if g2.Hash() != h {
		t.Error("nil and empty conv hash differently")
	}
	for _, m := range []func(*Genome){
		func(g *Genome) { g.Dense = []int{65} },
		func(g *Genome) { g.Conv = []ConvGene{{Channels: 4, Kernel: 3}} },
		func(g *Genome) { g.Compression.Sparsity = 0.6 },
		func(g *Genome) { g.Compression.KMeansBits = 4 },
	} {
		c := g
		c.Dense = append([]int(nil), g.Dense...)
		m(&c)
		if c.Hash() == h {
			t.Errorf("changed genome %+v keeps hash", c)
		}
	}
	const golden = "841875609880d8d40f875af52b96b0c6"
	if h != golden {
		t.Errorf("hash %s, recorded %s", h, golden)
	}
}

// TestEstimateBytes checks the byte estimate on hand-computed cases for a
// network of 1,000 weights and 10 biases in 2 tensors.
func TestEstimateBytes(t *testing.T) {
	z := Size{Params: 1010, Weights: 1000, Tensors: 2}
	for _, tc := range []struct {
		c    Compression
		want int
	}{
		{Compression{WeightBits: 32}, 4000 + 40},
		{Compression{WeightBits: 8}, 1000 + 2*4 + 40},
		{Compression{Sparsity: 0.9, WeightBits: 8}, 100 + 100 + 2*4 + 40},
		{Compression{Sparsity: 0.5, WeightBits: 32, KMeansBits: 4}, 250 + 500 + 2*16*4 + 40},
		{Compression{WeightBits: 4}, 500 + 2*4 + 40},
	} {
		if got := EstimateBytes(z, tc.c); got != tc.want {
			t.Errorf("%+v: %d bytes, want %d", tc.c, got, tc.want)
		}
	}
}

// TestCandidateConstraints checks that limits reject with ErrInfeasible.
func TestCandidateConstraints(t *testing.T) {
	sp := testSpace()
	sp.Constraints.MaxParams = 20000
	big := Genes{0, 0, 0, 0, 0, 1, 2, 2, 0, 0, 0, 0} // 784-64-64-10: 55,050 params
	if _, err := sp.Candidate(big); !errors.Is(err, ErrInfeasible) {
		t.Errorf("error %v, want ErrInfeasible", err)
	}
	small := Genes{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0} // 784-16-10: 12,730 params
	c, err := sp.Candidate(small)
	if err != nil || c.Params != 12730 {
		t.Errorf("candidate %+v, %v; want 12,730 params", c, err)
	}
}

// TestExampleSpaceSize checks the genome count SPACE.md states for its
// example, without constraints: (1 + 6 + 36) × (3 + 9) × 12 = 6,192.
func TestExampleSpaceSize(t *testing.T) {
	sp, err := ParseSpace([]byte(exampleYAML))
	if err != nil {
		t.Fatal(err)
	}
	sp.Constraints = Constraints{}
	ts, err := mustNew(t, Config{Strategy: StrategyGrid, Space: sp, MaxTrials: 1 << 20}).Ask(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 6192 {
		t.Errorf("%d genomes, SPACE.md says 6,192", len(ts))
	}
}
