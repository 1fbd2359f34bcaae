package progress

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"
)

// clock is a fake time source, advanced by hand.
type clock struct{ t time.Time }

func (c *clock) now() time.Time      { return c.t }
func (c *clock) add(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *clock               { return &clock{time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }
func lines(b *bytes.Buffer) []string {
	return strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
}
func loss(v float64) Metric           { return Metric{Name: "loss", Value: v} }
func frames(b *bytes.Buffer) []string { return strings.Split(b.String(), "\r")[1:] }
func trimRight(s string) string       { return strings.TrimRight(s, " \n") }

func TestTerminal(t *testing.T) {
	var out bytes.Buffer
	c := newClock()
	b := newBar(&out, 468, "epoch 1/3", true, c.now).Rate(128, "ex")
	// 10 steps a second for 21 seconds: 1280 ex/s.
	for i := 1; i <= 210; i++ {
		c.add(100 * time.Millisecond)
		b.Update(i, loss(2.5/float64(i)))
	}
	f := frames(&out)
	if len(f) != 210 {
		t.Fatalf("%d redraws, want one per 100 ms = 210", len(f))
	}
	want := "epoch 1/3 [========>           ]  44% 210/468  loss 0.0119  1,280 ex/s  ETA 0:26"
	if got := f[len(f)-1]; got != want {
		t.Errorf("last frame\n got %q\nwant %q", got, want)
	}
	if !strings.HasPrefix(f[0], "epoch 1/3 [>                   ]   0% 1/468  loss 2.5000  1,280 ex/s  ETA 0:47") {
		t.Errorf("first frame %q", f[0])
	}

	// Redraws are throttled to 10 a second.
	out.Reset()
	for i := 211; i <= 400; i++ {
		c.add(10 * time.Millisecond)
		b.Update(i, loss(0.5))
	}
	if n := len(frames(&out)); n != 19 {
		t.Errorf("%d redraws in 1.9 s, want 19", n)
	}
	// The rate follows the last 4.9 s (50 samples 100 ms apart): at 22.9 s
	// the oldest sample is step 180 at 18.0 s, so (400-180)/4.9*128 ex/s.
	if got := frames(&out)[18]; !strings.Contains(got, " 400/468  loss 0.5000  5,747 ex/s  ETA 0:02") {
		t.Errorf("frame after the speed-up %q, want a rate from the sliding window (5,747 ex/s)", got)
	}

	// A shorter line blanks the rest of the longer one.
	prev := frames(&out)[18]
	out.Reset()
	c.add(time.Second)
	b.Update(401)
	f = frames(&out)
	if len(f) != 1 || len(f[0]) != len(prev) || strings.Contains(f[0], "loss") {
		t.Errorf("frame %q does not blank the previous %q", f, prev)
	}

	out.Reset()
	c.add(6 * time.Second)
	b.Update(468, loss(0.25))
	b.Done()
	f = frames(&out)
	wantDone := "epoch 1/3 [====================] 100% 468/468  loss 0.2500  2,003 ex/s avg  in 0:30" // 468*128 ex in 29.9 s
	if got := f[len(f)-1]; trimRight(got) != wantDone || !strings.HasSuffix(got, "\n") {
		t.Errorf("final line\n got %q\nwant %q, then a newline", got, wantDone)
	}
	out.Reset()
	b.Update(1)
	b.Done()
	if out.Len() != 0 {
		t.Errorf("Update or Done after Done wrote %q", out.String())
	}
}

func TestPlain(t *testing.T) {
	var out bytes.Buffer
	c := newClock()
	b := newBar(&out, 1000, "train", false, c.now)
	// 1000 steps in 10 s: a line at each tenth, none at 100% but Done's.
	for i := 1; i <= 1000; i++ {
		c.add(10 * time.Millisecond)
		b.Update(i, Metric{Name: "acc", Value: 0.9})
	}
	b.Done()
	l := lines(&out)
	if len(l) != 10 {
		t.Fatalf("%d lines, want 9 tenths + Done:\n%s", len(l), out.String())
	}
	if strings.Contains(out.String(), "\r") {
		t.Error("plain output holds \\r")
	}
	if want := "train [==>                 ]  10% 100/1000  acc 0.9000  100 it/s  ETA 0:09"; l[0] != want {
		t.Errorf("first line\n got %q\nwant %q", l[0], want)
	}
	if want := "train [====================] 100% 1000/1000  acc 0.9000  100 it/s avg  in 0:10"; l[9] != want {
		t.Errorf("last line\n got %q\nwant %q", l[9], want)
	}

	// Fast work prints at most a line a second.
	out.Reset()
	b = newBar(&out, 100, "", false, c.now)
	for i := 1; i <= 100; i++ {
		c.add(25 * time.Millisecond) // 2.5 s in all
		b.Update(i)
	}
	if n := len(lines(&out)); n != 2 {
		t.Errorf("%d lines in 2.5 s, want 2:\n%s", n, out.String())
	}

	// Slow work prints a line every 30 s while it advances, and nothing
	// while it is stuck.
	out.Reset()
	b = newBar(&out, 1000, "slow", false, c.now)
	for i := 1; i <= 60; i++ {
		c.add(time.Second)
		b.Update(i)
	}
	for range 100 {
		c.add(time.Second)
		b.Update(60)
	}
	if l := lines(&out); len(l) != 2 || !strings.Contains(l[0], " 30/1000") || !strings.Contains(l[1], " 60/1000") {
		t.Errorf("slow work printed:\n%s", out.String())
	}
}

func TestFormat(t *testing.T) {
	for _, c := range []struct {
		v    float64
		want string
	}{{0, "0"}, {999, "999"}, {1000, "1,000"}, {12345.4, "12,345"}, {1234567, "1,234,567"}} {
		if got := string(appendThousands(nil, c.v)); got != c.want {
			t.Errorf("appendThousands(%v) = %q, want %q", c.v, got, c.want)
		}
	}
	for _, c := range []struct {
		d    time.Duration
		want string
	}{{0, "0:00"}, {12 * time.Second, "0:12"}, {61500 * time.Millisecond, "1:02"}, {3*time.Hour + 5*time.Minute + 7*time.Second, "3:05:07"}} {
		if got := string(appendDuration(nil, c.d)); got != c.want {
			t.Errorf("appendDuration(%v) = %q, want %q", c.d, got, c.want)
		}
	}
	for _, c := range []struct {
		v    float64
		want string
	}{{0.23451, "0.2345"}, {0, "0.0000"}, {1e-5, "1e-05"}, {123456, "1.235e+05"}, {-2.5, "-2.5000"}} {
		if got := string(appendValue(nil, c.v)); got != c.want {
			t.Errorf("appendValue(%v) = %q, want %q", c.v, got, c.want)
		}
	}
}

func TestNoAllocs(t *testing.T) {
	var out bytes.Buffer
	out.Grow(1 << 16)
	c := newClock()
	b := newBar(&out, 1<<30, "epoch", true, c.now).Rate(128, "ex")
	b.Update(1, loss(1), Metric{Name: "acc", Value: 0.5})
	i := 1
	quiet := testing.AllocsPerRun(1000, func() {
		i++
		c.add(time.Microsecond)
		b.Update(i, loss(1), Metric{Name: "acc", Value: 0.5})
	})
	drawn := testing.AllocsPerRun(100, func() {
		i++
		c.add(time.Second)
		b.Update(i, loss(1), Metric{Name: "acc", Value: 0.5})
	})
	if quiet != 0 || drawn != 0 {
		t.Errorf("Update allocates %v times without a redraw, %v with one; want 0", quiet, drawn)
	}
}

func TestIsTerminal(t *testing.T) {
	if isTerminal(&bytes.Buffer{}) {
		t.Error("a bytes.Buffer is a terminal")
	}
	f, err := os.CreateTemp(t.TempDir(), "log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if isTerminal(f) {
		t.Error("a regular file is a terminal")
	}
}

func BenchmarkUpdate(b *testing.B) {
	bar := New(&bytes.Buffer{}, b.N+1, "bench")
	i := 0
	for b.Loop() {
		i++
		bar.Update(i, loss(0.5))
	}
}
