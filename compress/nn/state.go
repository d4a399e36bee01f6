package nn

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/compressq/compressq/compress/safetensors"
	"gorgonia.org/tensor"
)

// TrainState is a training run between two epochs: everything Train needs
// to continue it so that the remaining epochs give bit-identical weights to
// an uninterrupted run on the same kernel path — every parameter (running
// statistics included) and pruning mask, the optimizer's state (SGD
// velocities; Adam's moments and step count), the dropout generator's
// state, the history and the early-stopping bookkeeping. The learning rate
// and each epoch's batch order are functions of the epoch and the config,
// so they need no state. TrainConfig.AfterEpoch receives one after every
// epoch; TrainConfig.Resume continues from one.
type TrainState struct {
	// Epoch is the number of epochs done, from 1.
	Epoch int
	// History is the run's history up to Epoch.
	History History

	run       runKey
	tensors   map[string][]float32
	adamSteps int
	dropout   []byte
	sinceBest int
}

// runKey identifies the run a state belongs to; Resume refuses a config
// that differs, since the continued run would not be the same run.
type runKey struct {
	Epochs    int    `json:"epochs"`
	BatchSize int    `json:"batch_size"`
	Batches   int    `json:"batches"`
	Seed      int64  `json:"seed"`
	Optimizer string `json:"optimizer"`
}

// Tensor name prefixes in a TrainState.
const (
	statePrefixParam    = "param/"
	statePrefixMask     = "mask/"
	statePrefixBest     = "best/"
	statePrefixVelocity = "sgd.velocity/"
	statePrefixAdamM    = "adam.m/"
	statePrefixAdamV    = "adam.v/"
)

// optimizerKind names opt's type for a TrainState; "" for an optimizer
// whose state cannot be saved.
func optimizerKind(opt Optimizer) string {
	switch opt.(type) {
	case *SGD:
		return OptimizerSGD
	case *Adam:
		return OptimizerAdam
	}
	return ""
}

// captureState returns the state of a run of net with optimizer opt after
// epoch epochs done; best holds the RestoreBest copy (nil without).
func captureState(net *Network, opt Optimizer, run runKey, epoch int, h History, best [][]float32, sinceBest int) (*TrainState, error) {
	if run.Optimizer == "" {
		return nil, fmt.Errorf("training state: optimizer %T cannot be saved (only *SGD and *Adam)", opt)
	}
	dropout, err := net.src.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("training state: dropout generator: %w", err)
	}
	s := &TrainState{Epoch: epoch, run: run, tensors: map[string][]float32{}, dropout: dropout, sinceBest: sinceBest}
	s.History = History{Epochs: slices.Clone(h.Epochs), BestEpoch: h.BestEpoch, EarlyStopped: h.EarlyStopped}
	for i, p := range net.params {
		s.tensors[statePrefixParam+p.Name] = slices.Clone(p.Value.Float32s())
		if p.Mask != nil {
			s.tensors[statePrefixMask+p.Name] = slices.Clone(p.Mask.Float32s())
		}
		if best != nil {
			s.tensors[statePrefixBest+p.Name] = slices.Clone(best[i])
		}
		switch o := opt.(type) {
		case *SGD:
			if v, ok := o.velocity[p.Value]; ok {
				s.tensors[statePrefixVelocity+p.Name] = slices.Clone(v)
			}
		case *Adam:
			if m, ok := o.m[p.Value]; ok {
				s.tensors[statePrefixAdamM+p.Name] = slices.Clone(m)
				s.tensors[statePrefixAdamV+p.Name] = slices.Clone(o.v[p.Value])
			}
		}
	}
	if a, ok := opt.(*Adam); ok {
		s.adamSteps = a.t
	}
	return s, nil
}

