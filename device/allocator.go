package device

import (
	"errors"
	"fmt"
)

// allocator is a caching allocator over a driver: freed blocks go back to a
// free list of their size class and are reused without calling the driver,
// so a training loop that frees and allocates the same sizes touches
// cudaMalloc/cudaFree only in its first step.
//
// Size classes: requests round up to 512 bytes below 1 MiB and to 2 MiB
// above, so a class serves requests within 0.2% (large) or 512 bytes
// (small) of each other.
type allocator struct {
	d       driver
	free    map[int64][]ptr
	size    map[ptr]int64 // class of each live block
	stats   Stats
	planned int64 // the graph's planned peak, for out-of-memory errors
}

// Stats are the allocator's counters, in bytes.
type Stats struct {
	InUse    int64 // held by live buffers (rounded to size classes)
	Cached   int64 // freed, kept for reuse
	Peak     int64 // highest InUse
	Allocs   int64 // calls to the driver's alloc
	Reuses   int64 // requests served from the cache
	Requests int64
}

func newAllocator(d driver) *allocator {
	return &allocator{d: d, free: map[int64][]ptr{}, size: map[ptr]int64{}}
}

func sizeClass(bytes int64) int64 {
	const small, large = 512, 2 << 20
	if bytes <= 0 {
		return small
	}
	if bytes < 1<<20 {
		return (bytes + small - 1) / small * small
	}
	return (bytes + large - 1) / large * large
}

// errOutOfMemory is wrapped by allocation failures.
var errOutOfMemory = errors.New("out of device memory")

func (a *allocator) alloc(bytes int64) (ptr, error) {
	class := sizeClass(bytes)
	a.stats.Requests++
	if list := a.free[class]; len(list) > 0 {
		p := list[len(list)-1]
		a.free[class] = list[:len(list)-1]
		a.stats.Cached -= class
		a.stats.Reuses++
		a.use(p, class)
		return p, nil
	}
	p, err := a.d.alloc(class)
	if err != nil {
		// Give the cache back to the device and try once more.
		a.release()
		if p, err = a.d.alloc(class); err != nil {
			free, total, _ := a.d.memInfo()
			return 0, fmt.Errorf("device: allocating %d bytes (%d requested): %w: %d of %d bytes free on %s; gotrain holds %d in use, peak %d; the graph's planned peak is %d: %v",
				class, bytes, errOutOfMemory, free, total, a.d.name(), a.stats.InUse, a.stats.Peak, a.planned, err)
		}
	}
	a.stats.Allocs++
	a.use(p, class)
	return p, nil
}

func (a *allocator) use(p ptr, class int64) {
	a.size[p] = class
	a.stats.InUse += class
	a.stats.Peak = max(a.stats.Peak, a.stats.InUse)
}

func (a *allocator) freeBlock(p ptr) error {
	class, ok := a.size[p]
	if !ok {
		return fmt.Errorf("device: free of %#x: not a live allocation (a view, or freed twice)", uintptr(p))
	}
	delete(a.size, p)
	a.stats.InUse -= class
	a.stats.Cached += class
	a.free[class] = append(a.free[class], p)
	return nil
}

// release returns every cached block to the driver.
func (a *allocator) release() {
	for class, list := range a.free {
		for _, p := range list {
			a.d.free(p)
			a.stats.Cached -= class
		}
		delete(a.free, class)
	}
}
