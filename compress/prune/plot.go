package prune

import (
	"cmp"
	"fmt"
	"image/color"
	"io"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// PlotCurves draws sensitivity curves — accuracy (fraction) against the
// sparsity of one parameter, one line per name in names order — with the
// unpruned accuracy base as a dashed grey line and, when chosen is not nil,
// each parameter's chosen sparsity as a black ring on its curve, and writes
// the figure to w in format "png" or "svg" (15 × 10 cm).
func PlotCurves(w io.Writer, names []string, curves map[string][]Point, base float64, chosen map[string]float64, format string) error {
	if format != "png" && format != "svg" {
		return fmt.Errorf("plot format %q, want png or svg", format)
	}
	p := plot.New()
	p.Title.Text = fmt.Sprintf("Per-layer sensitivity (unpruned accuracy %.4f)", base)
	p.X.Label.Text, p.Y.Label.Text = "sparsity of the layer", "accuracy"
	p.Legend.Left, p.Legend.Top = true, false
	p.Add(plotter.NewGrid())
	hi := 0.0
	for _, n := range names {
		for _, pt := range curves[n] {
			hi = max(hi, pt.Sparsity)
		}
	}
	baseline, err := plotter.NewLine(plotter.XYs{{X: 0, Y: base}, {X: max(hi, 0.01), Y: base}})
	if err != nil {
		return err
	}
	baseline.Color = color.Gray{Y: 120}
	baseline.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	p.Add(baseline)
	p.Legend.Add("unpruned", baseline)
	var marks plotter.XYs
	for i, n := range names {
		pts := slices.Clone(curves[n])
		slices.SortFunc(pts, func(a, b Point) int { return cmp.Compare(a.Sparsity, b.Sparsity) })
		xys := make(plotter.XYs, len(pts))
		for j, pt := range pts {
			xys[j] = plotter.XY{X: pt.Sparsity, Y: pt.Accuracy}
		}
		if len(xys) == 0 {
			continue
		}
		l, s, err := plotter.NewLinePoints(xys)
		if err != nil {
			return err
		}
		c := plotutil.Color(i)
		l.Color, s.Color = c, c
		s.Shape = plotutil.Shape(i)
		s.Radius = vg.Points(2.5)
		p.Add(l, s)
		label := n
		if sp, ok := chosen[n]; ok {
			label = fmt.Sprintf("%s (chosen %.3f)", n, sp)
			marks = append(marks, plotter.XY{X: sp, Y: Interpolate(curves[n], base, sp)})
		}
		p.Legend.Add(label, l, s)
	}
	if len(marks) > 0 {
		s, err := plotter.NewScatter(marks)
		if err != nil {
			return err
		}
		s.Shape = draw.RingGlyph{}
		s.Radius = vg.Points(5)
		s.Color = color.Black
		p.Add(s)
		p.Legend.Add("chosen", s)
	}
	wt, err := p.WriterTo(15*vg.Centimeter, 10*vg.Centimeter, format)
	if err != nil {
		return err
	}
	_, err = wt.WriteTo(w)
	return err
}
