package main

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"

	"github.com/spf13/cobra"
)

// newDashboardCmd serves the dashboard on this machine: the browser talks
// plain HTTP to 127.0.0.1, and the command passes each request to a
// server's HTTP port over TLS, checked against the cluster's CA. A
// server takes a token over plain HTTP only from its own machine; this
// is how a dashboard of a remote cluster is opened.
func newDashboardCmd() *cobra.Command {
	var listen, server string
	var httpPort int
	cmd := &cobra.Command{
		Use:   "dashboard",
		Short: "Open the cluster's web dashboard on this machine (http://127.0.0.1:7404), through a server over TLS",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := clientConfig(cmd)
			if err != nil {
				return err
			}
			tc, err := cfg.TLS()
			if err != nil {
				return err
			}
			if server == "" {
				addrs, err := apiAddrs(cmd, cfg)
				if err != nil {
					return err
				}
				host, _, err := net.SplitHostPort(addrs[0])
				if err != nil {
					return fmt.Errorf("server address %q: %v", addrs[0], err)
				}
				server = net.JoinHostPort(host, strconv.Itoa(httpPort))
			}
			if _, _, err := net.SplitHostPort(server); err != nil {
				return fmt.Errorf("--server: %q is not HOST:PORT", server)
			}
			proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "https", Host: server})
			proxy.Transport = &http.Transport{TLSClientConfig: tc, ForceAttemptHTTP2: true}
			proxy.ErrorHandler = func(w http.ResponseWriter, _ *http.Request, err error) {
				http.Error(w, fmt.Sprintf("berth dashboard: server %s: %v", server, err), http.StatusBadGateway)
			}
			lis, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("--listen: %w", err)
			}
			defer lis.Close()
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "Dashboard of %s: http://%s/#token=%s\n", server, lis.Addr(), cfg.Token)
			fmt.Fprintln(out, "(the address holds your token: do not share it; Ctrl-C stops)")
			ctx, stop := watchContext(cmd)
			defer stop()
			srv := &http.Server{Handler: proxy}
			go func() {
				<-ctx.Done()
				srv.Close()
			}()
			if err := srv.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen", "127.0.0.1:7404", "where this machine serves the dashboard")
	f.StringVar(&server, "server", "", "HOST:PORT of a server's HTTP port (default: the first server's host, port --http-port)")
	f.IntVar(&httpPort, "http-port", 7403, "the servers' HTTP port")
	return cmd
}
