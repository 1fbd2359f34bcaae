package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxHeaderSize is the largest JSON header accepted, in bytes: the limit of
// Hugging Face's reference implementation, so that a corrupt length cannot
// ask for an absurd allocation.
const MaxHeaderSize = 100_000_000

// Metadata keys that gotrain writes and checks when present. Their values
// are 8 lowercase hex digits of a CRC-32C (Castagnoli).
const (
	// KeyDataCRC is the CRC-32C of the whole data section.
	KeyDataCRC = "gotrain.crc32c"
	// KeyHeaderCRC is the CRC-32C of a canonical encoding of the header:
	// see headerDigest.
	KeyHeaderCRC = "gotrain.header_crc32c"
)

// metadataKey is the reserved header key that holds free-form metadata.
const metadataKey = "__metadata__"

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// entry is one tensor's line of the header.
type entry struct {
	name       string
	dtype      DType
	shape      []int
	begin, end uint64 // data_offsets, relative to the data section
}

func (e *entry) offsets() string { return fmt.Sprintf("[%d,%d]", e.begin, e.end) }

// headerDigest is the CRC-32C stored under KeyHeaderCRC. It covers every
// tensor's name, dtype, shape and offsets (sorted by name) and every
// metadata entry except the two checksum keys (sorted by key), each string
// preceded by its length and each number a uvarint, so that no two headers
// that differ in meaning share an encoding. JSON spelling (key order,
// whitespace, escapes) is deliberately not covered: any tool may re-encode
// it without changing what it says.
func headerDigest(entries []entry, meta map[string]string) uint32 {
	order := make([]int, len(entries))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return strings.Compare(entries[a].name, entries[b].name) })
	str := func(buf []byte, s string) []byte {
		buf = binary.AppendUvarint(buf, uint64(len(s)))
		return append(buf, s...)
	}
	buf := binary.AppendUvarint(nil, uint64(len(entries)))
	for _, i := range order {
		e := &entries[i]
		buf = str(buf, e.name)
		buf = str(buf, string(e.dtype))
		buf = binary.AppendUvarint(buf, uint64(len(e.shape)))
		for _, d := range e.shape {
			buf = binary.AppendUvarint(buf, uint64(d))
		}
		buf = binary.AppendUvarint(buf, e.begin)
		buf = binary.AppendUvarint(buf, e.end)
	}
	keys := make([]string, 0, len(meta))
	for k := range meta {
		if k != KeyDataCRC && k != KeyHeaderCRC {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	buf = binary.AppendUvarint(buf, uint64(len(keys)))
	for _, k := range keys {
		buf = str(buf, k)
		buf = str(buf, meta[k])
	}
	return crc32.Checksum(buf, castagnoli)
}

// formatCRC spells a checksum as a metadata value.
func formatCRC(c uint32) string { return fmt.Sprintf("%08x", c) }

// parseCRC reads a metadata checksum value: exactly 8 lowercase hex digits.
func parseCRC(key, v string) (uint32, *FormatError) {
	bad := len(v) != 8
	for i := 0; i < len(v) && !bad; i++ {
		c := v[i]
		bad = !('0' <= c && c <= '9' || 'a' <= c && c <= 'f')
	}
	if bad {
		return 0, formatErr("", "metadata %s = %q is not 8 lowercase hex digits", key, v)
	}
	c, _ := strconv.ParseUint(v, 16, 32)
	return uint32(c), nil
}

func formatErr(tensor, format string, args ...any) *FormatError {
	return &FormatError{Tensor: tensor, Msg: fmt.Sprintf(format, args...), Err: ErrFormat}
}

// parseHeader decodes the JSON header into tensor entries (in header order)
// and metadata. It checks syntax and types only; validate checks meaning.
// Being stricter than JSON requires, it rejects duplicate names, duplicate
// fields, unknown fields, invalid UTF-8 and anything after the closing
// brace but whitespace (the spec pads with spaces).
func parseHeader(hdr []byte) ([]entry, map[string]string, *FormatError) {
	if len(hdr) == 0 || hdr[0] != '{' {
		return nil, nil, formatErr("", "header JSON does not start with '{'")
	}
	if !utf8.Valid(hdr) {
		i := 0
		for i < len(hdr) {
			r, n := utf8.DecodeRune(hdr[i:])
			if r == utf8.RuneError && n <= 1 {
				break
			}
			i += n
		}
		return nil, nil, formatErr("", "header JSON is not valid UTF-8 (byte %d of the header)", i)
	}
	p := &headerParser{dec: json.NewDecoder(bytes.NewReader(hdr))}
	p.dec.UseNumber()
	entries, meta, err := p.parse()
	if err != nil {
		return nil, nil, err
	}
	rest := hdr[p.dec.InputOffset():]
	if i := bytes.IndexFunc(rest, func(r rune) bool { return !strings.ContainsRune(" \t\r\n", r) }); i >= 0 {
		return nil, nil, formatErr("", "header JSON has %d bytes of non-whitespace after its closing brace (at byte %d of the header)",
			len(rest)-i, len(hdr)-len(rest)+i)
	}
	return entries, meta, nil
}

type headerParser struct {
	dec *json.Decoder
}

// token returns the next JSON token; a syntax error or a premature end of
// the header becomes a FormatError naming where it happened.
func (p *headerParser) token(tensor string) (json.Token, *FormatError) {
	tok, err := p.dec.Token()
	if err == io.EOF {
		return nil, formatErr(tensor, "header JSON ends early (after %d bytes)", p.dec.InputOffset())
	}
	if err != nil {
		return nil, formatErr(tensor, "header JSON: %v (near byte %d of the header)", err, p.dec.InputOffset())
	}
	return tok, nil
}

func (p *headerParser) delim(tensor string, want json.Delim, what string) *FormatError {
	tok, err := p.token(tensor)
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return formatErr(tensor, "header JSON: %s must be %s, found %s", what, kindOf(want), describe(tok))
	}
	return nil
}

