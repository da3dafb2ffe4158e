package main

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/berthhq/berth/internal/pki"
	"github.com/berthhq/berth/internal/server"
)

// The shell's side of `berth serve --cloud-hostnames`.
var envCommands = []command{
	{
		words:   "env",
		summary: "Print the shell exports that send the cloud's CLI and SDKs to berth.",
		more: "For a server started with --cloud-hostnames: HTTPS goes through its proxy, which reaches only " +
			"berth's answers for the public cloud's host names, and berth's CA is the one trusted. " +
			"Python clients read REQUESTS_CA_BUNDLE, curl CURL_CA_BUNDLE, others SSL_CERT_FILE; loopback addresses skip the proxy.",
		examples: []example{
			{`Print the exports for the server with the default data directory and proxy; eval "$(berth env)" applies them to this shell.`, "berth env"},
			{"The same for a server with its own data directory and proxy address.", "berth env --data-dir /var/lib/berth --proxy 127.0.0.1:9444"},
		},
		local: true,
		flags: func(f *flagSet) runFunc {
			dataDir := server.DefaultDataDir()
			proxy := server.DefaultProxyListen
			f.StringVar(&dataDir, "data-dir", "The server's data directory, whose ca.crt clients trust.")
			f.StringVar(&proxy, "proxy", "Address of the server's proxy (its --proxy-listen).")
			return func(c *call) (any, error) {
				if _, _, err := net.SplitHostPort(proxy); err != nil {
					return nil, fmt.Errorf("--proxy %q: %w", proxy, err)
				}
				ca, err := filepath.Abs(filepath.Join(dataDir, pki.CACertFile))
				if err != nil {
					return nil, err
				}
				if _, err := os.Stat(ca); errors.Is(err, fs.ErrNotExist) {
					return nil, fmt.Errorf("%s does not exist: start berth serve --cloud-hostnames with this --data-dir first", ca)
				} else if err != nil {
					return nil, err
				}
				for _, kv := range envExports(ca, proxy) {
					fmt.Fprintf(c.stdout, "export %s=%s\n", kv[0], shellQuote(kv[1]))
				}
				return nil, nil
			}
		},
	},
}

// envExports are the variables, in both cases where tools read either.
func envExports(ca, proxy string) [][2]string {
	proxyURL := "http://" + proxy
	noProxy := "localhost,127.0.0.1,::1"
	return [][2]string{
		{"HTTPS_PROXY", proxyURL}, {"https_proxy", proxyURL},
		{"NO_PROXY", noProxy}, {"no_proxy", noProxy},
		{"REQUESTS_CA_BUNDLE", ca}, {"SSL_CERT_FILE", ca}, {"CURL_CA_BUNDLE", ca},
	}
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
