package archive

import "sync"

// committer is the group-commit loop: writers append records and enqueue
// their stream; the loop takes every queued stream at once and syncs them
// in parallel. Writes that arrive while a batch is being synced wait for the
// next batch, so under load each sync covers many fragments and streams.
type committer struct {
	maxParallel int

	mu     sync.Mutex
	queued map[*stream]struct{}
	order  []*stream
	closed bool

	wake chan struct{}
	quit chan struct{}
	done chan struct{}
}

func newCommitter(maxParallel int) *committer {
	c := &committer{
		maxParallel: maxParallel,
		queued:      make(map[*stream]struct{}),
		wake:        make(chan struct{}, 1),
		quit:        make(chan struct{}),
		done:        make(chan struct{}),
	}
	go c.loop()
	return c
}

func (c *committer) enqueue(st *stream) {
	c.mu.Lock()
	if _, ok := c.queued[st]; !ok {
		c.queued[st] = struct{}{}
		c.order = append(c.order, st)
	}
	closed := c.closed
	c.mu.Unlock()
	if closed {
		// The loop is gone; sync in the caller.
		st.flush()
		return
	}
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *committer) take() []*stream {
	c.mu.Lock()
	defer c.mu.Unlock()
	batch := c.order
	c.order = nil
	clear(c.queued)
	return batch
}

func (c *committer) loop() {
	defer close(c.done)
	for {
		select {
		case <-c.wake:
		case <-c.quit:
			c.run(c.take())
			return
		}
		c.run(c.take())
	}
}

// run syncs a batch, at most maxParallel streams at a time.
func (c *committer) run(batch []*stream) {
	switch len(batch) {
	case 0:
		return
	case 1:
		batch[0].flush()
		return
	}
	sem := make(chan struct{}, c.maxParallel)
	var wg sync.WaitGroup
	for _, st := range batch {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			st.flush()
			<-sem
		}()
	}
	wg.Wait()
}

// close syncs what is queued and stops the loop; later enqueues sync
// synchronously.
func (c *committer) close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	close(c.quit)
	<-c.done
	c.run(c.take())
}