func kindOf(d json.Delim) string {
	if d == '{' {
		return "an object"
	}
	return "an array"
}

func describe(tok json.Token) string {
	switch v := tok.(type) {
	case json.Delim:
		switch v {
		case '{':
			return "an object"
		case '[':
			return "an array"
		}
		return fmt.Sprintf("%q", string(v))
	case string:
		return fmt.Sprintf("the string %q", clip(v))
	case json.Number:
		return "the number " + clip(string(v))
	case bool:
		return fmt.Sprintf("%v", v)
	case nil:
		return "null"
	}
	return fmt.Sprintf("%v", tok)
}

// clip shortens a string quoted in an error message.
func clip(s string) string {
	if len(s) > 64 {
		return s[:61] + "..."
	}
	return s
}

func (p *headerParser) parse() ([]entry, map[string]string, *FormatError) {
	if err := p.delim("", '{', "the header"); err != nil {
		return nil, nil, err
	}
	var (
		entries  []entry
		meta     map[string]string
		seenMeta bool
		seen     = map[string]bool{}
	)
	for p.dec.More() {
		tok, err := p.token("")
		if err != nil {
			return nil, nil, err
		}
		name, ok := tok.(string)
		if !ok {
			return nil, nil, formatErr("", "header JSON: expected a tensor name, found %s", describe(tok))
		}
		if name == metadataKey {
			if seenMeta {
				return nil, nil, formatErr("", "header JSON has %s twice", metadataKey)
			}
			seenMeta = true
			if meta, err = p.metadata(); err != nil {
				return nil, nil, err
			}
			continue
		}
		if seen[name] {
			return nil, nil, formatErr(name, "appears twice in the header")
		}
		seen[name] = true
		e, err := p.entry(name)
		if err != nil {
			return nil, nil, err
		}
		entries = append(entries, e)
	}
	if err := p.delim("", '}', "the end of the header"); err != nil {
		return nil, nil, err
	}
	if meta == nil {
		meta = map[string]string{}
	}
	return entries, meta, nil
}

// metadata reads the value of __metadata__: null or an object of strings.
func (p *headerParser) metadata() (map[string]string, *FormatError) {
	tok, err := p.token("")
	if err != nil {
		return nil, err
	}
	if tok == nil {
		return map[string]string{}, nil
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, formatErr("", "header JSON: %s must be an object of strings, found %s", metadataKey, describe(tok))
	}
	meta := map[string]string{}
	for p.dec.More() {
		tok, err := p.token("")
		if err != nil {
			return nil, err
		}
		k, ok := tok.(string)
		if !ok {
			return nil, formatErr("", "header JSON: expected a %s key, found %s", metadataKey, describe(tok))
		}
		if _, dup := meta[k]; dup {
			return nil, formatErr("", "header JSON: %s has key %q twice", metadataKey, clip(k))
		}
		if tok, err = p.token(""); err != nil {
			return nil, err
		}
		v, ok := tok.(string)
		if !ok {
			return nil, formatErr("", "header JSON: %s[%q] must be a string, found %s", metadataKey, clip(k), describe(tok))
		}
		meta[k] = v
	}
	if err := p.delim("", '}', "the end of "+metadataKey); err != nil {
		return nil, err
	}
	return meta, nil
}

// entry reads {"dtype": s, "shape": [n...], "data_offsets": [b, e]}.
func (p *headerParser) entry(name string) (entry, *FormatError) {
	e := entry{name: name}
	if err := p.delim(name, '{', "its header entry"); err != nil {
		return e, err
	}
	var haveDType, haveShape, haveOffsets bool
	for p.dec.More() {
		tok, err := p.token(name)
		if err != nil {
			return e, err
		}
		field, _ := tok.(string)
		dup := false
		switch field {
		case "dtype":
			dup, haveDType = haveDType, true
			if tok, err = p.token(name); err != nil {
				return e, err
			}
			s, ok := tok.(string)
			if !ok {
				return e, formatErr(name, "dtype must be a string, found %s", describe(tok))
			}
			e.dtype = DType(s)
		case "shape":
			dup, haveShape = haveShape, true
			dims, err := p.uints(name, "shape")
			if err != nil {
				return e, err
			}
			e.shape = make([]int, len(dims))
			for i, d := range dims {
				if d > math.MaxInt64 {
					return e, formatErr(name, "shape dimension %d is %d, too large", i, d)
				}
				e.shape[i] = int(d)
			}
		case "data_offsets":
			dup, haveOffsets = haveOffsets, true
			offs, err := p.uints(name, "data_offsets")
			if err != nil {
				return e, err
			}
			if len(offs) != 2 {
				return e, formatErr(name, "data_offsets must hold 2 numbers [begin, end], found %d", len(offs))
			}
			e.begin, e.end = offs[0], offs[1]
		default:
			return e, formatErr(name, "header entry has unknown field %s (want dtype, shape, data_offsets)", describe(tok))
		}
		if dup {
			return e, formatErr(name, "header entry has field %q twice", field)
		}
	}
	if err := p.delim(name, '}', "the end of its header entry"); err != nil {
		return e, err
	}
	switch {
	case !haveDType:
		return e, formatErr(name, "header entry has no dtype")
	case !haveShape:
		return e, formatErr(name, "header entry has no shape")
	case !haveOffsets:
		return e, formatErr(name, "header entry has no data_offsets")
	}
	return e, nil
}

// uints reads an array of non-negative integers.
func (p *headerParser) uints(name, what string) ([]uint64, *FormatError) {
	if err := p.delim(name, '[', what); err != nil {
		return nil, err
	}
	v := []uint64{}
	for p.dec.More() {
		tok, err := p.token(name)
		if err != nil {
			return nil, err
		}
		num, ok := tok.(json.Number)
		if !ok {
			return nil, formatErr(name, "%s must hold non-negative integers, found %s", what, describe(tok))
		}
		u, perr := strconv.ParseUint(string(num), 10, 64)
		if perr != nil {
			return nil, formatErr(name, "%s must hold non-negative integers below 2^64, found %s", what, clip(string(num)))
		}
		v = append(v, u)
	}
	if err := p.delim(name, ']', "the end of "+what); err != nil {
		return nil, err
	}
	return v, nil
}

