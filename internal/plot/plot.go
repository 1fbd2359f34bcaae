// Package plot draws line charts, such as a loss curve, to PNG files with
// nothing but the standard library.
//
// A chart is Width×Height pixels: a title, a plot area with grid lines at
// "nice" ticks (1, 2 or 5 times a power of ten) labelled in a built-in 5×7
// bitmap font drawn at double size, one anti-aliased line per series, and a
// legend when any series has a name. Both axes are linear. Points whose x
// or y is NaN or infinite are skipped, and the line breaks there.
//
// Functions return errors, never panic. Files are written atomically: to a
// temporary file in the same folder, then renamed over the target.
package plot

import (
	"bufio"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strconv"
)

// Size of the image LossCurve writes, in pixels.
const (
	Width  = 800
	Height = 500
)

// Series is one named line: the points (X[i], Y[i]).
type Series struct {
	Name string
	X, Y []float64
}

// Colors of the series, in order (matplotlib's "tab10"); they repeat after
// the tenth.
var palette = []color.RGBA{
	{31, 119, 180, 255}, {255, 127, 14, 255}, {44, 160, 44, 255}, {214, 39, 40, 255},
	{148, 103, 189, 255}, {140, 86, 75, 255}, {227, 119, 194, 255}, {127, 127, 127, 255},
	{188, 189, 34, 255}, {23, 190, 207, 255},
}

var (
	background = color.RGBA{255, 255, 255, 255}
	ink        = color.RGBA{40, 40, 40, 255}
	gridColor  = color.RGBA{225, 225, 225, 255}
)

const (
	textScale = 2 // glyphs are drawn at 10×14 pixels
	advance   = (glyphW + 1) * textScale
	lineH     = glyphH * textScale
)

// LossCurve draws the series as lines on one chart titled title and writes
// it as a PNG to path.
func LossCurve(path, title string, series ...Series) error {
	img, err := render(title, series)
	if err != nil {
		return fmt.Errorf("plot: %s: %w", path, err)
	}
	return writePNG(path, img)
}

// render draws the chart.
func render(title string, series []Series) (*image.RGBA, error) {
	if len(series) == 0 {
		return nil, errors.New("no series to draw")
	}
	xlo, xhi, ylo, yhi := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	legend := false
	for i, s := range series {
		if len(s.X) != len(s.Y) {
			return nil, fmt.Errorf("series %d (%q) has %d x values and %d y values", i, s.Name, len(s.X), len(s.Y))
		}
		for j := range s.X {
			if finite(s.X[j]) && finite(s.Y[j]) {
				xlo, xhi = min(xlo, s.X[j]), max(xhi, s.X[j])
				ylo, yhi = min(ylo, s.Y[j]), max(yhi, s.Y[j])
			}
		}
		legend = legend || s.Name != ""
	}
	if xlo > xhi {
		return nil, errors.New("no point with finite x and y in any series")
	}
	xt := ticks(xlo, xhi, 8)
	yt := ticks(ylo, yhi, 6)

	img := image.NewRGBA(image.Rect(0, 0, Width, Height))
	draw.Draw(img, img.Bounds(), image.NewUniform(background), image.Point{}, draw.Src)

	// The plot area: room on the left for the widest y label, below for
	// the x labels, above for the title.
	ylabels := make([]string, len(yt.at))
	wmax := 0
	for i, v := range yt.at {
		ylabels[i] = yt.label(v)
		wmax = max(wmax, textWidth(ylabels[i]))
	}
	area := image.Rect(wmax+30, 20+lineH+20, Width-30, Height-(lineH+30))
	px := func(x float64) float64 {
		return float64(area.Min.X) + (x-xt.lo)/(xt.hi-xt.lo)*float64(area.Dx())
	}
	py := func(y float64) float64 {
		return float64(area.Max.Y) - (y-yt.lo)/(yt.hi-yt.lo)*float64(area.Dy())
	}

	// Grid, ticks and their labels.
	for i, v := range yt.at {
		y := int(math.Round(py(v)))
		fill(img, image.Rect(area.Min.X, y, area.Max.X, y+1), gridColor)
		fill(img, image.Rect(area.Min.X-6, y, area.Min.X, y+1), ink)
		text(img, area.Min.X-12-textWidth(ylabels[i]), y-lineH/2, ylabels[i], ink)
	}
	for _, v := range xt.at {
		x := int(math.Round(px(v)))
		fill(img, image.Rect(x, area.Min.Y, x+1, area.Max.Y), gridColor)
		fill(img, image.Rect(x, area.Max.Y, x+1, area.Max.Y+6), ink)
		l := xt.label(v)
		text(img, x-textWidth(l)/2, area.Max.Y+10, l, ink)
	}
	// Axes: a frame around the plot area.
	fill(img, image.Rect(area.Min.X, area.Min.Y, area.Max.X+1, area.Min.Y+1), ink)
	fill(img, image.Rect(area.Min.X, area.Max.Y, area.Max.X+1, area.Max.Y+1), ink)
	fill(img, image.Rect(area.Min.X, area.Min.Y, area.Min.X+1, area.Max.Y+1), ink)
	fill(img, image.Rect(area.Max.X, area.Min.Y, area.Max.X+1, area.Max.Y+1), ink)

	text(img, (Width-textWidth(title))/2, 20, title, ink)

	for i, s := range series {
		c := palette[i%len(palette)]
		prev := false
		var x0, y0 float64
		for j := range s.X {
			if !finite(s.X[j]) || !finite(s.Y[j]) {
				prev = false
				continue
			}
			x1, y1 := px(s.X[j]), py(s.Y[j])
			if prev {
				thickLine(img, x0, y0, x1, y1, c)
			} else if j+1 == len(s.X) || !finite(s.X[j+1]) || !finite(s.Y[j+1]) {
				// An isolated point: a small square, so it shows.
				fill(img, image.Rect(int(x1)-1, int(y1)-1, int(x1)+2, int(y1)+2), c)
			}
			x0, y0, prev = x1, y1, true
		}
	}

	if legend {
		drawLegend(img, area, series)
	}
	return img, nil
}

