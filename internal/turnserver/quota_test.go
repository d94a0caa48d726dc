package turnserver

import (
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"
)

func udpAddr(s string) *net.UDPAddr { return net.UDPAddrFromAddrPort(netipMust(s)) }

func TestQuotaAccounting(t *testing.T) {
	clock := newFakeClock()
	q := newQuota(clock.Now, 2, 3)
	a1, a2, b1 := udpAddr("192.0.2.1:1"), udpAddr("192.0.2.1:2"), udpAddr("192.0.2.2:1")
	tcpA1 := &net.TCPAddr{IP: a1.IP, Port: a1.Port}

	type step struct {
		do        func() bool
		want      bool
		live, cls int
	}
	admit := func(c string, src net.Addr) func() bool { return func() bool { return q.admit(c, src) } }
	run := func(f func()) func() bool { return func() bool { f(); return true } }
	steps := []step{
		{admit("a", a1), true, 0, 1},
		{run(func() { q.created("a", "u:a", a1) }), true, 1, 1},
		{admit("a", tcpA1), true, 1, 1}, // same address string, other network: distinct
		{run(func() { q.failed(tcpA1) }), true, 1, 1},
		{admit("a", a2), true, 1, 1},
		{run(func() { q.created("a", "u:a", a2) }), true, 2, 1},
		{admit("a", a2), false, 2, 1}, // per-client cap
		{admit("b", b1), true, 2, 2},
		{admit("c", b1), false, 2, 2}, // total cap counts the reservation
		{run(func() { q.created("b", "u:b", b1) }), true, 3, 2},
		{run(func() { q.deleted("a", "u:a", a1) }), true, 2, 2},
		{admit("c", b1), true, 2, 3},
		{run(func() { q.failed(b1) }), true, 2, 2},
	}
	for i, st := range steps {
		if got := st.do(); got != st.want {
			t.Fatalf("step %d: got %v, want %v", i, got, st.want)
		}
		if live, cls := q.counts(); live != st.live || cls != st.cls {
			t.Fatalf("step %d: counts = %d live, %d clients; want %d, %d", i, live, cls, st.live, st.cls)
		}
	}
	if !q.owns(a2, "u:a") || q.owns(a1, "u:a") || q.owns(a2, "u:b") {
		t.Fatal("owns does not follow live allocations")
	}
}

func TestQuotaReservationExpires(t *testing.T) {
	clock := newFakeClock()
	q := newQuota(clock.Now, 1, 0)
	src := udpAddr("192.0.2.1:1")
	if !q.admit("a", src) {
		t.Fatal("first admit refused")
	}
	if q.admit("a", udpAddr("192.0.2.1:2")) {
		t.Fatal("second admit accepted while the first is reserved")
	}
	clock.Advance(pendingTimeout + time.Second)
	if !q.admit("a", udpAddr("192.0.2.1:2")) {
		t.Fatal("a stale reservation still holds the slot")
	}
}

func TestQuotaConcurrentAdmission(t *testing.T) {
	q := newQuota(time.Now, 0, 50)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		admitted int
	)
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			src := &net.UDPAddr{IP: net.IPv4(192, 0, 2, byte(i)), Port: 1000 + i}
			if q.admit("c", src) {
				q.created("c", "u:c", src)
				mu.Lock()
				admitted++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if live, _ := q.counts(); admitted != 50 || live != 50 {
		t.Fatalf("admitted %d, live %d; want exactly 50", admitted, live)
	}
}

func netipMust(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }
