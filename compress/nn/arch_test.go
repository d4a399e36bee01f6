package nn

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestArchValidate(t *testing.T) {
	img := []int{1, 28, 28}
	tests := []struct {
		name string
		arch Arch
		want []string // substrings of the error; none means valid
	}{
		{"lenet-300-100", mustArch(t, "lenet-300-100"), nil},
		{"lenet-5", mustArch(t, "lenet-5"), nil},
		{"dense on image", Arch{Input: img, Layers: []LayerSpec{
			{Type: TypeConv2D, Filters: 4, Kernel: 3}, {Type: TypeReLU}, {Type: TypeMaxPool2D, Kernel: 2}, {Type: TypeDense, Units: 10}}},
			[]string{"layers[3] (dense): input [4 13 13] has 3 dims, flatten first"}},
		{"field errors all at once", Arch{Input: img, Layers: []LayerSpec{
			{Type: TypeConv2D, Kernel: 3}, {Type: TypeDense}, {Type: TypeDropout, Rate: 1}, {Type: "swish"}, {Type: TypeReLU, Units: 3}}},
			[]string{"layers[0].filters: must be > 0", "layers[1].units: must be > 0", "layers[2].rate: must be in [0, 1)",
				`layers[3].type: unknown layer type "swish"`, "layers[4].units: not used by relu"}},
		{"bad input", Arch{Input: []int{1, 2, 28, 28, 3}, Layers: []LayerSpec{{Type: TypeFlatten}}}, []string{"input: shape [1 2 28 28 3] has 5 dims"}},
		{"negative input", Arch{Input: []int{0}, Layers: []LayerSpec{{Type: TypeDense, Units: 1}}}, []string{"input[0]: must be > 0"}},
		{"no layers", Arch{Input: []int{4}}, []string{"layers: empty"}},
		{"kernel too big", Arch{Input: []int{1, 4, 4}, Layers: []LayerSpec{{Type: TypeConv2D, Filters: 1, Kernel: 5}}},
			[]string{"layers[0] (conv2d): kernel 5 larger than input 4x4"}},
		{"pool padding", Arch{Input: []int{1, 4, 4}, Layers: []LayerSpec{{Type: TypeMaxPool2D, Kernel: 2, Pad: 2}}},
			[]string{"layers[0].pads: top padding 2 must be smaller than the kernel 2"}},
		{"conv on vector", Arch{Input: []int{10}, Layers: []LayerSpec{{Type: TypeConv2D, Filters: 1, Kernel: 1}}},
			[]string{"layers[0] (conv2d): input [10] has 1 dims, want [C H W]"}},
		{"batchnorm momentum", Arch{Input: []int{10}, Layers: []LayerSpec{{Type: TypeBatchNorm, Momentum: 2}}},
			[]string{"layers[0].momentum: must be in [0, 1]"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.arch.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate accepted %+v", tc.arch)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func mustArch(t *testing.T, name string) Arch {
	t.Helper()
	a, err := ArchByName(name)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestArchByName(t *testing.T) {
	tests := []struct {
		name   string
		params int
		shapes [][]int
	}{
		{"lenet-300-100", 266610, [][]int{{1, 28, 28}, {784}, {300}, {300}, {100}, {100}, {10}}},
		{"lenet-5", 431080, [][]int{{1, 28, 28}, {20, 24, 24}, {20, 12, 12}, {50, 8, 8}, {50, 4, 4}, {800}, {500}, {500}, {10}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := mustArch(t, tc.name)
			shapes, err := a.Shapes()
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(shapes, tc.shapes) {
				t.Errorf("shapes %v, want %v", shapes, tc.shapes)
			}
			net, err := Build(a, 1)
			if err != nil {
				t.Fatal(err)
			}
			if got := net.NumParams(); got != tc.params {
				t.Errorf("NumParams = %d, want %d", got, tc.params)
			}
		})
	}
	if _, err := ArchByName("vgg"); err == nil || !strings.Contains(err.Error(), "lenet-5") {
		t.Fatalf("unknown name: %v", err)
	}
}

func TestArchJSONRoundTrip(t *testing.T) {
	archs := []Arch{
		mustArch(t, "lenet-5"),
		CNN(CNNConfig{Input: []int{1, 28, 28}, Filters: []int{8, 16}, Kernel: 5, BatchNorm: true, Hidden: []int{32}, Dropout: 0.25, Classes: 10}),
		{Name: "odd", Input: []int{3, 9, 9}, Layers: []LayerSpec{
			{Type: TypeConv2D, Filters: 2, Kernel: 3, Stride: 2, Pad: 1}, {Type: TypeBatchNorm, Eps: 1e-3, Momentum: 0.01},
			{Type: TypeAvgPool2D, Kernel: 2, Stride: 1}, {Type: TypeFlatten}, {Type: TypeDense, Units: 3}}},
	}
	for _, a := range archs {
		if err := a.Validate(); err != nil {
			t.Fatalf("%s: %v", a.Name, err)
		}
		b, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		var back Arch
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a, back) {
			t.Errorf("round trip changed %s:\n%+v\n%+v", b, a, back)
		}
		net, err := Build(back, 0)
		if err != nil {
			t.Fatal(err)
		}
		// The built layers describe themselves with the same specs
		// (defaults such as pool stride made explicit).
		for i, l := range net.Layers() {
			want := a.Layers[i]
			want.Stride = want.stride()
			got := l.Spec()
			got.Stride = got.stride()
			if !sameSpec(got, want) {
				t.Errorf("%s layer %d: Spec %+v, want %+v", a.Name, i, got, want)
			}
		}
	}
	var a Arch
	if err := json.Unmarshal([]byte(`{"input":[1,28,28],"layers":[{"type":"flatten"},{"type":"dense","units":10}]}`), &a); err != nil {
		t.Fatal(err)
	}
	if a.Layers[1].Units != 10 || !slices.Equal(a.Input, []int{1, 28, 28}) {
		t.Fatalf("decoded %+v", a)
	}
}