// restore puts s into net and opt for a run identified by run and returns
// the RestoreBest copy (nil when s has none).
func (s *TrainState) restore(net *Network, opt Optimizer, run runKey) ([][]float32, error) {
	if s.run != run {
		return nil, fmt.Errorf("resume: state of a run with %+v, config gives %+v", s.run, run)
	}
	if s.Epoch < 0 || s.Epoch > run.Epochs {
		return nil, fmt.Errorf("resume: state at epoch %d of %d", s.Epoch, run.Epochs)
	}
	known := map[string]bool{}
	var best [][]float32
	for i, p := range net.params {
		get := func(prefix string, want int) ([]float32, error) {
			v, ok := s.tensors[prefix+p.Name]
			if !ok {
				return nil, nil
			}
			known[prefix+p.Name] = true
			if len(v) != want {
				return nil, fmt.Errorf("resume: %s%s holds %d values, the network's %d", prefix, p.Name, len(v), want)
			}
			return v, nil
		}
		n := p.Value.Len()
		v, err := get(statePrefixParam, n)
		if err != nil {
			return nil, err
		}
		if v == nil {
			return nil, fmt.Errorf("resume: state has no parameter %s", p.Name)
		}
		copy(p.Value.Float32s(), v)
		m, err := get(statePrefixMask, n)
		if err != nil {
			return nil, err
		}
		net.params[i].Mask = nil
		if m != nil {
			net.params[i].Mask = tensor.New(tensor.WithShape(p.Value.Shape().Clone()...), tensor.WithBacking(slices.Clone(m)))
		}
		b, err := get(statePrefixBest, n)
		if err != nil {
			return nil, err
		}
		if b != nil {
			if best == nil {
				best = make([][]float32, len(net.params))
			}
			best[i] = slices.Clone(b)
		}
		switch o := opt.(type) {
		case *SGD:
			vel, err := get(statePrefixVelocity, n)
			if err != nil {
				return nil, err
			}
			if vel != nil {
				if o.velocity == nil {
					o.velocity = make(map[*tensor.Dense][]float32)
				}
				o.velocity[p.Value] = slices.Clone(vel)
			}
		case *Adam:
			m, err := get(statePrefixAdamM, n)
			if err != nil {
				return nil, err
			}
			v, err := get(statePrefixAdamV, n)
			if err != nil {
				return nil, err
			}
			if (m == nil) != (v == nil) {
				return nil, fmt.Errorf("resume: state has only one of Adam's moments of %s", p.Name)
			}
			if m != nil {
				if o.m == nil {
					o.m, o.v = make(map[*tensor.Dense][]float32), make(map[*tensor.Dense][]float32)
				}
				o.m[p.Value], o.v[p.Value] = slices.Clone(m), slices.Clone(v)
			}
		}
	}
	for name := range s.tensors {
		if !known[name] {
			return nil, fmt.Errorf("resume: state tensor %s matches nothing in the network", name)
		}
	}
	for _, b := range best {
		if b == nil {
			return nil, fmt.Errorf("resume: state's best-epoch copy lacks parameters")
		}
	}
	if a, ok := opt.(*Adam); ok {
		a.t = s.adamSteps
	}
	if err := net.src.UnmarshalBinary(s.dropout); err != nil {
		return nil, fmt.Errorf("resume: dropout generator: %w", err)
	}
	return best, nil
}

// stateMetaKey is the safetensors metadata key of a TrainState's scalars.
const stateMetaKey = "compressq.train_state"

// stateMeta is the JSON of a TrainState's scalars.
type stateMeta struct {
	Version   int          `json:"version"`
	Epoch     int          `json:"epoch"`
	Run       runKey       `json:"run"`
	AdamSteps int          `json:"adam_steps,omitempty"`
	Dropout   []byte       `json:"dropout"`
	SinceBest int          `json:"since_best"`
	BestEpoch int          `json:"best_epoch"`
	Stopped   bool         `json:"early_stopped,omitempty"`
	Epochs    []stateEpoch `json:"history"`
}

// stateEpoch is EpochStats in JSON, which has no NaN: a missing
// validation is null.
type stateEpoch struct {
	Epoch     int      `json:"epoch"`
	LR        float64  `json:"lr"`
	TrainLoss float64  `json:"train_loss"`
	TrainAcc  float64  `json:"train_acc"`
	ValLoss   *float64 `json:"val_loss"`
	ValAcc    *float64 `json:"val_acc"`
	Nanos     int64    `json:"duration_ns"`
}

