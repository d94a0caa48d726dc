package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/openkvs/openkvs/internal/config"
	"github.com/openkvs/openkvs/internal/server"
)

func newServeCmd(s streams) *cobra.Command {
	flags := config.NewFlags()
	var configFile string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the openkvs server (embedded storage, no other process needed)",
		Long: `Run the openkvs server: the kinesisvideo control plane and every data-plane
and signaling API on a plain HTTP listener and an HTTPS/WSS listener.

With no flags everything lives under ./openkvs-data: metadata, fragments, a
local CA with a server certificate, and a generated access key whose
export lines are printed at start.

Settings come from flags, then OPENKVS_* environment variables, then the
YAML file given by --config (OPENKVS_CONFIG), then the defaults.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if configFile == "" {
				configFile = os.Getenv("OPENKVS_CONFIG")
			}
			cfg, err := config.Load(configFile, os.LookupEnv, flags)
			if err != nil {
				return err
			}
			return runServe(cmd.Context(), s, cfg)
		},
	}
	cmd.Flags().StringVar(&configFile, "config", "", "YAML configuration file (env OPENKVS_CONFIG)")
	flags.Register(func(v config.Value, name, usage string) { cmd.Flags().Var(v, name, usage) })
	if f := cmd.Flags().Lookup("turn"); f != nil {
		f.NoOptDefVal = "true"
	}
	return cmd
}

func runServe(ctx context.Context, s streams, cfg config.Config) error {
	log := newLogger(s.err, cfg.Log)
	srv, err := server.New(cfg, server.Options{Logger: log})
	if err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		_ = srv.Shutdown(context.Background())
		return err
	}
	printBanner(s.out, cfg, srv)
	log.Info("openkvs serving", "http", addrString(srv.HTTPAddr()), "https", addrString(srv.TLSAddr()), "data_dir", cfg.DataDir)

	err = srv.Wait(ctx)
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if serr := srv.Shutdown(sctx); serr != nil && err == nil {
		err = serr
	}
	return err
}

func addrString(a net.Addr) string {
	if a == nil {
		return "off"
	}
	return a.String()
}

// printBanner tells the user how to reach the server: URLs, the console,
// the CA to trust and, for a generated key, ready-to-paste export lines
// that work from any directory.
func printBanner(w io.Writer, cfg config.Config, srv *server.Server) {
	var httpURL, httpsURL string
	if a := srv.HTTPAddr(); a != nil {
		httpURL = "http://" + dialable(a)
		fmt.Fprintf(w, "openkvs %s: HTTP  %s\n", Version, httpURL)
	}
	if a := srv.TLSAddr(); a != nil {
		httpsURL = "https://" + dialable(a)
		fmt.Fprintf(w, "openkvs %s: HTTPS %s (WSS wss://%s)\n", Version, httpsURL, dialable(a))
	}
	endpoint := httpURL
	if endpoint == "" {
		endpoint = httpsURL
	}
	fmt.Fprintf(w, "Console: %s/ (streams %s/streams, WebRTC %s/webrtc)\n", endpoint, endpoint, endpoint)
	ca := srv.CAPath()
	if ca != "" {
		fmt.Fprintf(w, "CA certificate: %s\n  (AWS CLI/SDKs: AWS_CA_BUNDLE; KVS C SDKs: AWS_KVS_CACERT_PATH;\n", ca)
		fmt.Fprintf(w, "   browsers: open %s/ once and accept it, or import the CA; %s/ says how)\n", httpsURL, endpoint)
	}
	c := srv.Credentials()
	if !c.Generated {
		return
	}
	// The secret is shown once, when it is created; later starts let the
	// shell read it from the file.
	secret := c.SecretAccessKey
	if c.Created {
		fmt.Fprintf(w, "Generated an access key, kept in %s; paste into your shell:\n", c.File)
	} else {
		fmt.Fprintf(w, "Access key %s (its secret is in %s); paste into your shell:\n", c.AccessKeyID, c.File)
		secret = `"$(cut -d: -f2 ` + shellQuote(c.File) + `)"`
	}
	// A session token left in the environment would be sent and refused.
	fmt.Fprintf(w, "  unset AWS_SESSION_TOKEN\n")
	fmt.Fprintf(w, "  export AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=%s AWS_REGION=%s AWS_DEFAULT_REGION=%s AWS_ENDPOINT_URL=%s\n",
		c.AccessKeyID, secret, cfg.Region, cfg.Region, endpoint)
	if ca != "" {
		fmt.Fprintf(w, "  export AWS_CA_BUNDLE=%s AWS_KVS_CACERT_PATH=%s\n", shellQuote(ca), shellQuote(ca))
	}
}

// dialable is a listener's address as a client can dial it: a wildcard
// listener (0.0.0.0, or :: which Go listens on dual-stack) is reached on
// 127.0.0.1, which the generated certificate covers.
func dialable(a net.Addr) string {
	t, ok := a.(*net.TCPAddr)
	if !ok || !t.IP.IsUnspecified() {
		return a.String()
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(t.Port))
}

// shellQuote quotes s for a POSIX shell when it holds anything but
// letters, digits and "/._-+:,@=".
func shellQuote(s string) string {
	safe := s != ""
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("/._-+:,@=", c)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func newLogger(w io.Writer, c config.LogConfig) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
