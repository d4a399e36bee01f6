package nas

import (
	"fmt"
	"image/color"
	"io"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// PlotPareto draws every completed record as a grey point of objective x
// against objective y (names from ObjectiveNames, in their natural units:
// accuracy as a fraction, latencies in seconds) and the Pareto front over
// (x, y) as red points joined by a line, and writes the figure to w in
// format "png" or "svg" (15 × 10 cm).
func PlotPareto(w io.Writer, records []Record, x, y, format string) error {
	if format != "png" && format != "svg" {
		return fmt.Errorf("plot format %q, want png or svg", format)
	}
	value := func(o Objectives, name string) (float64, error) {
		v, err := ObjectiveVector(o, []string{name})
		if err != nil {
			return 0, err
		}
		if name == ObjectiveAccuracy {
			return -v[0], nil
		}
		return v[0], nil
	}
	var all plotter.XYs
	for _, r := range records {
		if r.Status != StatusDone || r.Objectives == nil {
			continue
		}
		vx, err := value(*r.Objectives, x)
		if err != nil {
			return err
		}
		vy, err := value(*r.Objectives, y)
		if err != nil {
			return err
		}
		all = append(all, plotter.XY{X: vx, Y: vy})
	}
	front, err := ParetoFront(records, []string{x, y})
	if err != nil {
		return err
	}
	var fr plotter.XYs
	for _, r := range front {
		vx, _ := value(*r.Objectives, x)
		vy, _ := value(*r.Objectives, y)
		fr = append(fr, plotter.XY{X: vx, Y: vy})
	}
	slices.SortFunc(fr, func(a, b plotter.XY) int {
		switch {
		case a.X < b.X:
			return -1
		case a.X > b.X:
			return 1
		}
		return 0
	})
	p := plot.New()
	p.Title.Text = fmt.Sprintf("Pareto front: %s vs %s (%d trials, %d on the front)", y, x, len(all), len(fr))
	p.X.Label.Text, p.Y.Label.Text = x, y
	p.Add(plotter.NewGrid())
	if len(all) > 0 {
		s, err := plotter.NewScatter(all)
		if err != nil {
			return err
		}
		s.GlyphStyle.Color = color.Gray{Y: 150}
		s.GlyphStyle.Radius = vg.Points(2)
		p.Add(s)
		p.Legend.Add("trials", s)
	}
	if len(fr) > 0 {
		l, pts, err := plotter.NewLinePoints(fr)
		if err != nil {
			return err
		}
		red := color.RGBA{R: 200, A: 255}
		l.Color, pts.Color = red, red
		pts.Shape = draw.CircleGlyph{}
		pts.Radius = vg.Points(3)
		p.Add(l, pts)
		p.Legend.Add("Pareto front", l, pts)
	}
	wt, err := p.WriterTo(15*vg.Centimeter, 10*vg.Centimeter, format)
	if err != nil {
		return err
	}
	_, err = wt.WriteTo(w)
	return err
}