func finite(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

func orNaN(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}

// MarshalBinary encodes s as a safetensors file: the tensors as F32 under
// "param/<name>", "mask/<name>", "best/<name>", "sgd.velocity/<name>",
// "adam.m/<name>" and "adam.v/<name>", the scalars as JSON in the
// metadata key "compressq.train_state".
func (s *TrainState) MarshalBinary() ([]byte, error) {
	meta := stateMeta{Version: 1, Epoch: s.Epoch, Run: s.run, AdamSteps: s.adamSteps, Dropout: s.dropout,
		SinceBest: s.sinceBest, BestEpoch: s.History.BestEpoch, Stopped: s.History.EarlyStopped}
	for _, e := range s.History.Epochs {
		if math.IsNaN(e.TrainLoss) || math.IsInf(e.TrainLoss, 0) {
			return nil, fmt.Errorf("training state: epoch %d train loss %v", e.Epoch, e.TrainLoss)
		}
		meta.Epochs = append(meta.Epochs, stateEpoch{Epoch: e.Epoch, LR: e.LR, TrainLoss: e.TrainLoss, TrainAcc: e.TrainAcc,
			ValLoss: finite(e.ValLoss), ValAcc: finite(e.ValAcc), Nanos: int64(e.Duration)})
	}
	js, err := json.Marshal(meta)
	if err != nil {
		return nil, fmt.Errorf("training state: %w", err)
	}
	f := &safetensors.File{Metadata: map[string]string{stateMetaKey: string(js)}}
	for name, v := range s.tensors {
		f.Tensors = append(f.Tensors, safetensors.F32Tensor(name, []int{len(v)}, v))
	}
	var buf bytes.Buffer
	if err := safetensors.WriteSafetensors(&buf, f); err != nil {
		return nil, fmt.Errorf("training state: %w", err)
	}
	return buf.Bytes(), nil
}

// UnmarshalTrainState decodes what TrainState.MarshalBinary wrote, within
// the reader's default limits. Whether the state fits a network and config
// is checked when Train resumes from it.
func UnmarshalTrainState(b []byte) (*TrainState, error) {
	f, err := safetensors.ReadSafetensors(b, safetensors.Limits{})
	if err != nil {
		return nil, fmt.Errorf("training state: %w", err)
	}
	js, ok := f.Metadata[stateMetaKey]
	if !ok {
		return nil, fmt.Errorf("training state: no %q metadata: %w", stateMetaKey, safetensors.ErrFormat)
	}
	var meta stateMeta
	if err := json.Unmarshal([]byte(js), &meta); err != nil {
		return nil, fmt.Errorf("training state: metadata: %v: %w", err, safetensors.ErrFormat)
	}
	if meta.Version != 1 {
		return nil, fmt.Errorf("training state: version %d, want 1: %w", meta.Version, safetensors.ErrFormat)
	}
	s := &TrainState{Epoch: meta.Epoch, run: meta.Run, adamSteps: meta.AdamSteps, dropout: meta.Dropout,
		sinceBest: meta.SinceBest, tensors: make(map[string][]float32, len(f.Tensors))}
	s.History.BestEpoch, s.History.EarlyStopped = meta.BestEpoch, meta.Stopped
	for _, e := range meta.Epochs {
		s.History.Epochs = append(s.History.Epochs, EpochStats{Epoch: e.Epoch, LR: e.LR, TrainLoss: e.TrainLoss, TrainAcc: e.TrainAcc,
			ValLoss: orNaN(e.ValLoss), ValAcc: orNaN(e.ValAcc), Duration: time.Duration(e.Nanos)})
	}
	for i := range f.Tensors {
		t := &f.Tensors[i]
		if !hasStatePrefix(t.Name) {
			return nil, fmt.Errorf("training state: unknown tensor %q: %w", t.Name, safetensors.ErrFormat)
		}
		v, err := t.Float32s()
		if err != nil {
			return nil, fmt.Errorf("training state: %s: %w", t.Name, err)
		}
		s.tensors[t.Name] = v
	}
	return s, nil
}

func hasStatePrefix(name string) bool {
	for _, p := range []string{statePrefixParam, statePrefixMask, statePrefixBest, statePrefixVelocity, statePrefixAdamM, statePrefixAdamV} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}
