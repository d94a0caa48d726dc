package turnserver

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/turn/v4"
)

func TestMintCredentialMatchesTURNRESTAPI(t *testing.T) {
	// pion/turn's own handler for the same scheme must accept our
	// credentials: the format is shared with coturn and other servers.
	expires := time.Now().Add(time.Hour)
	user, pass := MintCredential(testSecret, "viewer-1", expires)
	if want := strconv.FormatInt(expires.Unix(), 10) + ":viewer-1"; user != want {
		t.Fatalf("username = %q, want %q", user, want)
	}
	key, ok := turn.LongTermTURNRESTAuthHandler(string(testSecret), nil)(user, DefaultRealm, nil)
	if !ok {
		t.Fatal("pion's TURN REST handler rejected our username")
	}
	if want := turn.GenerateAuthKey(user, DefaultRealm, pass); string(key) != string(want) {
		t.Fatal("pion's TURN REST handler derives a different key from our password")
	}
}

func TestParseUsername(t *testing.T) {
	tests := []struct {
		in       string
		expires  int64
		clientID string
		err      bool
	}{
		{in: "1800000300:viewer", expires: 1800000300, clientID: "viewer"},
		{in: "1800000300:", expires: 1800000300, clientID: ""},
		{in: "1800000300:arn:aws:kinesisvideo:us-west-2:1:channel/x/1", expires: 1800000300, clientID: "arn:aws:kinesisvideo:us-west-2:1:channel/x/1"},
		{in: "0:x", expires: 0, clientID: "x"},
		{in: "viewer", err: true},
		{in: "", err: true},
		{in: ":viewer", err: true},
		{in: "-5:viewer", err: true},
		{in: "+5:viewer", err: true},
		{in: "12a:viewer", err: true},
		{in: "99999999999999999999:viewer", err: true},
		{in: "253402300800:viewer", err: true},
	}
	for _, tt := range tests {
		exp, id, err := ParseUsername(tt.in)
		if tt.err {
			if !errors.Is(err, ErrBadUsername) {
				t.Errorf("ParseUsername(%q) error = %v, want ErrBadUsername", tt.in, err)
			}
			continue
		}
		if err != nil || exp.Unix() != tt.expires || id != tt.clientID {
			t.Errorf("ParseUsername(%q) = %d, %q, %v; want %d, %q", tt.in, exp.Unix(), id, err, tt.expires, tt.clientID)
		}
	}
}

func FuzzParseUsername(f *testing.F) {
	f.Add("1800000300:viewer")
	f.Add("0:")
	f.Add("-1:x")
	f.Add("1:a:b:c")
	f.Add("253402300799:\x00")
	f.Fuzz(func(t *testing.T, in string) {
		exp, id, err := ParseUsername(in)
		if err != nil {
			return
		}
		// Whatever parses re-mints to an equivalent username.
		user, _ := MintCredential(testSecret, id, exp)
		exp2, id2, err := ParseUsername(user)
		if err != nil || !exp2.Equal(exp) || id2 != id {
			t.Fatalf("%q parsed to (%v, %q) but its re-mint %q parses to (%v, %q, %v)", in, exp, id, user, exp2, id2, err)
		}
		if !strings.HasSuffix(in, ":"+id) {
			t.Fatalf("client id %q is not the tail of %q", id, in)
		}
	})
}

func TestAuthenticate(t *testing.T) {
	clock := newFakeClock()
	s := &Server{realm: DefaultRealm, secret: testSecret, now: clock.Now, log: testLogger(t), quota: newQuota(clock.Now, 0, 0)}
	now := clock.Now()
	valid, validPass := MintCredential(testSecret, "c", now.Add(time.Minute))
	edge, _ := MintCredential(testSecret, "c", now)
	expired, _ := MintCredential(testSecret, "c", now.Add(-time.Second))
	src := udpAddr("192.0.2.1:4000")

	tests := []struct {
		name, user, realm string
		own               bool // src holds an allocation opened with user
		ok                bool
	}{
		{"valid", valid, DefaultRealm, false, true},
		{"expires this second", edge, DefaultRealm, false, true},
		{"expired", expired, DefaultRealm, false, false},
		{"expired but owns an allocation", expired, DefaultRealm, true, true},
		{"wrong realm", valid, "other", false, false},
		{"malformed", "nocolon", DefaultRealm, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.own {
				s.quota.created("c", tt.user, src)
				defer s.quota.deleted("c", tt.user, src)
			}
			key, ok := s.authenticate(tt.user, tt.realm, src)
			if ok != tt.ok {
				t.Fatalf("authenticate ok = %v, want %v", ok, tt.ok)
			}
			if ok && tt.user == valid && string(key) != string(turn.GenerateAuthKey(valid, DefaultRealm, validPass)) {
				t.Fatal("key does not match the minted password")
			}
		})
	}
}

func TestCredentialsUseServerClock(t *testing.T) {
	clock := newFakeClock()
	s := &Server{secret: testSecret, now: clock.Now}
	user, pass, expires := s.Credentials("m", 300*time.Second)
	if want := clock.Now().Add(300 * time.Second); !expires.Equal(want) {
		t.Fatalf("expires = %v, want %v", expires, want)
	}
	exp, id, err := ParseUsername(user)
	if err != nil || !exp.Equal(expires) || id != "m" {
		t.Fatalf("ParseUsername(%q) = %v, %q, %v", user, exp, id, err)
	}
	if pass != sign(testSecret, user) {
		t.Fatal("password is not the HMAC of the username")
	}
}
