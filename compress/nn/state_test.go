package nn

import (
	"context"
	"errors"
	"math"
	"runtime"
	"slices"
	"strings"
	"testing"

	"gorgonia.org/tensor"
)

// TestTrainResumeBitIdentical: a run stopped after epoch k, its state
// encoded, decoded and restored into a freshly built network, ends with the
// same parameters, history and optimizer state as the uninterrupted run.
// The network has batch norm (running statistics), dropout (the generator's
// state) and a pruning mask; the schedule is cosine (position by step).
// Training does not depend on GOMAXPROCS (TestTrainIndependentOfGOMAXPROCS),
// and the resumed part runs at GOMAXPROCS 1 to show it.
func TestTrainResumeBitIdentical(t *testing.T) {
	a := CNN(CNNConfig{Input: []int{1, 6, 6}, Filters: []int{4}, BatchNorm: true, Hidden: []int{16}, Dropout: 0.2, Classes: 3})
	set := synthetic(t, 160, []int{1, 6, 6}, 3, 4)
	train, val := set.Split(128)
	for _, tc := range []struct {
		name string
		cfg  TrainConfig
	}{
		{"sgd cosine", TrainConfig{Epochs: 3, BatchSize: 16, LR: 0.05, Schedule: ScheduleCosine, Seed: 5}},
		{"adam step val restore-best", TrainConfig{Epochs: 3, BatchSize: 16, Optimizer: OptimizerAdam, Schedule: ScheduleStep, StepEpochs: 1,
			Seed: 6, Val: val, RestoreBest: true, WeightDecay: 1e-4}},
		{"sgd patience", TrainConfig{Epochs: 3, BatchSize: 32, LR: 0.05, Seed: 7, Val: val, Patience: 1, MaxBatches: 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			build := func() *Network {
				net, err := Build(a, 9)
				if err != nil {
					t.Fatal(err)
				}
				mask := make([]float32, 16*36)
				for i := range mask {
					mask[i] = float32(i % 3 % 2)
				}
				if err := net.SetMask("layers.6.weight", tensor.New(tensor.WithShape(16, 36), tensor.WithBacking(mask))); err != nil {
					t.Fatal(err)
				}
				return net
			}
			whole := build()
			var states [][]byte
			cfg := tc.cfg
			cfg.AfterEpoch = func(s *TrainState) error {
				b, err := s.MarshalBinary()
				states = append(states, b)
				return err
			}
			hw, err := Train(context.Background(), whole, train, cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(states) != len(hw.Epochs) {
				t.Fatalf("%d states for %d epochs", len(states), len(hw.Epochs))
			}
			for k := 1; k <= len(states); k++ {
				s, err := UnmarshalTrainState(states[k-1])
				if err != nil {
					t.Fatal(err)
				}
				if s.Epoch != k {
					t.Fatalf("state %d says epoch %d", k, s.Epoch)
				}
				net, err := Build(a, 1) // other initial weights, no mask: all from the state
				if err != nil {
					t.Fatal(err)
				}
				rcfg := tc.cfg
				rcfg.Resume = s
				var epochs []int
				rcfg.AfterEpoch = func(s *TrainState) error { epochs = append(epochs, s.Epoch); return nil }
				prev := runtime.GOMAXPROCS(1)
				hr, err := Train(context.Background(), net, train, rcfg, nil)
				runtime.GOMAXPROCS(prev)
				if err != nil {
					t.Fatal(err)
				}
				if want := len(hw.Epochs) - k; len(epochs) != want {
					t.Errorf("resumed at %d: trained epochs %v, want %d", k, epochs, want)
				}
				for i, p := range whole.Params() {
					q := net.Params()[i]
					if !slices.Equal(p.Value.Float32s(), q.Value.Float32s()) {
						t.Errorf("resumed at %d: %s differs from the uninterrupted run", k, p.Name)
					}
					if (p.Mask == nil) != (q.Mask == nil) {
						t.Errorf("resumed at %d: %s mask not restored", k, p.Name)
					}
				}
				if len(hr.Epochs) != len(hw.Epochs) || hr.BestEpoch != hw.BestEpoch || hr.EarlyStopped != hw.EarlyStopped {
					t.Errorf("resumed at %d: history %d epochs best %d stopped %t, uninterrupted %d best %d stopped %t",
						k, len(hr.Epochs), hr.BestEpoch, hr.EarlyStopped, len(hw.Epochs), hw.BestEpoch, hw.EarlyStopped)
				}
				for i := range min(len(hr.Epochs), len(hw.Epochs)) {
					r, w := hr.Epochs[i], hw.Epochs[i]
					if r.TrainLoss != w.TrainLoss || r.LR != w.LR || !sameFloat(r.ValAcc, w.ValAcc) || !sameFloat(r.ValLoss, w.ValLoss) {
						t.Errorf("resumed at %d: epoch %d %+v, uninterrupted %+v", k, i+1, r, w)
					}
				}
			}
		})
	}
}

// TestTrainStopAfterContinues: a cosine run cut after epoch 1 (StopAfter)
// and continued from its state to a cut after epoch 3 ends with the same
// weights as one call cut after epoch 3, and a cut run is not the shorter
// run: its learning rate follows the whole run's schedule.
func TestTrainStopAfterContinues(t *testing.T) {
	a := CNN(CNNConfig{Input: []int{1, 6, 6}, Filters: []int{4}, Hidden: []int{16}, Classes: 3})
	train := synthetic(t, 128, []int{1, 6, 6}, 3, 4)
	cfg := TrainConfig{Epochs: 5, BatchSize: 16, LR: 0.05, Schedule: ScheduleCosine, Seed: 3}
	run := func(stop int, from *TrainState) (*Network, History, *TrainState) {
		t.Helper()
		net, err := Build(a, 2)
		if err != nil {
			t.Fatal(err)
		}
		c := cfg
		c.StopAfter, c.Resume = stop, from
		var last *TrainState
		c.AfterEpoch = func(s *TrainState) error { last = s; return nil }
		h, err := Train(context.Background(), net, train, c, nil)
		if err != nil {
			t.Fatal(err)
		}
		return net, h, last
	}
	_, h1, s1 := run(1, nil)
	if len(h1.Epochs) != 1 || s1 == nil || s1.Epoch != 1 {
		t.Fatalf("cut after 1: %d epochs, state %v", len(h1.Epochs), s1)
	}
	direct, hd, _ := run(3, nil)
	cont, hc, _ := run(3, s1)
	if len(hd.Epochs) != 3 || len(hc.Epochs) != 3 {
		t.Fatalf("cut after 3: %d epochs directly, %d continued", len(hd.Epochs), len(hc.Epochs))
	}
	for i, p := range direct.Params() {
		if !slices.Equal(p.Value.Float32s(), cont.Params()[i].Value.Float32s()) {
			t.Errorf("%s: continued run differs from the direct one", p.Name)
		}
	}
	short := cfg
	short.Epochs = 3
	net, _ := Build(a, 2)
	hs, err := Train(context.Background(), net, train, short, nil)
	if err != nil {
		t.Fatal(err)
	}
	if hs.Epochs[1].LR == hd.Epochs[1].LR {
		t.Errorf("epoch 2's learning rate %g in a 3-epoch run and in a 5-epoch run cut at 3", hs.Epochs[1].LR)
	}
}

func sameFloat(a, b float64) bool { return a == b || math.IsNaN(a) && math.IsNaN(b) }

func TestTrainResumeRefusesAnotherRun(t *testing.T) {
	a := CNN(CNNConfig{Input: []int{1, 6, 6}, Filters: []int{2}, Hidden: []int{8}, Classes: 3})
	train := synthetic(t, 64, []int{1, 6, 6}, 3, 1)
	net, _ := Build(a, 1)
	var st *TrainState
	cfg := TrainConfig{Epochs: 2, BatchSize: 16, Seed: 1, AfterEpoch: func(s *TrainState) error { st = s; return nil }}
	if _, err := Train(context.Background(), net, train, cfg, nil); err != nil {
		t.Fatal(err)
	}
	other := CNN(CNNConfig{Input: []int{1, 6, 6}, Filters: []int{3}, Hidden: []int{8}, Classes: 3})
	for _, tc := range []struct {
		name string
		arch Arch
		cfg  TrainConfig
		want string
	}{
		{"epochs", a, TrainConfig{Epochs: 3, BatchSize: 16, Seed: 1}, "state of a run"},
		{"seed", a, TrainConfig{Epochs: 2, BatchSize: 16, Seed: 2}, "state of a run"},
		{"optimizer", a, TrainConfig{Epochs: 2, BatchSize: 16, Seed: 1, Optimizer: OptimizerAdam}, "state of a run"},
		{"network", other, TrainConfig{Epochs: 2, BatchSize: 16, Seed: 1}, "holds"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			net, _ := Build(tc.arch, 1)
			tc.cfg.Resume = st
			if _, err := Train(context.Background(), net, train, tc.cfg, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("resume accepted or wrong error: %v", err)
			}
		})
	}
	stop := errors.New("stop")
	cfg.AfterEpoch = func(*TrainState) error { return stop }
	if h, err := Train(context.Background(), net, train, cfg, nil); !errors.Is(err, stop) || len(h.Epochs) != 1 {
		t.Fatalf("AfterEpoch error: %v after %d epochs", err, len(h.Epochs))
	}
	if _, err := UnmarshalTrainState([]byte("not a state")); err == nil {
		t.Fatal("garbage decoded")
	}
}
