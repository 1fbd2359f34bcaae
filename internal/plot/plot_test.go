package plot

import (
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// curves returns a noisy training loss falling from 2.3 and a smooth
// validation loss, as a training run would log them.
func curves() (train, val Series) {
	train.Name, val.Name = "train", "validation"
	for i := range 469 * 3 {
		x := float64(i) / 469
		noise := 0.15 * math.Sin(float64(i)*1.7) * math.Exp(-x)
		train.X = append(train.X, x)
		train.Y = append(train.Y, 0.08+2.2*math.Exp(-4*x)+noise)
	}
	for e := 0.5; e <= 3; e += 0.5 {
		val.X = append(val.X, e)
		val.Y = append(val.Y, 0.1+2.2*math.Exp(-4*e))
	}
	return train, val
}

func TestLossCurve(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "loss.png")
	train, val := curves()
	if err := LossCurve(path, "MNIST MLP loss, lr=0.001", train, val); err != nil {
		t.Fatal(err)
	}
	if out := os.Getenv("GOTRAIN_PLOT_OUT"); out != "" { // to look at it
		b, _ := os.ReadFile(path)
		os.WriteFile(out, b, 0o644)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("not a valid PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != Width || b.Dy() != Height {
		t.Fatalf("image is %v, want %dx%d", b, Width, Height)
	}
	// near counts the pixels within a small distance of each series'
	// colour; inked, those not background; box, their bounding box.
	near := make([]int, 2)
	inked, box := 0, image.Rectangle{}
	for y := range Height {
		for x := range Width {
			r, g, b, _ := img.At(x, y).RGBA()
			c := color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), 255}
			for i := range near {
				p := palette[i]
				if abs(int(c.R)-int(p.R))+abs(int(c.G)-int(p.G))+abs(int(c.B)-int(p.B)) < 60 {
					near[i]++
				}
			}
			if c != background {
				inked++
				box = box.Union(image.Rect(x, y, x+1, y+1))
			}
		}
	}
	// Lines two pixels wide have at least one pixel of full colour per
	// column: train spans ~720 px across and ~420 px down (and oscillates),
	// validation ~600 px across, partly over train.
	if near[0] < 1500 || near[1] < 400 {
		t.Errorf("pixels near the series' colours: %v, want lines of both", near)
	}
	if inked < Width*Height/50 || inked > Width*Height/2 {
		t.Errorf("%d of %d pixels are not background", inked, Width*Height)
	}
	// Nothing touches the border: labels fit in the image.
	if want := image.Rect(4, 4, Width-4, Height-4); !box.In(want) {
		t.Errorf("drawing spans %v, want it inside %v", box, want)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("the folder holds %d entries, want only loss.png (no temporary file left)", len(ents))
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("file mode %v, %v", fi.Mode(), err)
	}

	// Writing again replaces the file.
	if err := LossCurve(path, "again", Series{X: []float64{1, 2}, Y: []float64{3, 4}}); err != nil {
		t.Fatal(err)
	}
}

func TestLossCurveErrors(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		name   string
		path   string
		series []Series
		want   string
	}{
		{"no series", "a.png", nil, "no series"},
		{"lengths", "a.png", []Series{{Name: "loss", X: []float64{1, 2}, Y: []float64{1}}}, `series 0 ("loss") has 2 x values and 1 y values`},
		{"no finite point", "a.png", []Series{{X: []float64{1, math.NaN()}, Y: []float64{math.Inf(1), 2}}}, "no point with finite"},
		{"no folder", "missing/a.png", []Series{{X: []float64{1}, Y: []float64{1}}}, "no such file or directory"},
	} {
		err := LossCurve(filepath.Join(dir, c.path), "t", c.series...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.want)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("failed writes left %d files", len(ents))
	}
}

func TestTicks(t *testing.T) {
	for _, c := range []struct {
		lo, hi float64
		n      int
		want   []string
	}{
		{0, 3, 8, []string{"0.0", "0.5", "1.0", "1.5", "2.0", "2.5", "3.0"}},
		{0.08, 2.3, 6, []string{"0.0", "0.5", "1.0", "1.5", "2.0", "2.5"}},
		{-0.3, 0.25, 6, []string{"-0.3", "-0.2", "-0.1", "0.0", "0.1", "0.2", "0.3"}},
		{1, 1400, 8, []string{"0", "200", "400", "600", "800", "1000", "1200", "1400"}},
		{5, 5, 6, []string{"4.4", "4.6", "4.8", "5.0", "5.2", "5.4", "5.6"}}, // widened to 5±0.5
	} {
		ts := ticks(c.lo, c.hi, c.n)
		var got []string
		for _, v := range ts.at {
			got = append(got, ts.label(v))
		}
		if !slices.Equal(got, c.want) || ts.lo > c.lo || ts.hi < c.hi {
			t.Errorf("ticks(%v, %v, %d) = %v over [%v, %v], want %v", c.lo, c.hi, c.n, got, ts.lo, ts.hi, c.want)
		}
	}
}

func TestFont(t *testing.T) {
	for r := rune(' '); r <= '~'; r++ {
		if _, ok := glyphBits[r]; !ok {
			t.Errorf("no glyph for %q", r)
		}
	}
	img := image.NewRGBA(image.Rect(0, 0, 20, 20))
	text(img, 0, 0, "1", ink)
	// The "1" glyph's bottom row is ".###.": columns 1-3 at double size.
	for x := range 10 {
		want := x >= 2 && x < 8
		if got := img.RGBAAt(x, 13) == ink; got != want {
			t.Errorf("pixel (%d, 13) inked: %v, want %v", x, got, want)
		}
	}
}

func abs(x int) int { return max(x, -x) }
