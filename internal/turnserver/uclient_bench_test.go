package turnserver

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pion/turn/v4"
)

// BenchmarkUClient runs the load of BASELINES.md, coturn's
// `turnutils_uclient -n 2000 -m 20 -l 1000 -z 1 -c` (20 clients, 2000
// messages of 1000 bytes each, 1 ms apart, through the relay to a
// turnutils_peer echo peer), against coturn itself, a bare pion/turn server
// and ours, all on 127.0.0.1 in the same run. It reports the tool's total
// transmit time (seconds, lower is better) and loss. It needs Debian's
// coturn package and is skipped without it or under -short.
func BenchmarkUClient(b *testing.B) {
	if testing.Short() {
		b.Skip("long benchmark")
	}
	for _, tool := range []string{"turnutils_uclient", "turnutils_peer"} {
		if _, err := exec.LookPath(tool); err != nil {
			b.Skipf("%s not installed (Debian package coturn)", tool)
		}
	}
	for _, server := range []string{"coturn", "pion-bare", "openkvs", "openkvs-2sockets"} {
		b.Run("server="+server, func(b *testing.B) {
			peerPort := freeUDPPort(b)
			startProcess(b, "turnutils_peer", "-L", "127.0.0.1", "-p", strconv.Itoa(peerPort))
			var addr, user, pass string
			switch server {
			case "coturn":
				if _, err := exec.LookPath("turnserver"); err != nil {
					b.Skip("turnserver not installed")
				}
				port := freeUDPPort(b)
				startProcess(b, "turnserver", "-n", "--lt-cred-mech", "--allow-loopback-peers",
					"--user", "bench:bench", "--realm", DefaultRealm, "--listening-ip", "127.0.0.1",
					"--relay-ip", "127.0.0.1", "-p", strconv.Itoa(port), "--no-tls", "--no-dtls", "--no-cli",
					"--pidfile", b.TempDir()+"/turnserver.pid", "--log-file", "stdout", "--no-stdout-log")
				addr, user, pass = "127.0.0.1:"+strconv.Itoa(port), "bench", "bench"
				waitSTUN(b, addr)
			case "pion-bare":
				addr, user, pass = startBarePion(b), "bench", "bench"
			case "openkvs", "openkvs-2sockets":
				n := 1
				if server == "openkvs-2sockets" {
					n = 2
				}
				ts := startServer(b, func(c *Config) {
					conns, err := ListenUDP(context.Background(), "udp4", "127.0.0.1:0", n)
					if err != nil {
						b.Fatal(err)
					}
					c.UDPConns = conns
					c.MaxAllocationsPerClient = 100
				})
				addr = ts.udpAddr
				user, pass, _ = ts.Credentials("uclient", time.Hour)
			}
			_, port, _ := net.SplitHostPort(addr)
			var secs, loss float64
			for b.Loop() {
				out, err := exec.Command("turnutils_uclient", "-n", "2000", "-m", "20", "-l", "1000", "-z", "1", "-c",
					"-e", "127.0.0.1", "-r", strconv.Itoa(peerPort), "-p", port, "-u", user, "-w", pass,
					"127.0.0.1").CombinedOutput()
				if err != nil {
					b.Fatalf("turnutils_uclient: %v\n%s", err, tail(out))
				}
				s, l, err := parseUClient(out)
				if err != nil {
					b.Fatalf("%v\n%s", err, tail(out))
				}
				secs, loss = secs+s, loss+l
			}
			b.ReportMetric(secs/float64(b.N), "transmit_s")
			b.ReportMetric(loss/float64(b.N), "loss_%")
		})
	}
}

var (
	uclientTime = regexp.MustCompile(`Total transmit time is (\d+)`)
	uclientLoss = regexp.MustCompile(`Total lost packets \d+ \(([0-9.]+)%\)`)
)

// parseUClient extracts the transmit time and loss from turnutils_uclient's
// summary.
func parseUClient(out []byte) (secs, lossPct float64, err error) {
	tm := uclientTime.FindSubmatch(out)
	lm := uclientLoss.FindSubmatch(out)
	if tm == nil || lm == nil {
		return 0, 0, fmt.Errorf("no summary in turnutils_uclient output")
	}
	secs, _ = strconv.ParseFloat(string(tm[1]), 64)
	lossPct, _ = strconv.ParseFloat(string(lm[1]), 64)
	return secs, lossPct, nil
}

func tail(out []byte) string {
	lines := strings.Split(string(bytes.TrimSpace(out)), "\n")
	return strings.Join(lines[max(0, len(lines)-15):], "\n")
}

// startProcess starts a helper program and kills it (by its pid) at the end.
func startProcess(b *testing.B, name string, args ...string) {
	b.Helper()
	cmd := exec.Command(name, args...)
	if err := cmd.Start(); err != nil {
		b.Fatalf("start %s: %v", name, err)
	}
	b.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
}

func freeUDPPort(b *testing.B) int {
	b.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// waitSTUN waits until a STUN server answers on addr.
func waitSTUN(b *testing.B, addr string) {
	b.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	cl, err := turn.NewClient(&turn.ClientConfig{STUNServerAddr: addr, Conn: c, RTO: 50 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	if err := cl.Listen(); err != nil {
		b.Fatal(err)
	}
	for range 50 {
		if _, err := cl.SendBindingRequest(); err == nil {
			return
		}
	}
	b.Fatalf("no STUN answer from %s", addr)
}
