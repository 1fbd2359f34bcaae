package safetensors

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Test hooks, nil outside tests.
var (
	// hookWriter wraps the temporary file's writer, to inject write errors.
	hookWriter func(io.Writer) io.Writer
	// hookStage is called before each step of Write ("sync", "close",
	// "rename", "syncdir"); an error it returns fails that step.
	hookStage func(stage string) error
)

func stage(name string) error {
	if hookStage != nil {
		return hookStage(name)
	}
	return nil
}

// plan is a validated checkpoint ready to be encoded.
type plan struct {
	tensors  []*Tensor // in data order
	header   []byte    // JSON, space-padded to a multiple of 8 bytes
	crcAt    int       // offset in header of the data CRC's 8 hex digits
	dataSize int64
}

// Write saves tensors and metadata to path as a safetensors file, atomically.
//
// Tensors are laid out as Hugging Face's writer does: by element size, then
// by name, so that every tensor's data is aligned to its element size. The
// metadata is written with gotrain's two checksums added (KeyDataCRC and
// KeyHeaderCRC; values the caller passes for those keys are replaced).
//
// The file is written to a temporary file in the same directory, synced,
// and renamed over path, and the directory is synced: a crash or an error
// at any point leaves either the previous file or the new one at path,
// never a mix, and no temporary file behind. A new file gets mode 0644; a
// replaced file keeps its mode. The tensors must not change while Write
// runs: it reads them twice, once for the checksum and once to write them
// (a change in between would make Read reject the file, not misread it).
func Write(path string, tensors []Tensor, metadata map[string]string) (err error) {
	p, err := prepare(tensors, metadata)
	if err != nil {
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	mode := os.FileMode(0o644)
	if st, err := os.Stat(path); err == nil {
		if !st.Mode().IsRegular() {
			return fmt.Errorf("checkpoint %s: exists and is not a regular file", path)
		}
		mode = st.Mode().Perm()
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("checkpoint %s: creating the temporary file: %w", path, err)
	}
	tmp := f.Name()
	closed, renamed := false, false
	defer func() {
		if err != nil && !renamed {
			if !closed {
				f.Close()
			}
			os.Remove(tmp)
		}
	}()
	fail := func(step string, e error) error {
		return fmt.Errorf("checkpoint %s: %s %s: %w (%s left unchanged)", path, step, tmp, e, path)
	}

	var w io.Writer = f
	if hookWriter != nil {
		w = hookWriter(w)
	}
	if err := p.encode(w); err != nil {
		return fail("writing", err)
	}
	if err := f.Chmod(mode); err != nil {
		return fail("setting the mode of", err)
	}
	if err := errors.Join(stage("sync"), f.Sync()); err != nil {
		return fail("syncing", err)
	}
	closed = true
	if err := errors.Join(stage("close"), f.Close()); err != nil {
		return fail("closing", err)
	}
	if err := stage("rename"); err != nil {
		return fail("renaming", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fail("renaming", err)
	}
	renamed = true
	// From here on the new file is in place: a failure to sync the
	// directory means only that the rename may not survive a crash.
	if err := errors.Join(stage("syncdir"), syncDir(dir)); err != nil {
		return fmt.Errorf("checkpoint %s: written, but syncing directory %s failed: %w (the new file may not survive a crash)", path, dir, err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	return errors.Join(err, d.Close())
}

// Marshal returns the bytes Write would write.
func Marshal(tensors []Tensor, metadata map[string]string) ([]byte, error) {
	p, err := prepare(tensors, metadata)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	var b sliceWriter
	if err := p.encode(&b); err != nil {
		return nil, err
	}
	return b, nil
}

type sliceWriter []byte

func (s *sliceWriter) Write(p []byte) (int, error) {
	*s = append(*s, p...)
	return len(p), nil
}

// encode writes the file to w: the header (with the data CRC, which a first
// pass over the data computes) and then the data.
func (p *plan) encode(w io.Writer) error {
	buf := make([]byte, min(chunkSize, max(p.dataSize, 8)))
	var crc uint32
	for _, t := range p.tensors {
		if err := encodeTensor(t, buf, func(b []byte) error {
			crc = crc32.Update(crc, castagnoli, b)
			return nil
		}); err != nil {
			return err
		}
	}
	copy(p.header[p.crcAt:], formatCRC(crc))
	bw := bufio.NewWriterSize(w, chunkSize)
	var prefix [8]byte
	binary.LittleEndian.PutUint64(prefix[:], uint64(len(p.header)))
	bw.Write(prefix[:])
	bw.Write(p.header)
	for _, t := range p.tensors {
		if err := encodeTensor(t, buf, func(b []byte) error {
			_, err := bw.Write(b)
			return err
		}); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// encodeTensor passes t's little-endian bytes to emit, a chunk at a time.
func encodeTensor(t *Tensor, buf []byte, emit func([]byte) error) error {
	if !t.DType.IsFloat() {
		return emit(t.Raw)
	}
	size := t.DType.Size()
	per := len(buf) / size
	for v := t.F32; len(v) > 0; {
		n := min(per, len(v))
		out := buf[:n*size]
		switch t.DType {
		case F32:
			for i, x := range v[:n] {
				binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(x))
			}
		case F16:
			for i, x := range v[:n] {
				binary.LittleEndian.PutUint16(out[2*i:], F32ToF16(x))
			}
		case BF16:
			for i, x := range v[:n] {
				binary.LittleEndian.PutUint16(out[2*i:], F32ToBF16(x))
			}
		}
		if err := emit(out); err != nil {
			return err
		}
		v = v[n:]
	}
	return nil
}

// prepare validates tensors and metadata and builds the header.
func prepare(tensors []Tensor, metadata map[string]string) (*plan, error) {
	p := &plan{tensors: make([]*Tensor, len(tensors))}
	seen := make(map[string]bool, len(tensors))
	for i := range tensors {
		t := &tensors[i]
		p.tensors[i] = t
		if err := checkTensor(t); err != nil {
			return nil, err
		}
		if seen[t.Name] {
			return nil, fmt.Errorf("tensor %s: name given twice", t.Name)
		}
		seen[t.Name] = true
	}
	slices.SortStableFunc(p.tensors, func(a, b *Tensor) int {
		if sa, sb := a.DType.Size(), b.DType.Size(); sa != sb {
			return sb - sa
		}
		return strings.Compare(a.Name, b.Name)
	})

	entries := make([]entry, len(p.tensors))
	var off uint64
	for i, t := range p.tensors {
		n, _ := byteLen(t.Name, t.DType, t.Shape) // checked by checkTensor
		entries[i] = entry{name: t.Name, dtype: t.DType, shape: t.Shape, begin: off, end: off + n}
		off += n
		if off > math.MaxInt64-MaxHeaderSize-16 {
			return nil, fmt.Errorf("tensors total %d bytes, more than a file can hold", off)
		}
	}
	p.dataSize = int64(off)

	meta := make(map[string]string, len(metadata)+2)
	for k, v := range metadata {
		if k == KeyDataCRC || k == KeyHeaderCRC {
			continue
		}
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return nil, fmt.Errorf("metadata %q: key and value must be valid UTF-8", clip(k))
		}
		meta[k] = v
	}
	meta[KeyHeaderCRC] = formatCRC(headerDigest(entries, meta))
	meta[KeyDataCRC] = "00000000" // placeholder, same width as the value

	// The JSON header, as compact as serde_json writes it.
	h := []byte(`{"` + metadataKey + `":{`)
	keys := make([]string, 0, len(meta))
	for k := range meta {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for i, k := range keys {
		if i > 0 {
			h = append(h, ',')
		}
		h = appendJSONString(h, k)
		h = append(h, ':')
		if k == KeyDataCRC {
			p.crcAt = len(h) + 1 // after the opening quote
		}
		h = appendJSONString(h, meta[k])
	}
	h = append(h, '}')
	for _, e := range entries {
		h = append(h, ',')
		h = appendJSONString(h, e.name)
		h = append(h, `:{"dtype":`...)
		h = appendJSONString(h, string(e.dtype))
		h = append(h, `,"shape":[`...)
		for j, d := range e.shape {
			if j > 0 {
				h = append(h, ',')
			}
			h = strconv.AppendInt(h, int64(d), 10)
		}
		h = append(h, `],"data_offsets":[`...)
		h = strconv.AppendUint(h, e.begin, 10)
		h = append(h, ',')
		h = strconv.AppendUint(h, e.end, 10)
		h = append(h, "]}"...)
	}
	h = append(h, '}')
	for len(h)%8 != 0 {
		h = append(h, ' ')
	}
	if len(h) > MaxHeaderSize {
		return nil, fmt.Errorf("header of %d bytes exceeds the limit of %d that readers accept", len(h), MaxHeaderSize)
	}
	p.header = h
	return p, nil
}

// checkTensor checks that t can be written: a name, a supported dtype, a
// shape whose size matches the data held in the field of that dtype.
func checkTensor(t *Tensor) error {
	switch {
	case t.Name == "":
		return errors.New("a tensor has an empty name")
	case t.Name == metadataKey:
		return fmt.Errorf("tensor %s: name is reserved for the header's metadata", t.Name)
	case !utf8.ValidString(t.Name):
		return fmt.Errorf("tensor %q: name is not valid UTF-8", t.Name)
	}
	nbytes, ferr := byteLen(t.Name, t.DType, t.Shape)
	if ferr != nil {
		return ferr
	}
	size := uint64(t.DType.Size())
	if t.DType.IsFloat() {
		if t.Raw != nil {
			return fmt.Errorf("tensor %s: dtype %s takes its values from F32, but Raw is set", t.Name, t.DType)
		}
		if uint64(len(t.F32))*size != nbytes {
			return fmt.Errorf("tensor %s: shape %v needs %d values, F32 holds %d", t.Name, t.Shape, nbytes/size, len(t.F32))
		}
		return nil
	}
	if t.F32 != nil {
		return fmt.Errorf("tensor %s: dtype %s takes its bytes from Raw, but F32 is set", t.Name, t.DType)
	}
	if uint64(len(t.Raw)) != nbytes {
		return fmt.Errorf("tensor %s: shape %v of dtype %s needs %d bytes, Raw holds %d", t.Name, t.Shape, t.DType, nbytes, len(t.Raw))
	}
	return nil
}

// appendJSONString appends s (valid UTF-8) as a JSON string, escaping only
// what JSON requires.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}
