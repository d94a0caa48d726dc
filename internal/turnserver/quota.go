package turnserver

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"
)

// pendingTimeout is how long an admitted allocation may stay unconfirmed
// before its reservation is given back. pion/turn confirms or fails an
// admitted allocation within the same request, so this only guards against
// a path that reports neither.
const pendingTimeout = 10 * time.Second

// reservation is an admitted allocation that pion/turn has not yet reported
// as created or failed.
type reservation struct {
	clientID string
	at       time.Time
}

// quota counts allocations per client id and in total and admits new ones.
//
// pion/turn asks its QuotaHandler before creating an allocation and reports
// the outcome through its EventHandler, so admission and creation are two
// steps. Requests on one socket or TCP connection are handled one at a time,
// but different sockets run concurrently; admission therefore reserves a slot
// (keyed by the client's transport address) that the creation event confirms
// and an error event gives back. That keeps the caps exact under concurrency.
//
// It also remembers which (client address, username) pairs own a live
// allocation, so that an allocation opened with a valid credential can be
// refreshed after the credential's expiry (the expiry gates new allocations
// only, as in coturn; WebRTC sessions outlive the 300 s credential TTL).
type quota struct {
	now       func() time.Time
	perClient int // 0 = unlimited
	max       int // 0 = unlimited

	mu      sync.Mutex
	total   int                      // live + reserved allocations
	clients map[string]int           // client id -> live + reserved
	pending map[string][]reservation // client transport address -> reservations
	owners  map[string]int           // client transport address + "\x00" + username -> live allocations
	live    int                      // confirmed allocations
	changed chan struct{}            // closed and replaced whenever live changes
}

func newQuota(now func() time.Time, perClient, max int) *quota {
	q := &quota{
		now:       now,
		perClient: perClient,
		max:       max,
		clients:   make(map[string]int),
		pending:   make(map[string][]reservation),
		owners:    make(map[string]int),
		changed:   make(chan struct{}),
	}
	return q
}

// addrKey identifies a client transport address across UDP and TCP.
func addrKey(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.Network() + "/" + a.String()
}

func ownerKey(src net.Addr, username string) string {
	return addrKey(src) + "\x00" + username
}

// admit reserves a slot for a new allocation of clientID from src, or
// reports false when a cap is reached.
func (q *quota) admit(clientID string, src net.Addr) bool {
	now := q.now()
	q.mu.Lock()
	defer q.mu.Unlock()
	q.expireReservationsLocked(now)
	if q.max > 0 && q.total >= q.max {
		return false
	}
	if q.perClient > 0 && q.clients[clientID] >= q.perClient {
		return false
	}
	q.total++
	q.clients[clientID]++
	k := addrKey(src)
	q.pending[k] = append(q.pending[k], reservation{clientID: clientID, at: now})
	return true
}

// created confirms an allocation; it takes over the reservation made by
// admit for the same client and source address, if any.
func (q *quota) created(clientID, username string, src net.Addr) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.takeReservationLocked(addrKey(src), clientID) {
		// Not admitted through us (cannot happen with pion/turn v4.1.4);
		// count it so that the deletion balances.
		q.total++
		q.clients[clientID]++
	}
	q.owners[ownerKey(src, username)]++
	q.live++
	q.notifyLocked()
}

// failed gives back the reservations of a request from src that ended in
// an error before the allocation was created.
func (q *quota) failed(src net.Addr) {
	q.mu.Lock()
	defer q.mu.Unlock()
	k := addrKey(src)
	for _, r := range q.pending[k] {
		q.releaseLocked(r.clientID)
	}
	delete(q.pending, k)
}

// deleted accounts for an allocation that went away.
func (q *quota) deleted(clientID, username string, src net.Addr) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.releaseLocked(clientID)
	ok := ownerKey(src, username)
	if q.owners[ok] <= 1 {
		delete(q.owners, ok)
	} else {
		q.owners[ok]--
	}
	if q.live > 0 {
		q.live--
		q.notifyLocked()
	}
}

func (q *quota) notifyLocked() {
	close(q.changed)
	q.changed = make(chan struct{})
}

// owns reports whether src holds a live allocation opened with username.
func (q *quota) owns(src net.Addr, username string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.owners[ownerKey(src, username)] > 0
}

// counts returns the number of live allocations and of clients holding
// live or reserved ones.
func (q *quota) counts() (allocations, clients int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.live, len(q.clients)
}

// waitLive waits until exactly n allocations are live.
func (q *quota) waitLive(ctx context.Context, n int) error {
	for {
		q.mu.Lock()
		live, ch := q.live, q.changed
		q.mu.Unlock()
		if live == n {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("%d allocations live, waiting for %d: %w", live, n, ctx.Err())
		}
	}
}

func (q *quota) takeReservationLocked(k, clientID string) bool {
	rs := q.pending[k]
	for i, r := range rs {
		if r.clientID != clientID {
			continue
		}
		rs = append(rs[:i], rs[i+1:]...)
		if len(rs) == 0 {
			delete(q.pending, k)
		} else {
			q.pending[k] = rs
		}
		return true
	}
	return false
}

func (q *quota) releaseLocked(clientID string) {
	if q.total > 0 {
		q.total--
	}
	if n := q.clients[clientID]; n <= 1 {
		delete(q.clients, clientID)
	} else {
		q.clients[clientID] = n - 1
	}
}

func (q *quota) expireReservationsLocked(now time.Time) {
	for k, rs := range q.pending {
		kept := rs[:0]
		for _, r := range rs {
			if now.Sub(r.at) > pendingTimeout {
				q.releaseLocked(r.clientID)
				continue
			}
			kept = append(kept, r)
		}
		if len(kept) == 0 {
			delete(q.pending, k)
		} else {
			q.pending[k] = kept
		}
	}
}
