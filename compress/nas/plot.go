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
// format "png" or "svg" (15 × 10 cm). The y axis leaves a band above the
// highest point for the legend, so neither the legend nor the title covers
// a point.
func PlotPareto(w io.Writer, records []Record, x, y, format string) error {
	if format != "png" && format != "svg" {
		return fmt.Errorf("plot format %q, want png or svg", format)
	}
	p, err := paretoPlot(records, x, y)
	if err != nil {
		return err
	}
	c, err := draw.NewFormattedCanvas(plotWidth, plotHeight, format)
	if err != nil {
		return err
	}
	p.Draw(framed(draw.New(c)))
	_, err = c.WriteTo(w)
	return err
}

// titleMargin is the space PlotPareto leaves above the title.
const titleMargin = 4 * vg.Millimeter

// framed is the part of a figure's canvas PlotPareto draws in: gonum sets
// the title's top at the canvas's edge, so it leaves titleMargin above.
func framed(c draw.Canvas) draw.Canvas { return draw.Crop(c, 0, 0, 0, -titleMargin) }

// The size PlotPareto draws at.
const (
	plotWidth  = 15 * vg.Centimeter
	plotHeight = 10 * vg.Centimeter
)

// paretoPlot builds PlotPareto's figure.
func paretoPlot(records []Record, x, y string) (*plot.Plot, error) {
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
			return nil, err
		}
		vy, err := value(*r.Objectives, y)
		if err != nil {
			return nil, err
		}
		all = append(all, plotter.XY{X: vx, Y: vy})
	}
	front, err := ParetoFront(records, []string{x, y})
	if err != nil {
		return nil, err
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
		// 5 % margins, and 35 % of the span above the top point: the
		// legend's band (top right).
		x0, x1, y0, y1 := plotter.XYRange(all)
		dx, dy := max(x1-x0, 1e-9*max(1, abs(x1))), max(y1-y0, 1e-9*max(1, abs(y1)))
		p.X.Min, p.X.Max = x0-0.05*dx, x1+0.05*dx
		p.Y.Min, p.Y.Max = y0-0.05*dy, y1+0.35*dy
		s, err := plotter.NewScatter(all)
		if err != nil {
			return nil, err
		}
		s.GlyphStyle.Color = color.Gray{Y: 150}
		s.GlyphStyle.Radius = vg.Points(2)
		p.Add(s)
		p.Legend.Add("trials", s)
	}
	if len(fr) > 0 {
		l, pts, err := plotter.NewLinePoints(fr)
		if err != nil {
			return nil, err
		}
		red := color.RGBA{R: 200, A: 255}
		l.Color, pts.Color = red, red
		pts.Shape = draw.CircleGlyph{}
		pts.Radius = vg.Points(3)
		p.Add(l, pts)
		p.Legend.Add("Pareto front", l, pts)
	}
	p.Legend.Top = true
	return p, nil
}

func abs(v float64) float64 { return max(v, -v) }