// byteLen returns the number of data bytes a tensor of this dtype and shape
// occupies, or an error if the dtype is not supported or the size overflows.
func byteLen(name string, dtype DType, shape []int) (uint64, *FormatError) {
	size := dtype.Size()
	if size == 0 {
		if otherDTypes[dtype] {
			return 0, formatErr(name, "dtype %s is valid safetensors but not supported by gotrain (supported: F32, F16, BF16, I32, I64, U8)", dtype)
		}
		return 0, formatErr(name, "unknown dtype %q (supported: F32, F16, BF16, I32, I64, U8)", clip(string(dtype)))
	}
	for _, d := range shape {
		if d < 0 {
			return 0, formatErr(name, "shape %v has a negative dimension", shape)
		}
	}
	if slices.Contains(shape, 0) {
		return 0, nil // empty, whatever the other dimensions
	}
	n := uint64(1)
	for _, d := range shape {
		hi, lo := bits.Mul64(n, uint64(d))
		if hi != 0 || lo > math.MaxInt64 {
			return 0, formatErr(name, "shape %v has more elements than fit in 63 bits", shape)
		}
		n = lo
	}
	hi, lo := bits.Mul64(n, uint64(size))
	if hi != 0 || lo > math.MaxInt64 {
		return 0, formatErr(name, "shape %v of dtype %s needs more bytes than fit in 63 bits", shape, dtype)
	}
	return lo, nil
}

// validate checks the meaning of a parsed header against a data section of
// dataSize bytes: supported dtypes, sizes that match shapes, offsets in
// range that tile the data section exactly. It returns the entries sorted by
// offset (the order of their data).
func validate(entries []entry, dataSize uint64) ([]entry, *FormatError) {
	for i := range entries {
		e := &entries[i]
		n, err := byteLen(e.name, e.dtype, e.shape)
		if err != nil {
			return nil, err
		}
		if e.end < e.begin {
			return nil, formatErr(e.name, "data_offsets %s end before they begin", e.offsets())
		}
		if e.end-e.begin != n {
			return nil, formatErr(e.name, "shape %v of dtype %s needs %d bytes but data_offsets %s span %d",
				e.shape, e.dtype, n, e.offsets(), e.end-e.begin)
		}
	}
	sorted := slices.Clone(entries)
	slices.SortStableFunc(sorted, func(a, b entry) int {
		if a.begin != b.begin {
			if a.begin < b.begin {
				return -1
			}
			return 1
		}
		if a.end != b.end {
			if a.end < b.end {
				return -1
			}
			return 1
		}
		return strings.Compare(a.name, b.name)
	})
	var prev *entry
	next := uint64(0)
	for i := range sorted {
		e := &sorted[i]
		if e.end > dataSize {
			return nil, &FormatError{Tensor: e.name, Err: ErrTruncated, Msg: fmt.Sprintf(
				"data_offsets %s exceed the data section of %d bytes (file truncated, or header corrupt)", e.offsets(), dataSize)}
		}
		switch {
		case e.begin > next && prev == nil:
			return nil, formatErr(e.name, "data_offsets %s leave a gap of %d bytes at the start of the data section", e.offsets(), e.begin-next)
		case e.begin > next:
			return nil, formatErr(e.name, "data_offsets %s leave a gap of %d bytes after tensor %s %s", e.offsets(), e.begin-next, displayName(prev.name), prev.offsets())
		case e.begin < next:
			return nil, formatErr(e.name, "data_offsets %s overlap tensor %s %s", e.offsets(), displayName(prev.name), prev.offsets())
		}
		next = e.end
		if e.end > e.begin {
			prev = e
		}
	}
	if next != dataSize {
		return nil, formatErr("", "the tensors cover %d bytes but the data section holds %d: %d bytes belong to no tensor", next, dataSize, dataSize-next)
	}
	return sorted, nil
}
