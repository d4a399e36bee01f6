package model

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"

	"github.com/compressq/compressq/compress/nn"
	"github.com/compressq/compressq/compress/packed"
	"github.com/compressq/compressq/compress/safetensors"
)

// FormatModelV1 is the value of [packed.FormatKey] in a plain model file.
const FormatModelV1 = "compressq-model/1"

// Save writes net as a model file: a safetensors file holding every
// parameter as F32 under its nn name (layers.<i>.weight, ...), with the
// architecture JSON in __metadata__["compressq.arch"] and
// __metadata__["compressq.format"] = "compressq-model/1", so the file alone
// rebuilds the network. The output is deterministic.
func Save(w io.Writer, net *nn.Network) error { return save(w, net, nil) }

// save writes net with further metadata entries md.
func save(w io.Writer, net *nn.Network, md map[string]string) error {
	arch, err := json.Marshal(net.Arch())
	if err != nil {
		return fmt.Errorf("model: encode arch: %w", err)
	}
	ts, err := NetworkTensors(net)
	if err != nil {
		return err
	}
	f := &safetensors.File{Tensors: ts, Metadata: map[string]string{packed.FormatKey: FormatModelV1, packed.ArchKey: string(arch)}}
	for k, v := range md {
		f.Metadata[k] = v
	}
	return safetensors.WriteSafetensors(w, f)
}

// NetworkTensors returns every parameter of net as an F32 tensor named as in
// the network (layers.<i>.weight, ...), in the network's parameter order.
func NetworkTensors(net *nn.Network) ([]safetensors.Tensor, error) {
	var ts []safetensors.Tensor
	for _, p := range net.Params() {
		t, err := safetensors.DenseTensor(p.Name, p.Value)
		if err != nil {
			return nil, fmt.Errorf("model: %w", err)
		}
		ts = append(ts, t)
	}
	return ts, nil
}

// Load rebuilds a network from a model file written by [Save] or from a
// compressed artifact (see [packed.WriteCompressed]) that carries an
// architecture; quantized parameters are dequantized to float32. Every
// parameter of the architecture must be present with its exact shape, and
// every tensor in the file must be a parameter; errors name the tensor and
// wrap safetensors.ErrFormat (or ErrLimit). The architecture's parameter
// count is checked against the file size before the network is allocated.
func Load(data []byte, limits safetensors.Limits) (*nn.Network, error) {
	f, err := safetensors.ReadSafetensors(data, limits)
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	var tensors []safetensors.Tensor
	format := f.Metadata[packed.FormatKey]
	switch {
	case format == "" || format == FormatModelV1:
		tensors = f.Tensors
	case packed.IsCompressedFormat(format):
		c, err := packed.ReadCompressed(data, limits)
		if err != nil {
			return nil, fmt.Errorf("model: %w", err)
		}
		if tensors, err = c.Float32Tensors(); err != nil {
			return nil, fmt.Errorf("model: %w", err)
		}
	default:
		return nil, fmt.Errorf("model: %s = %q is not a model format: %w", packed.FormatKey, format, safetensors.ErrFormat)
	}
	archJSON, ok := f.Metadata[packed.ArchKey]
	if !ok {
		return nil, fmt.Errorf("model: metadata key %s is missing: %w", packed.ArchKey, safetensors.ErrFormat)
	}
	var arch nn.Arch
	dec := json.NewDecoder(bytes.NewReader([]byte(archJSON)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&arch); err != nil {
		return nil, fmt.Errorf("model: %s: %v: %w", packed.ArchKey, err, safetensors.ErrFormat)
	}
	// Bound the allocation: a parameter needs at least one bit (a Huffman
	// coded codebook index), except in sparse encodings, which together
	// hold at most limits.MaxElements (ReadCompressed checked).
	n, err := archParamCount(arch)
	if err != nil {
		return nil, fmt.Errorf("model: %s: %v: %w", packed.ArchKey, err, safetensors.ErrFormat)
	}
	room := 8 * int64(len(data))
	if packed.IsCompressedFormat(format) {
		room += limits.WithDefaults().MaxElements
	}
	if n > room {
		return nil, fmt.Errorf("model: architecture has %d parameters, more than a %d-byte file can hold: %w", n, len(data), safetensors.ErrFormat)
	}
	net, err := nn.Build(arch, 0)
	if err != nil {
		return nil, fmt.Errorf("model: %s: %v: %w", packed.ArchKey, err, safetensors.ErrFormat)
	}
	if err := setParams(net, tensors); err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	return net, nil
}

// setParams copies tensors into the network's parameters: each parameter
// must have a tensor of its exact shape, and each tensor a parameter.
func setParams(net *nn.Network, tensors []safetensors.Tensor) error {
	byName := make(map[string]*safetensors.Tensor, len(tensors))
	for i := range tensors {
		byName[tensors[i].Name] = &tensors[i]
	}
	for _, p := range net.Params() {
		t, ok := byName[p.Name]
		if !ok {
			return fmt.Errorf("parameter %q is missing: %w", p.Name, safetensors.ErrFormat)
		}
		delete(byName, p.Name)
		if want := []int(p.Value.Shape()); !slices.Equal(t.Shape, want) {
			return fmt.Errorf("parameter %q has shape %v, the architecture needs %v: %w", p.Name, t.Shape, want, safetensors.ErrFormat)
		}
		v, err := t.Float32s()
		if err != nil {
			return fmt.Errorf("parameter %q: %v: %w", p.Name, err, safetensors.ErrFormat)
		}
		copy(p.Value.Float32s(), v)
	}
	if len(byName) > 0 {
		extra := make([]string, 0, len(byName))
		for name := range byName {
			extra = append(extra, name)
		}
		sort.Strings(extra)
		return fmt.Errorf("tensors %q are not parameters of the architecture: %w", extra, safetensors.ErrFormat)
	}
	return nil
}

// archParamCount returns the number of parameter elements arch would
// allocate, computed without overflow from the shapes nn infers.
func archParamCount(a nn.Arch) (int64, error) {
	shapes, err := a.Shapes()
	if err != nil {
		return 0, err
	}
	var total float64
	for i, l := range a.Layers {
		in := shapes[i]
		prod := 1.0
		for _, d := range in {
			prod *= float64(d)
		}
		switch l.Type {
		case nn.TypeDense:
			total += prod*float64(l.Units) + float64(l.Units)
		case nn.TypeConv2D:
			total += float64(l.Filters)*float64(in[0]/max(1, l.Groups))*float64(l.Kernel)*float64(l.Kernel) + float64(l.Filters)
		case nn.TypeBatchNorm:
			total += 4 * float64(in[0])
		}
	}
	if total > math.MaxInt64/4 {
		return 0, fmt.Errorf("architecture has %.3g parameters", total)
	}
	return int64(total), nil
}
