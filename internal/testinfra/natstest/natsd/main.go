// Command natsd runs a NATS server (the embeddable nats-server/v2 that the
// tests use) for scripts/cluster.sh, so that a cluster on one machine needs
// no NATS package: `natsd -listen 127.0.0.1:4222`. It stops on SIGINT or
// SIGTERM. Production clusters run a real NATS cluster instead.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// maxPayload is natstest.MaxPayload (not imported: it would link the
// testing package): room for live fragments.
const maxPayload = 8 << 20

func main() {
	listen := flag.String("listen", "127.0.0.1:4222", "host:port to serve NATS clients on")
	flag.Parse()
	host, portStr, err := net.SplitHostPort(*listen)
	if err != nil {
		log.Fatalf("natsd: -listen: %v", err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		log.Fatalf("natsd: -listen port: %v", err)
	}
	ns, err := server.NewServer(&server.Options{Host: host, Port: port, MaxPayload: maxPayload})
	if err != nil {
		log.Fatalf("natsd: %v", err)
	}
	ns.ConfigureLogger()
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		log.Fatal("natsd: not ready within 10 s")
	}
	fmt.Fprintf(os.Stdout, "natsd: ready on nats://%s\n", *listen)
	ns.WaitForShutdown() // the server handles SIGINT and SIGTERM itself
}
