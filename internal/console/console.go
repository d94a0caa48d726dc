// Package console serves openkvs' browser console: static pages, embedded
// in the binary, that talk to the server only through the public KVS APIs,
// signed in the browser like any other client's requests.
//
// The start page at / links the others and says how to make the browser
// trust the server's certificate. The channel player at /webrtc connects
// to a signaling channel as viewer or master (camera or a generated canvas
// stream) and shows the video, live WebRTC statistics and a log. Scripts
// and styles are served under /console/.
package console

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"strings"

	"github.com/openkvs/openkvs/internal/awsapi"
)

//go:embed static
var staticFiles embed.FS

// AssetPrefix is the path under which the console's scripts and styles are
// served.
const AssetPrefix = "/console/"

// HomeName and HomePattern are the start page's operation name and
// pattern. Signaling's WebSocket endpoint has the same pattern: the server
// sends browsers (no query, no upgrade; see IsPageRequest) to the page.
const (
	HomeName    = "ConsoleHome"
	HomePattern = "GET /{$}"
)

// IsPageRequest reports whether a request for / is a browser asking for
// the start page rather than a signaling client, whose WebSocket upgrade
// always carries a presigned query.
func IsPageRequest(r *http.Request) bool {
	return r.URL.RawQuery == "" && !strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

// Config configures a Console.
type Config struct {
	// Region is the region the pages' forms start with. Defaults to
	// "us-east-1".
	Region string
	// Logger receives the console's log. Defaults to slog.Default().
	Logger *slog.Logger
	// CAPath is the PEM file of the CA that signed the server's
	// certificate, "" when the user brought their own. The start page
	// names it and /ca.pem serves it.
	CAPath string
	// TLSURL returns the base URL of the HTTPS listener as the client of r
	// reaches it, "" when TLS is off. Nil means TLS is off.
	TLSURL func(r *http.Request) string
}

// Console serves the console pages and their assets.
type Console struct {
	region string
	caPath string
	tlsURL func(r *http.Request) string
	log    *slog.Logger
	static fs.FS
	pages  *template.Template
}

// New returns a Console for cfg.
func New(cfg Config) (*Console, error) {
	c := &Console{region: cfg.Region, log: cfg.Logger, caPath: cfg.CAPath, tlsURL: cfg.TLSURL}
	if c.region == "" {
		c.region = "us-east-1"
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	sub, err := fs.Sub(staticFiles, "static")
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	c.static = sub
	c.pages, err = template.ParseFS(sub, "*.html")
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	return c, nil
}

// Operations returns the console's pages as unsigned operations: the pages
// hold no secrets, and every request they make is signed by the browser.
func (c *Console) Operations() []awsapi.Operation {
	ops := []awsapi.Operation{
		{Name: HomeName, Pattern: HomePattern, Auth: awsapi.AuthNone, SameOrigin: true, Handler: c.page("index.html")},
		{Name: "ConsoleWebRTC", Pattern: "GET /webrtc", Auth: awsapi.AuthNone, SameOrigin: true, Handler: c.page("webrtc.html")},
		{Name: "ConsoleStreams", Pattern: "GET /streams", Auth: awsapi.AuthNone, SameOrigin: true, Handler: c.page("streams.html")},
		{Name: "ConsoleAsset", Pattern: "GET " + AssetPrefix, Auth: awsapi.AuthNone, SameOrigin: true, Handler: c.assets()},
	}
	if c.caPath != "" {
		ops = append(ops, awsapi.Operation{Name: "ConsoleCA", Pattern: "GET /ca.pem", Auth: awsapi.AuthNone, SameOrigin: true, Handler: c.caCert()})
	}
	return ops
}

// caCert serves the CA certificate (public, like any CA certificate) for
// the browser to import.
func (c *Console) caCert() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pem, err := os.ReadFile(c.caPath)
		if err != nil {
			c.log.Error("console CA certificate", "err", err)
			http.Error(w, "CA certificate unavailable", http.StatusInternalServerError)
			return
		}
		setHeaders(w)
		w.Header().Set("Content-Type", "application/x-pem-file")
		_, _ = w.Write(pem)
	})
}

// pageData is what the page templates see.
type pageData struct {
	// Region is the form's initial region.
	Region string
	// CAPath is the CA certificate's file, "" when there is none.
	CAPath string
	// TLSURL is the HTTPS listener's base URL, "" when TLS is off.
	TLSURL string
}

// page serves one HTML template of the console.
func (c *Console) page(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var buf bytes.Buffer
		data := pageData{Region: c.region, CAPath: c.caPath}
		if c.tlsURL != nil {
			data.TLSURL = c.tlsURL(r)
		}
		if err := c.pages.ExecuteTemplate(&buf, name, data); err != nil {
			c.log.Error("console page", "page", name, "err", err)
			http.Error(w, "console page failed", http.StatusInternalServerError)
			return
		}
		setHeaders(w)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(buf.Bytes())
	})
}

// assets serves the console's scripts and styles under AssetPrefix.
func (c *Console) assets() http.Handler {
	files := http.StripPrefix(AssetPrefix, http.FileServerFS(c.static))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setHeaders(w)
		if strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r) // no directory listings
			return
		}
		files.ServeHTTP(w, r)
	})
}

// setHeaders sets the headers every console response carries: always
// revalidate (the files change with the binary), and keep the page out of
// frames and off other origins' scripts.
func setHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
}
