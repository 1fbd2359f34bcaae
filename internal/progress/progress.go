// Package progress draws a progress bar for long work, such as an epoch of
// training:
//
//	epoch 1/3 [=========>          ]  45% 210/468  loss 0.2345  12,345 ex/s  ETA 0:12
//
// On a terminal the line is redrawn in place ("\r") at most 10 times a
// second. Anywhere else (a log file, CI) it prints a plain line each time
// another tenth of the work is done, but not more than once a second, and at
// least every 30 seconds while work advances. Done prints the final line with
// the elapsed time and the average rate.
//
// The rate is measured over a sliding window of the last few seconds. Update
// is cheap enough to call every step: when no line is drawn it reads the
// clock once and allocates nothing. A Bar is not safe for concurrent use.
package progress

import (
	"io"
	"math"
	"os"
	"strconv"
	"time"
)

// Metric is a named value shown after the counts, such as the loss.
type Metric struct {
	Name  string
	Value float64
}

const (
	barWidth    = 20
	redrawEvery = 100 * time.Millisecond // terminal: at most 10 redraws a second
	plainMin    = time.Second            // plain: at most one line a second...
	plainMax    = 30 * time.Second       // ...and at least one every 30 s
	sampleEvery = 100 * time.Millisecond // spacing of the rate window's samples
	window      = 50                     // samples in the rate window: about 5 s
)

type sample struct {
	t    time.Time
	done int
}

// Bar is a progress bar for total steps of work.
type Bar struct {
	w       io.Writer
	total   int
	label   string
	tty     bool
	now     func() time.Time
	perStep float64 // items per step for the rate; 0 means steps
	unit    string  // name of the rate's unit, "ex/s" or "it/s"

	start    time.Time
	done     int
	lastDraw time.Time // last line drawn (either mode)
	lastTick int       // plain mode: the tenth of total last printed
	drawn    int       // done when the last line was drawn
	lastLen  int       // terminal: length of the line on screen
	finished bool

	ring [window]sample // rate window; ring[head] is the oldest sample
	head int
	size int

	buf     []byte
	metrics []Metric // the metrics of the last Update, kept for Done
}

// New returns a bar for total steps that writes to w, each line starting
// with label. It redraws in place when w is a terminal.
func New(w io.Writer, total int, label string) *Bar {
	return newBar(w, total, label, isTerminal(w), time.Now)
}

func newBar(w io.Writer, total int, label string, tty bool, now func() time.Time) *Bar {
	b := &Bar{w: w, total: max(total, 0), label: label, tty: tty, now: now, unit: "it/s",
		buf: make([]byte, 0, 256)}
	b.start = now()
	b.lastDraw = b.start
	if tty {
		b.lastDraw = b.start.Add(-redrawEvery) // draw on the first Update
	}
	b.push(sample{b.start, 0})
	return b
}

// Rate makes the bar show its rate in items per second, with perStep items
// in each step: with steps of 128 examples, Rate(128, "ex") shows "ex/s".
// It returns b.
func (b *Bar) Rate(perStep float64, unit string) *Bar {
	b.perStep, b.unit = perStep, unit+"/s"
	return b
}

// isTerminal reports whether w is a character device, such as a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// Update records that done steps of total are complete and draws the bar if
// it is due. The metrics are copied, so Done can show the last ones.
func (b *Bar) Update(done int, metrics ...Metric) {
	if b.finished {
		return
	}
	b.done = min(max(done, 0), b.total)
	b.metrics = append(b.metrics[:0], metrics...)
	t := b.now()
	if last := b.ring[(b.head+b.size-1)%window]; t.Sub(last.t) >= sampleEvery {
		b.push(sample{t, b.done})
	}
	since := t.Sub(b.lastDraw)
	if b.tty {
		if since < redrawEvery {
			return
		}
	} else {
		// A line for each tenth (the last one is Done's), at most one a
		// second; and one every plainMax while work advances.
		tick := 0
		if b.total > 0 {
			tick = b.done * 10 / b.total
		}
		due := tick > b.lastTick && tick < 10 && since >= plainMin
		if !due && !(since >= plainMax && b.done > b.drawn) {
			return
		}
		b.lastTick = max(b.lastTick, min(tick, 9))
	}
	b.draw(t, false)
}

// Done draws the final line, with the elapsed time and the average rate,
// and ends it with a newline. Later calls of Update and Done do nothing.
func (b *Bar) Done() {
	if b.finished {
		return
	}
	b.finished = true
	b.draw(b.now(), true)
}

func (b *Bar) push(s sample) {
	if b.size < window {
		b.ring[(b.head+b.size)%window] = s
		b.size++
		return
	}
	b.ring[b.head] = s
	b.head = (b.head + 1) % window
}