func drawLegend(img *image.RGBA, area image.Rectangle, series []Series) {
	const swatch, pad, gap = 24, 10, 6
	w := 0
	for _, s := range series {
		w = max(w, textWidth(s.Name))
	}
	box := image.Rect(0, 0, pad+swatch+gap+w+pad, pad+len(series)*(lineH+gap)-gap+pad)
	box = box.Add(image.Pt(area.Max.X-box.Dx()-10, area.Min.Y+10))
	fill(img, box, background)
	frame(img, box, color.RGBA{180, 180, 180, 255})
	for i, s := range series {
		y := box.Min.Y + pad + i*(lineH+gap)
		c := palette[i%len(palette)]
		fill(img, image.Rect(box.Min.X+pad, y+lineH/2-1, box.Min.X+pad+swatch, y+lineH/2+2), c)
		text(img, box.Min.X+pad+swatch+gap, y, s.Name, ink)
	}
}

// tickSet is an axis range [lo, hi] widened to whole ticks, and the ticks.
type tickSet struct {
	lo, hi   float64
	at       []float64
	decimals int
}

// ticks picks a step of 1, 2 or 5 times a power of ten that splits [lo, hi]
// into at most n intervals, and widens the range to whole steps.
func ticks(lo, hi float64, n int) tickSet {
	if hi == lo { // one value: show it in the middle
		d := math.Max(math.Abs(lo)*0.1, 1e-9)
		if lo == 0 {
			d = 1
		}
		lo, hi = lo-d, hi+d
	}
	raw := (hi - lo) / float64(n)
	exp := math.Floor(math.Log10(raw))
	step := math.Pow(10, exp)
	for _, m := range []float64{1, 2, 5, 10} {
		if m*math.Pow(10, exp) >= raw*(1-1e-9) {
			step = m * math.Pow(10, exp)
			break
		}
	}
	t := tickSet{lo: math.Floor(lo/step+1e-9) * step, hi: math.Ceil(hi/step-1e-9) * step}
	t.decimals = max(0, -int(math.Floor(math.Log10(step)+1e-9)))
	for k := 0; ; k++ {
		v := t.lo + float64(k)*step
		if v > t.hi+step*1e-6 {
			break
		}
		if math.Abs(v) < step*1e-6 {
			v = 0 // not -1e-17, which would print as "-0.0"
		}
		t.at = append(t.at, v)
	}
	return t
}

