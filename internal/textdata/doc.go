// Package textdata turns a folder of text (by default the Go standard
// library's own sources) into batches of token windows for training a
// language model.
//
// # Reading
//
// Load reads the files named by Options.Paths: a file is taken as it is, a
// directory is walked for files whose name ends in Options.Ext (hidden
// directories such as .git are skipped). With no paths, the corpus is every
// *.go file under $(go env GOROOT)/src. The list is sorted by path, so the
// corpus is the same on every run and every machine with the same tree.
//
// # Split
//
// Files, not bytes, are split between training and validation, so that no
// file is seen in both: file i (0-based, in sorted order) goes to
// validation when (i+1) % ValEvery == 0, every 20th file by default. A
// corpus of fewer files than that sends its last file to validation; a
// single file is split at a line break near 1/ValEvery from its end.
//
// # Tokens
//
// Encode tokenises each file (in parallel; the result does not depend on
// the number of workers) and concatenates them, with the tokenizer's
// end-of-text token after each file as the separator. Bytes counts the raw
// text only, for bits per byte: the separators cost the model loss but add
// no bytes, which makes the measure slightly pessimistic.
//
// # Batches
//
// A Loader serves training batches of B windows of T+1 consecutive tokens:
// tokens = window[:T], targets = window[1:], row-major [B, T]. Window
// starts are uniform over the stream; batch k draws them from a PCG
// generator seeded with (seed, k), so the loader's whole state is the seed
// and Pos, the number of batches served. Saving Pos and restoring it with
// SetPos makes a resumed run see exactly the batches the uninterrupted run
// would have.
//
// Validation uses a fixed sequence of windows (Windows): n windows spread
// evenly over the validation stream, end to end (stride T, every token
// predicted once) when n is as large as the stream allows.
//
// # Dimensions
//
//	B  batch: windows per batch
//	T  sequence length: predicted positions per window
//
// # Errors
//
// Functions return errors naming the file or the sizes at fault; nothing
// panics on bad input.
package textdata
