package signaling

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/openkvs/openkvs/internal/awsapi"
)

// TestConnectRate drives KVS' limit of 3 ConnectAsMaster and 3
// ConnectAsViewer calls a second per channel with the fake clock: the
// 4th connect of a role in the same second is refused with
// ClientLimitExceededException before the upgrade, the other role and
// other channels are unaffected, tokens come back with time, and the
// per-channel state goes once it has refilled.
func TestConnectRate(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.ConnectRate = 0 }) // KVS' default
	a, b := h.channel("rate-a", 60), h.channel("rate-b", 60)
	viewers := map[string]*client{} // of channel a
	var master *client
	for i, st := range []struct {
		advance time.Duration
		arn     string
		client  string // "" connects as master
		refused string // the refused operation, "" if the connect works
	}{
		{arn: a, client: "v1"},
		{arn: a, client: "v2"},
		{arn: a, client: "v3"},
		{arn: a, client: "v4", refused: "ConnectAsViewer"},
		{arn: a, client: "v1", refused: "ConnectAsViewer"}, // a reconnect counts too
		{arn: a}, // masters are counted apart
		{arn: a},
		{arn: a},
		{arn: a, refused: "ConnectAsMaster"},
		{arn: b, client: "v1"}, // another channel
		{arn: b, client: "v2"},
		{arn: b, client: "v3"},
		{arn: b},
		{advance: 500 * time.Millisecond, arn: a, client: "v5"}, // 1.5 tokens back
		{arn: a, client: "v6", refused: "ConnectAsViewer"},
		{advance: time.Second, arn: a, client: "v6"}, // refilled to the burst of 3
		{arn: a, client: "v7"},
		{arn: a, client: "v8"},
		{arn: a, client: "v9", refused: "ConnectAsViewer"},
		{arn: a},
	} {
		h.clock.Add(st.advance)
		c, res, err := h.tryDial(h.presign(st.arn, st.client, presignOpts{}))
		step := fmt.Sprintf("step %d (%s %q)", i, st.arn[strings.LastIndex(st.arn, ":")+1:], st.client)
		if st.refused == "" {
			if err != nil {
				t.Fatalf("%s: refused: %v %s", step, err, res)
			}
			c.name = st.client
			switch {
			case st.arn != a:
			case st.client == "":
				c.name, master = "master", c
			default:
				viewers[st.client] = c
			}
			continue
		}
		if err == nil {
			t.Fatalf("%s: connected, want ClientLimitExceededException", step)
		}
		if res.status != 400 || res.code != string(awsapi.ClientLimitExceeded) || !strings.Contains(res.body, st.refused) || !strings.Contains(res.body, `"__type"`) {
			t.Fatalf("%s: got %s, want 400 %s naming %s", step, res, awsapi.ClientLimitExceeded, st.refused)
		}
	}
	// The refused v1 replaced no one, and the last master is the master.
	viewers["v1"].send(msg(ActionSDPOffer, "", offer, ""))
	expectFrom(t, master, ActionSDPOffer, "v1", offer)

	connects := func() int {
		h.svc.mu.Lock()
		defer h.svc.mu.Unlock()
		return len(h.svc.connects)
	}
	// b's connects were 1.5 s ago: refilled, dropped; a's are not.
	h.svc.sweep()
	if n := connects(); n != 1 {
		t.Fatalf("%d channels' connect limits after the sweep, want 1 (channel a)", n)
	}
	h.clock.Add(time.Second)
	h.svc.sweep()
	if n := connects(); n != 0 {
		t.Fatalf("%d channels' connect limits left once refilled, want 0: the map must not grow", n)
	}
}

// TestConnectRateConfig: Config.ConnectRate sets how many connects of one
// role a channel takes in one instant; negative lifts the limit and keeps
// no per-channel state.
func TestConnectRateConfig(t *testing.T) {
	const attempts = 20
	for _, tc := range []struct {
		rate, want int
	}{
		{rate: 0, want: DefaultConnectRate},
		{rate: 1, want: 1},
		{rate: 5, want: 5},
		{rate: -1, want: attempts},
	} {
		t.Run(fmt.Sprint(tc.rate), func(t *testing.T) {
			h := newHarness(t, func(c *Config) { c.ConnectRate = tc.rate })
			arn := h.channel("rate", 60)
			got := 0
			for range attempts {
				_, res, err := h.tryDial(h.presign(arn, "", presignOpts{}))
				if err != nil {
					if res.code != string(awsapi.ClientLimitExceeded) {
						t.Fatalf("refused with %s, want %s", res, awsapi.ClientLimitExceeded)
					}
					break
				}
				got++
			}
			if got != tc.want {
				t.Errorf("%d connects in one instant, want %d", got, tc.want)
			}
			h.svc.mu.Lock()
			n := len(h.svc.connects)
			h.svc.mu.Unlock()
			if tc.rate < 0 && n != 0 {
				t.Errorf("no limit, yet %d channels' connect limits kept", n)
			}
		})
	}
}
