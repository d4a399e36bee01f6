package prune

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

func TestInterpolate(t *testing.T) {
	curve := []Point{{0.9, 0.6}, {0.5, 0.9}, {0.7, 0.8}}
	for _, c := range []struct{ s, want float64 }{
		{0, 0.95}, {0.25, 0.925}, {0.5, 0.9}, {0.6, 0.85}, {0.8, 0.7}, {0.9, 0.6}, {0.99, 0.6},
	} {
		if got := Interpolate(curve, 0.95, c.s); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("Interpolate at %v = %v, want %v", c.s, got, c.want)
		}
	}
}

func TestPlotCurves(t *testing.T) {
	curves := map[string][]Point{
		"layers.1.weight": {{0.5, 0.97}, {0.9, 0.9}},
		"layers.3.weight": {{0.5, 0.96}, {0.9, 0.7}},
	}
	names := []string{"layers.1.weight", "layers.3.weight"}
	for _, format := range []string{"png", "svg"} {
		var buf bytes.Buffer
		if err := PlotCurves(&buf, names, curves, 0.98, map[string]float64{"layers.1.weight": 0.8, "layers.3.weight": 0.6}, format); err != nil {
			t.Fatal(err)
		}
		if format == "png" && !bytes.HasPrefix(buf.Bytes(), []byte("\x89PNG")) {
			t.Error("not a PNG")
		}
		if format == "svg" && !strings.Contains(buf.String(), "<svg") {
			t.Error("not an SVG")
		}
	}
	if err := PlotCurves(&bytes.Buffer{}, names, curves, 0.98, nil, "gif"); err == nil {
		t.Error("accepted format gif")
	}
}