// label formats a tick value with the decimals its step needs.
func (t tickSet) label(v float64) string {
	if math.Abs(v) >= 1e7 || t.decimals > 6 {
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
	return strconv.FormatFloat(v, 'f', t.decimals, 64)
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func fill(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	draw.Draw(img, r, image.NewUniform(c), image.Point{}, draw.Src)
}

func frame(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	fill(img, image.Rect(r.Min.X, r.Min.Y, r.Max.X, r.Min.Y+1), c)
	fill(img, image.Rect(r.Min.X, r.Max.Y-1, r.Max.X, r.Max.Y), c)
	fill(img, image.Rect(r.Min.X, r.Min.Y, r.Min.X+1, r.Max.Y), c)
	fill(img, image.Rect(r.Max.X-1, r.Min.Y, r.Max.X, r.Max.Y), c)
}

func textWidth(s string) int {
	n := len([]rune(s))
	if n == 0 {
		return 0
	}
	return n*advance - textScale
}

// text draws s with its top-left corner at (x, y).
func text(img *image.RGBA, x, y int, s string, c color.RGBA) {
	for _, r := range s {
		g, ok := glyphBits[r]
		if !ok {
			g = glyphBits['?']
		}
		for gy := range glyphH {
			for gx := range glyphW {
				if g[gy]&(1<<(glyphW-1-gx)) != 0 {
					fill(img, image.Rect(x+gx*textScale, y+gy*textScale, x+(gx+1)*textScale, y+(gy+1)*textScale), c)
				}
			}
		}
		x += advance
	}
}

// blend mixes c into the pixel at (x, y) with coverage a in [0, 1].
func blend(img *image.RGBA, x, y int, c color.RGBA, a float64) {
	if !(image.Point{x, y}.In(img.Rect)) || a <= 0 {
		return
	}
	a = min(a, 1)
	i := img.PixOffset(x, y)
	p := img.Pix[i : i+3 : i+3]
	p[0] = uint8(float64(p[0])*(1-a) + float64(c.R)*a + 0.5)
	p[1] = uint8(float64(p[1])*(1-a) + float64(c.G)*a + 0.5)
	p[2] = uint8(float64(p[2])*(1-a) + float64(c.B)*a + 0.5)
}

// lineWidth is the width of a series' line, in pixels.
const lineWidth = 2.0

// thickLine draws an anti-aliased line of width lineWidth from (x0, y0) to
// (x1, y1), pixels centred on integer coordinates. Like Xiaolin Wu's
// algorithm it walks the line's major axis one pixel at a time; in each
// column it inks the pixels that the line's cross-section overlaps, each in
// proportion to the overlap.
func thickLine(img *image.RGBA, x0, y0, x1, y1 float64, c color.RGBA) {
	steep := math.Abs(y1-y0) > math.Abs(x1-x0)
	if steep {
		x0, y0, x1, y1 = y0, x0, y1, x1
	}
	if x0 > x1 {
		x0, x1, y0, y1 = x1, x0, y1, y0
	}
	grad := 0.0
	if x1 > x0 {
		grad = (y1 - y0) / (x1 - x0)
	}
	// The cross-section along the minor axis is wider than the line by
	// 1/cos of its angle.
	half := lineWidth / 2 * math.Sqrt(1+grad*grad)
	xs, xe := int(math.Round(x0)), int(math.Round(x1))
	for x := xs; x <= xe; x++ {
		// The share of this column that the segment spans (less than 1
		// at its ends).
		cov := math.Min(float64(x)+0.5, x1) - math.Max(float64(x)-0.5, x0)
		if xs == xe {
			cov = 1
		}
		if cov <= 0 {
			continue
		}
		y := y0 + grad*(math.Max(math.Min(float64(x), x1), x0)-x0)
		lo, hi := y-half, y+half
		for r := int(math.Round(lo)); r <= int(math.Round(hi)); r++ {
			a := math.Min(float64(r)+0.5, hi) - math.Max(float64(r)-0.5, lo)
			if steep {
				blend(img, r, x, c, a*cov)
			} else {
				blend(img, x, r, c, a*cov)
			}
		}
	}
}

// writePNG encodes img to a temporary file next to path and renames it
// over path, so that readers never see a partial file.
func writePNG(path string, img image.Image) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	w := bufio.NewWriter(f)
	if err := png.Encode(w, img); err != nil {
		return fmt.Errorf("plot: encoding %s: %w", path, err)
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	if err := f.Chmod(0o644); err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	return nil
}
