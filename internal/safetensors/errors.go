package safetensors

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// Sentinel errors, matched with errors.Is. Every *FormatError wraps one.
var (
	// ErrFormat: the bytes are not a valid safetensors file (bad header
	// JSON, offsets that do not tile the data, unknown dtype, ...).
	ErrFormat = errors.New("invalid safetensors file")
	// ErrTruncated: the file is shorter than its own header says.
	ErrTruncated = errors.New("truncated safetensors file")
	// ErrChecksum: a gotrain checksum in the metadata does not match.
	ErrChecksum = errors.New("safetensors checksum mismatch")
)

// FormatError reports a checkpoint that cannot be read, naming the file, the
// tensor when one is at fault, and what was wrong.
type FormatError struct {
	File   string // path as given to Read; "" from ReadFrom
	Tensor string // tensor at fault; "" when the problem is not one tensor's
	Msg    string // what was wrong, and what was expected
	Err    error  // ErrFormat, ErrTruncated or ErrChecksum
}

func (e *FormatError) Error() string {
	var b strings.Builder
	b.WriteString("checkpoint")
	if e.File != "" {
		b.WriteString(" ")
		b.WriteString(e.File)
	}
	b.WriteString(": ")
	if e.Tensor != "" {
		fmt.Fprintf(&b, "tensor %s: ", displayName(e.Tensor))
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns the sentinel error (ErrFormat, ErrTruncated, ErrChecksum).
func (e *FormatError) Unwrap() error { return e.Err }

// LoadError reports every tensor that (*File).Load could not place into the
// model. Nothing is copied when Load returns one.
type LoadError struct {
	File       string
	Missing    []string // model names the file does not hold
	Unexpected []string // file names the model does not expect
	Mismatched []string // one line per tensor of the wrong shape or dtype
	Hint       string   // a guess at the cause (a name prefix), or ""
}

// listMax bounds how many names of each kind Error spells out.
const listMax = 8

func (e *LoadError) Error() string {
	var parts []string
	list := func(what string, names []string) {
		if len(names) == 0 {
			return
		}
		shown := names
		more := ""
		if len(shown) > listMax {
			shown = shown[:listMax]
			more = fmt.Sprintf(", and %d more", len(names)-listMax)
		}
		parts = append(parts, fmt.Sprintf("%d %s (%s%s)", len(names), what, strings.Join(shown, ", "), more))
	}
	list("missing from the file", e.Missing)
	list("in the file but not in the model", e.Unexpected)
	if len(e.Mismatched) > 0 {
		shown := e.Mismatched
		if len(shown) > listMax {
			shown = shown[:listMax]
		}
		parts = append(parts, strings.Join(shown, "; "))
		if len(e.Mismatched) > listMax {
			parts = append(parts, fmt.Sprintf("and %d more mismatched tensors", len(e.Mismatched)-listMax))
		}
	}
	msg := "checkpoint"
	if e.File != "" {
		msg += " " + e.File
	}
	msg += ": cannot load into the model: " + strings.Join(parts, "; ")
	if e.Hint != "" {
		msg += " (" + e.Hint + ")"
	}
	return msg
}

// displayName returns a tensor name as an error message shows it: as is
// when it is plain, quoted when empty or holding spaces or unprintable runes.
func displayName(name string) string {
	if name == "" || strings.ContainsFunc(name, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsGraphic(r) }) {
		return strconv.Quote(name)
	}
	return name
}
