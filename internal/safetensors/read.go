package safetensors

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
)

// chunkSize is how many data bytes a read or write moves at a time: a
// multiple of every element size.
const chunkSize = 1 << 20

// Read reads and validates the checkpoint at path. See ReadFrom.
func Read(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	file, err := readFrom(f, st.Size(), path)
	if err != nil {
		return nil, err
	}
	file.Path = path
	return file, nil
}

// ReadFrom reads and validates a checkpoint of size bytes from r.
//
// Everything is checked before any tensor is returned: the header length
// against the size, the JSON header (syntax, field types, unique names),
// every dtype, that each shape's size matches its data_offsets, that the
// offsets tile the data section exactly, and the gotrain checksums when the
// metadata holds them. A file that fails any check returns a *FormatError
// (wrapping ErrFormat, ErrTruncated or ErrChecksum) and no File.
func ReadFrom(r io.ReaderAt, size int64) (*File, error) {
	return readFrom(r, size, "")
}

func readFrom(r io.ReaderAt, size int64, path string) (*File, error) {
	file, err := decode(r, size, path)
	if fe, ok := err.(*FormatError); ok {
		fe.File = path
	}
	return file, err
}

func truncErr(format string, args ...any) *FormatError {
	return &FormatError{Msg: fmt.Sprintf(format, args...), Err: ErrTruncated}
}

// readFull reads len(p) bytes at off. A short read is ErrTruncated: the
// size the caller gave promised those bytes.
func readFull(r io.ReaderAt, p []byte, off int64, tensor, what string) error {
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return &FormatError{Tensor: tensor, Err: ErrTruncated,
			Msg: fmt.Sprintf("file ends at byte %d, inside %s (bytes %d to %d)", off+int64(n), what, off, off+int64(len(p)))}
	}
	if tensor != "" {
		return fmt.Errorf("tensor %s: reading %s: %w", displayName(tensor), what, err)
	}
	return fmt.Errorf("reading %s: %w", what, err)
}

func decode(r io.ReaderAt, size int64, path string) (*File, error) {
	if size < 8 {
		return nil, truncErr("file is %d bytes, shorter than the 8-byte header length", max(size, 0))
	}
	var prefix [8]byte
	if err := readFull(r, prefix[:], 0, "", "the header length"); err != nil {
		return nil, wrapIO(path, err)
	}
	n := binary.LittleEndian.Uint64(prefix[:])
	switch {
	case n > MaxHeaderSize:
		return nil, formatErr("", "header length %d exceeds the limit of %d bytes (not a safetensors file, or a corrupt one)", n, MaxHeaderSize)
	case n > uint64(size-8):
		return nil, truncErr("header length %d exceeds the %d bytes that follow it in the file (%d bytes)", n, size-8, size)
	case n < 2:
		return nil, formatErr("", "header length %d is too short for a JSON object", n)
	}
	hdr := make([]byte, n)
	if err := readFull(r, hdr, 8, "", "the header"); err != nil {
		return nil, wrapIO(path, err)
	}
	entries, meta, ferr := parseHeader(hdr)
	if ferr != nil {
		return nil, ferr
	}
	dataStart := int64(8 + n)
	sorted, ferr := validate(entries, uint64(size-dataStart))
	if ferr != nil {
		return nil, ferr
	}

	// Write puts both checksums in; one without the other means a corrupt
	// key name, which would otherwise switch a check off unnoticed.
	_, hasHeaderCRC := meta[KeyHeaderCRC]
	if _, hasDataCRC := meta[KeyDataCRC]; hasDataCRC != hasHeaderCRC {
		have, lack := KeyDataCRC, KeyHeaderCRC
		if hasHeaderCRC {
			have, lack = lack, have
		}
		return nil, &FormatError{Err: ErrChecksum, Msg: fmt.Sprintf(
			"metadata has %s but not %s, which gotrain always writes with it: the header is corrupt", have, lack)}
	}
	var wantHeader, wantData uint32
	if hasHeaderCRC {
		var ferr *FormatError
		if wantHeader, ferr = parseCRC(KeyHeaderCRC, meta[KeyHeaderCRC]); ferr != nil {
			return nil, ferr
		}
		if wantData, ferr = parseCRC(KeyDataCRC, meta[KeyDataCRC]); ferr != nil {
			return nil, ferr
		}
		if got := headerDigest(entries, meta); got != wantHeader {
			return nil, &FormatError{Err: ErrChecksum, Msg: fmt.Sprintf(
				"header checksum is %s but metadata %s says %s: the header was corrupted, or edited by a tool that kept gotrain's metadata",
				formatCRC(got), KeyHeaderCRC, formatCRC(wantHeader))}
		}
	}

	file := &File{Metadata: meta, Tensors: make([]Tensor, len(sorted)), index: make(map[string]int, len(sorted))}
	var crc uint32
	var buf []byte
	if len(sorted) > 0 {
		buf = make([]byte, min(chunkSize, max(sorted[len(sorted)-1].end, 8)))
	}
	for i := range sorted {
		e := &sorted[i]
		t := &file.Tensors[i]
		*t = Tensor{Name: e.name, DType: e.dtype, Shape: e.shape}
		file.index[e.name] = i
		if err := readTensor(r, dataStart, e, t, buf, &crc); err != nil {
			return nil, wrapIO(path, err)
		}
	}
	if hasHeaderCRC && crc != wantData {
		return nil, &FormatError{Err: ErrChecksum, Msg: fmt.Sprintf(
			"data checksum is %s but metadata %s says %s: the tensor data was corrupted, or rewritten by a tool that kept gotrain's metadata",
			formatCRC(crc), KeyDataCRC, formatCRC(wantData))}
	}
	return file, nil
}

// wrapIO names the file in an I/O error; FormatErrors get it from readFrom.
func wrapIO(path string, err error) error {
	if _, ok := err.(*FormatError); ok || err == nil {
		return err
	}
	if path == "" {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return fmt.Errorf("checkpoint %s: %w", path, err)
}

// readTensor reads one tensor's data into t, chunk by chunk through buf,
// extending the running CRC-32C of the data section.
func readTensor(r io.ReaderAt, dataStart int64, e *entry, t *Tensor, buf []byte, crc *uint32) error {
	nbytes := int(e.end - e.begin)
	size := e.dtype.Size()
	off := dataStart + int64(e.begin)
	what := "its data"
	if !e.dtype.IsFloat() {
		t.Raw = make([]byte, nbytes)
		if err := readFull(r, t.Raw, off, e.name, what); err != nil {
			return err
		}
		*crc = crc32.Update(*crc, castagnoli, t.Raw)
		return nil
	}
	t.F32 = make([]float32, nbytes/size)
	out := t.F32
	for done := 0; done < nbytes; {
		chunk := buf[:min(len(buf), nbytes-done)]
		if err := readFull(r, chunk, off+int64(done), e.name, what); err != nil {
			return err
		}
		*crc = crc32.Update(*crc, castagnoli, chunk)
		switch e.dtype {
		case F32:
			for i := range len(chunk) / 4 {
				out[i] = math.Float32frombits(binary.LittleEndian.Uint32(chunk[4*i:]))
			}
		case F16:
			for i := range len(chunk) / 2 {
				out[i] = F16ToF32(binary.LittleEndian.Uint16(chunk[2*i:]))
			}
		case BF16:
			for i := range len(chunk) / 2 {
				out[i] = BF16ToF32(binary.LittleEndian.Uint16(chunk[2*i:]))
			}
		}
		out = out[len(chunk)/size:]
		done += len(chunk)
	}
	return nil
}
