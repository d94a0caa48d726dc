// Command openkvs is a self-hostable Amazon Kinesis Video Streams: the
// server (openkvs serve) and its clients.
package main

import (
	"os"

	"github.com/openkvs/openkvs/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
