package bench

// Named problem sizes shared by the benchmarks (the side of a square matrix).
const (
	Small  = 256
	Medium = 512
	Large  = 1024
)

// namedSizes lists the sizes in order, with their names for sub-benchmarks.
var namedSizes = []struct {
	Name string
	N    int
}{
	{"Small", Small},
	{"Medium", Medium},
	{"Large", Large},
}
