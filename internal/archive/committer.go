package archive

import "sync"

// committer makes written records durable. Each stream with unsynced
// records gets one flush at a time: a write that arrives while its stream
// is being synced waits for the next flush of that stream, which then
// covers every record written meanwhile. Streams are synced independently
// (at most maxParallel at once), so the file system merges concurrent
// syncs into shared journal commits, and one slow sync delays only its own
// stream, not the others' next commit.
type committer struct {
	sem chan struct{} // bounds concurrent flushes

	mu     sync.Mutex
	active map[*stream]bool // being flushed; true: flush again afterwards
	closed bool
	wg     sync.WaitGroup
}

func newCommitter(maxParallel int) *committer {
	return &committer{sem: make(chan struct{}, maxParallel), active: make(map[*stream]bool)}
}

// enqueue asks for st's pending writes to be synced.
func (c *committer) enqueue(st *stream) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		st.flush() // no more background flushes: sync in the caller
		return
	}
	if _, ok := c.active[st]; ok {
		c.active[st] = true
		c.mu.Unlock()
		return
	}
	c.active[st] = false
	c.wg.Add(1)
	c.mu.Unlock()
	go c.flushLoop(st)
}

// flushLoop flushes st until no write arrived during its last flush.
func (c *committer) flushLoop(st *stream) {
	defer c.wg.Done()
	c.sem <- struct{}{}
	defer func() { <-c.sem }()
	for {
		st.flush()
		c.mu.Lock()
		if !c.active[st] {
			delete(c.active, st)
			c.mu.Unlock()
			return
		}
		c.active[st] = false
		c.mu.Unlock()
	}
}

// close waits for running flushes; later enqueues sync synchronously.
func (c *committer) close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.wg.Wait()
}
