package tokenizer

import (
	"sync"
	"sync/atomic"
)

// pieceCache maps pieces to their tokens. Most look-ups hit once a corpus
// has been read a little, so reads take no lock: a frozen map, never written
// after it is published, is read through an atomic pointer, and new entries
// go to a small map under a mutex. When the small map reaches half the
// frozen one's size (at least 1024 entries), both are copied into a new
// frozen map, so each entry is copied O(1) times on average. When the total
// would pass the capacity, the old frozen entries are dropped.
type pieceCache struct {
	frozen atomic.Pointer[map[string][]int32]
	mu     sync.Mutex
	recent map[string][]int32
	cap    int
}

func newPieceCache(capacity int) *pieceCache {
	return &pieceCache{recent: map[string][]int32{}, cap: capacity}
}

func (c *pieceCache) get(piece []byte) ([]int32, bool) {
	if m := c.frozen.Load(); m != nil {
		if ids, ok := (*m)[string(piece)]; ok {
			return ids, true
		}
	}
	c.mu.Lock()
	ids, ok := c.recent[string(piece)]
	c.mu.Unlock()
	return ids, ok
}

// put stores a copy of ids.
func (c *pieceCache) put(piece []byte, ids []int32) {
	if c.cap <= 0 {
		return
	}
	ids = append([]int32(nil), ids...)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.recent[string(piece)] = ids
	var old map[string][]int32
	if m := c.frozen.Load(); m != nil {
		old = *m
	}
	if len(c.recent) < max(1024, len(old)/2) && len(c.recent) < c.cap {
		return
	}
	if len(old)+len(c.recent) > c.cap {
		old = nil
	}
	merged := make(map[string][]int32, len(old)+len(c.recent))
	for k, v := range old {
		merged[k] = v
	}
	for k, v := range c.recent {
		merged[k] = v
	}
	c.frozen.Store(&merged)
	c.recent = map[string][]int32{}
}

// len returns the number of cached pieces.
func (c *pieceCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(c.recent)
	if m := c.frozen.Load(); m != nil {
		n += len(*m)
	}
	return n
}
