// Package cli is openkvs' command tree: one file per subcommand, each built
// by a newXxxCmd function; flags bind into the config or the command's own
// options, and every server flag has an OPENKVS_* environment twin.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// Version is the openkvs version; release builds set it with
// -ldflags "-X github.com/openkvs/openkvs/internal/cli.Version=v1.2.3".
var Version = "dev"

// streams are the standard streams a command reads and writes.
type streams struct {
	in       io.Reader
	out, err io.Writer
}

// Main runs the command line args and returns the process exit code.
func Main(args []string, in io.Reader, out, errOut io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	root := newRootCmd(streams{in: in, out: out, err: errOut})
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(errOut, "openkvs:", err)
		var ee exitError
		if errors.As(err, &ee) {
			return int(ee)
		}
		return 1
	}
	return 0
}

// exitError is an error that asks for a specific exit code.
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func newRootCmd(s streams) *cobra.Command {
	root := &cobra.Command{
		Use:   "openkvs",
		Short: "A self-hostable Amazon Kinesis Video Streams",
		Long: `openkvs serves the Amazon Kinesis Video Streams APIs — video streams and
WebRTC signaling channels — from one binary, and ships clients for them.
The official AWS SDKs and KVS SDKs work against it by changing only the endpoint.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(s.in)
	root.SetOut(s.out)
	root.SetErr(s.err)
	root.AddCommand(
		newServeCmd(s),
		newVersionCmd(s),
		newStreamCmd(s),
		newChannelCmd(s),
		newMasterCmd(s), newViewerCmd(s),
		newPutMediaCmd(s), newGetMediaCmd(s),
	)
	return root
}
