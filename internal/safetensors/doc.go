// Package safetensors reads and writes checkpoints in Hugging Face's
// safetensors format, so that gotrain's GPT-2 weights load from and save to
// the same model.safetensors files as the transformers library.
//
// # File layout
//
//	bytes 0..8      N, the header length, a little-endian uint64
//	bytes 8..8+N    the header: a UTF-8 JSON object, padded with spaces
//	                {"__metadata__": {"key": "value", ...},
//	                 "wte.weight": {"dtype": "F32", "shape": [50257, 768],
//	                                "data_offsets": [begin, end]}, ...}
//	bytes 8+N..     the data section: every tensor's elements, row-major,
//	                little-endian, at [begin, end) relative to its start
//
// The tensors' byte ranges tile the data section: sorted by offset, each
// begins where the previous one ends, the first at 0 and the last at the
// end of the file. Each range is exactly NumElements(shape)·Size(dtype)
// bytes. A shape of [] is a scalar (one element); a zero dimension makes an
// empty tensor with begin == end.
//
// Supported dtypes are F32, F16, BF16 (read into float32 exactly; written
// from float32 with round to nearest, ties to even) and I32, I64, U8 (kept
// as raw little-endian bytes). Other safetensors dtypes (F64, I8, BOOL, the
// FP8 formats, ...) are reported as unsupported.
//
// # Integrity
//
// The format has no checksum, so Write adds two to the metadata, each the
// CRC-32C of something as 8 lowercase hex digits: KeyDataCRC of the data
// section and KeyHeaderCRC of the header's content (names, dtypes, shapes,
// offsets and the other metadata; see headerDigest). Read checks each one
// that is present, so a flipped bit anywhere in a gotrain-written file is
// reported; files from other tools, without them, are accepted on the
// format's checks alone. A tool that rewrites a gotrain file while keeping
// its metadata makes the checksums stale, and Read says so.
//
// # Errors
//
// Nothing in this package panics on bad input, however corrupt. Read and
// ReadFrom validate the whole file before returning any tensor: a file that
// fails a check, a truncated one included, yields a *FormatError that names
// the file, the tensor at fault and what was expected, and wraps ErrFormat,
// ErrTruncated or ErrChecksum. Write validates its tensors before touching
// the disk and replaces the target atomically (see Write). (*File).Load
// checks every tensor against the model before copying any, and reports all
// the mismatches at once in a *LoadError.
package safetensors