// draw formats the line into b.buf and writes it.
func (b *Bar) draw(t time.Time, final bool) {
	b.lastDraw, b.drawn = t, b.done
	buf := b.buf[:0]
	if b.tty {
		buf = append(buf, '\r')
	}
	start := len(buf)
	if b.label != "" {
		buf = append(buf, b.label...)
		buf = append(buf, ' ')
	}
	buf = appendBar(buf, b.done, b.total)
	for _, m := range b.metrics {
		buf = append(buf, "  "...)
		buf = append(buf, m.Name...)
		buf = append(buf, ' ')
		buf = appendValue(buf, m.Value)
	}
	if final {
		el := t.Sub(b.start)
		buf = append(buf, "  "...)
		buf = b.appendRate(buf, float64(b.done)/el.Seconds())
		buf = append(buf, " avg  in "...)
		buf = appendDuration(buf, el)
	} else {
		oldest := b.ring[b.head]
		if dt := t.Sub(oldest.t).Seconds(); dt > 0 && b.done > oldest.done {
			rate := float64(b.done-oldest.done) / dt
			buf = append(buf, "  "...)
			buf = b.appendRate(buf, rate)
			buf = append(buf, "  ETA "...)
			buf = appendDuration(buf, time.Duration(float64(b.total-b.done)/rate*float64(time.Second)))
		}
	}
	if b.tty {
		n := len(buf) - start
		for i := n; i < b.lastLen; i++ { // blank what remains of a longer line
			buf = append(buf, ' ')
		}
		b.lastLen = n
	}
	if final || !b.tty {
		buf = append(buf, '\n')
	}
	b.buf = buf
	b.w.Write(buf) // a progress bar has nowhere to report a failed write
}

// appendRate appends a rate in steps per second, scaled by perStep.
func (b *Bar) appendRate(buf []byte, stepsPerSec float64) []byte {
	r := stepsPerSec
	if b.perStep > 0 {
		r *= b.perStep
	}
	if r >= 100 || math.IsInf(r, 0) || math.IsNaN(r) {
		buf = appendThousands(buf, r)
	} else {
		buf = strconv.AppendFloat(buf, r, 'f', 1, 64)
	}
	buf = append(buf, ' ')
	return append(buf, b.unit...)
}

// appendBar appends "[=====>    ]  45% 210/468".
func appendBar(buf []byte, done, total int) []byte {
	frac := 1.0
	if total > 0 {
		frac = float64(done) / float64(total)
	}
	full := int(frac * barWidth)
	buf = append(buf, '[')
	for i := range barWidth {
		switch {
		case i < full:
			buf = append(buf, '=')
		case i == full:
			buf = append(buf, '>')
		default:
			buf = append(buf, ' ')
		}
	}
	buf = append(buf, "] "...)
	pct := int(frac * 100)
	if pct < 100 {
		buf = append(buf, ' ')
	}
	if pct < 10 {
		buf = append(buf, ' ')
	}
	buf = strconv.AppendInt(buf, int64(pct), 10)
	buf = append(buf, "% "...)
	buf = strconv.AppendInt(buf, int64(done), 10)
	buf = append(buf, '/')
	return strconv.AppendInt(buf, int64(total), 10)
}

// appendValue appends a metric: four decimals in the usual range of a loss
// or an accuracy, four significant digits outside it.
func appendValue(buf []byte, v float64) []byte {
	if a := math.Abs(v); a == 0 || a >= 1e-3 && a < 1e4 {
		return strconv.AppendFloat(buf, v, 'f', 4, 64)
	}
	return strconv.AppendFloat(buf, v, 'g', 4, 64)
}

// appendThousands appends v rounded to an integer, with commas: 12,345.
func appendThousands(buf []byte, v float64) []byte {
	if math.IsNaN(v) || math.IsInf(v, 0) || v >= 1e18 {
		return append(buf, "inf"...)
	}
	n := int64(math.Round(v))
	var digits [20]byte
	d := strconv.AppendInt(digits[:0], n, 10)
	for i, c := range d {
		if i > 0 && (len(d)-i)%3 == 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, c)
	}
	return buf
}

// appendDuration appends d as m:ss, or h:mm:ss from an hour on.
func appendDuration(buf []byte, d time.Duration) []byte {
	s := int64(d.Round(time.Second) / time.Second)
	if d > 100*24*time.Hour || d < 0 {
		return append(buf, "--:--"...)
	}
	h, m, sec := s/3600, s/60%60, s%60
	if h > 0 {
		buf = strconv.AppendInt(buf, h, 10)
		buf = append(buf, ':')
		buf = append(buf, byte('0'+m/10), byte('0'+m%10))
	} else {
		buf = strconv.AppendInt(buf, m, 10)
	}
	buf = append(buf, ':')
	return append(buf, byte('0'+sec/10), byte('0'+sec%10))
}
