package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/berth-dev/berth/agent"
	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/client"
	"github.com/berth-dev/berth/security"
	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// configPath is --config, else $BERTH_CONFIG, else ~/.berth/config.
func configPath(cmd *cobra.Command) string {
	if p, _ := cmd.Flags().GetString("config"); p != "" {
		return p
	}
	return client.DefaultConfigPath()
}

// clientConfig reads the client's credentials, with --token over the
// file's token. A missing file is an error naming how to get one.
func clientConfig(cmd *cobra.Command) (*client.Config, error) {
	path := configPath(cmd)
	cfg, err := client.LoadConfig(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no credentials: %s does not exist; run `berth login ADDR --token TOKEN --ca-fingerprint SHA256` (or start `berth agent --dev`)", path)
	}
	if err != nil {
		return nil, err
	}
	if tok, _ := cmd.Flags().GetString("token"); tok != "" {
		cfg.Token = tok
	}
	return cfg, nil
}

func newLoginCmd() *cobra.Command {
	var token, fingerprint string
	cmd := &cobra.Command{
		Use:   "login ADDR",
		Short: "Get a client certificate for an ACL token and save both in ~/.berth/config",
		Long: "Login connects to the server at ADDR, checks that its CA has the fingerprint given (berth agent prints it; " +
			"every join token carries it), sends the ACL token and a new key's certificate request, and saves the signed " +
			"certificate, the CA and the token in the config file (--config, BERTH_CONFIG, ~/.berth/config).",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if token == "" {
				return errors.New("--token is required: an ACL token (the bootstrap admin token, or one from berth acl create)")
			}
			fingerprint = strings.TrimPrefix(strings.ToLower(fingerprint), "sha256:")
			if len(fingerprint) != 64 {
				return errors.New("--ca-fingerprint: want the 64 hex digits of the cluster CA's SHA-256 fingerprint")
			}
			key, err := security.NewKey()
			if err != nil {
				return err
			}
			csr, err := security.NewCSR(key, "login")
			if err != nil {
				return err
			}
			tc, _ := security.PinnedConfig(fingerprint)
			ctx, cancel, err := commandContext(cmd)
			if err != nil {
				return err
			}
			defer cancel()
			cert, ca, role, namespaces, err := client.Login(ctx, args[0], grpc.WithTransportCredentials(credentials.NewTLS(tc)), token, csr)
			if err != nil {
				return fmt.Errorf("login: %w", err)
			}
			cfg := &client.Config{Servers: []string{args[0]}, CA: string(ca), Cert: string(cert), Key: string(security.KeyPEM(key)), Token: token}
			path := configPath(cmd)
			if err := cfg.Save(path); err != nil {
				return err
			}
			scope := "every namespace"
			if len(namespaces) > 0 {
				scope = "namespaces " + strings.Join(namespaces, ", ")
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Logged in to %s as %s (%s); credentials saved in %s\n", args[0], role, scope, path)
			return nil
		},
	}
	cmd.Flags().StringVar(&token, "token", os.Getenv("BERTH_TOKEN"), "the ACL token (env BERTH_TOKEN)")
	cmd.Flags().StringVar(&fingerprint, "ca-fingerprint", "", "SHA-256 fingerprint of the cluster's CA (hex)")
	return cmd
}

func newTokenCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "Join tokens: create, list, revoke"}
	var (
		role, description string
		ttl               time.Duration
		uses              int
	)
	create := &cobra.Command{
		Use:   "create",
		Short: "Make a join token for `berth agent --join ADDR --token TOKEN`",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, c, done, err := connect(cmd)
			if err != nil {
				return err
			}
			defer done()
			t, err := c.CreateJoinToken(ctx, role, ttl, uses, description)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), t.Token)
			return nil
		},
	}
	create.Flags().StringVar(&role, "role", "worker", "what the joining agent becomes: worker or server")
	create.Flags().DurationVar(&ttl, "ttl", 24*time.Hour, "how long the token is valid (0: no expiry)")
	create.Flags().IntVar(&uses, "uses", 0, "how many joins it allows (0: no limit)")
	create.Flags().StringVar(&description, "description", "", "a note shown by token ls")
	ls := newTokenListCmd("JoinToken", "join tokens", "ID\tROLE\tUSED\tEXPIRES\tDESCRIPTION", func(o api.Object) string {
		t := o.(*api.JoinToken)
		used := fmt.Sprintf("%d", t.Spec.Used)
		if t.Spec.Uses > 0 {
			used += fmt.Sprintf("/%d", t.Spec.Uses)
		}
		return strings.Join([]string{t.Metadata.Name, t.Spec.Role, used, or(t.Spec.ExpirationTime, "never"), t.Spec.Description}, "\t")
	})
	cmd.AddCommand(create, ls, newRevokeCmd("JoinToken", "join token"))
	return cmd
}

// newTokenListCmd lists the tokens of kind, a row each (never their
// secrets: only their hashes are stored).
func newTokenListCmd(kind, what, header string, row func(api.Object) string) *cobra.Command {
	return &cobra.Command{
		Use:   "ls",
		Short: "List " + what + " (never their secrets)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, c, done, err := connect(cmd)
			if err != nil {
				return err
			}
			defer done()
			objs, _, err := c.List(ctx, kind, "")
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 8, 3, ' ', 0)
			fmt.Fprintln(tw, header)
			for _, o := range objs {
				fmt.Fprintln(tw, row(o))
			}
			return tw.Flush()
		},
	}
}

// newRevokeCmd deletes tokens of kind by ID.
func newRevokeCmd(kind, what string) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke ID...",
		Short: "Revoke " + what + "s: they stop working at once",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, c, done, err := connect(cmd)
			if err != nil {
				return err
			}
			defer done()
			for _, id := range args {
				if t, err := security.ParseJoinToken(id); err == nil {
					id = t.ID
				} else if t, err := security.ParseACLToken(id); err == nil {
					id = t.ID
				}
				if _, err := c.Delete(ctx, client.Ref{Kind: kind, Name: id}); err != nil {
					return userError(err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s %s revoked\n", what, id)
			}
			return nil
		},
	}
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func newACLCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "acl", Short: "ACL tokens: create, list, revoke"}
	var (
		role, description string
		namespaces        []string
		ttl               time.Duration
	)
	create := &cobra.Command{
		Use:   "create",
		Short: "Make an ACL token: admin, operator (workloads) or read-only, optionally limited to namespaces",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, c, done, err := connect(cmd)
			if err != nil {
				return err
			}
			defer done()
			tok, _, err := c.CreateACLToken(ctx, role, namespaces, ttl, description)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), tok)
			return nil
		},
	}
	create.Flags().StringVar(&role, "role", api.RoleReadOnly, "admin, operator or read-only")
	create.Flags().StringSliceVarP(&namespaces, "namespace", "n", nil, "limit the token to these namespaces (repeatable)")
	create.Flags().DurationVar(&ttl, "ttl", 0, "how long the token is valid (0: no expiry)")
	create.Flags().StringVar(&description, "description", "", "a note shown by acl ls")
	ls := newTokenListCmd("ACLToken", "ACL tokens", "ID\tROLE\tNAMESPACES\tEXPIRES\tDESCRIPTION", func(o api.Object) string {
		t := o.(*api.ACLToken)
		return strings.Join([]string{t.Metadata.Name, t.Spec.Role, or(strings.Join(t.Spec.Namespaces, ","), "*"),
			or(t.Spec.ExpirationTime, "never"), t.Spec.Description}, "\t")
	})
	cmd.AddCommand(create, ls, newRevokeCmd("ACLToken", "ACL token"))
	return cmd
}

func newWhoAmICmd() *cobra.Command {
	return &cobra.Command{
		Use:   "whoami",
		Short: "Show who the cluster takes you for",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, c, done, err := connect(cmd)
			if err != nil {
				return err
			}
			defer done()
			id, err := c.WhoAmI(ctx)
			if err != nil {
				return err
			}
			scope := "every namespace"
			if len(id.Namespaces) > 0 {
				scope = "namespaces " + strings.Join(id.Namespaces, ", ")
			}
			fmt.Fprintf(cmd.OutOrStdout(), "token %s: %s of %s (certificate %s, %s)\n", id.TokenID, id.Role, scope, id.CertName, id.CertRole)
			return nil
		},
	}
}

func newKeyringCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "keyring", Short: "The keys that encrypt Secrets at rest"}
	cmd.AddCommand(&cobra.Command{
		Use:   "rotate",
		Short: "Add a new key-encryption key and re-wrap every Secret's data key with it, online",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, c, done, err := connect(cmd)
			if err != nil {
				return err
			}
			defer done()
			id, n, err := c.RotateKeyring(ctx)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "keyring rotated: new key %s, %d Secrets re-wrapped\n", id, n)
			return nil
		},
	})
	return cmd
}

// newTLSCmd makes a cluster CA for servers that bootstrap together.
func newTLSCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "tls", Short: "The cluster's certificate authority"}
	var dir string
	create := &cobra.Command{
		Use:   "ca-create",
		Short: "Make a cluster CA (ca.pem, ca-key.pem) for servers that bootstrap together: give each --ca-cert and --ca-key",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ca, err := security.NewCA(time.Now(), agent.DefaultCALifetime)
			if err != nil {
				return err
			}
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return err
			}
			for name, b := range map[string][]byte{"ca.pem": ca.CertPEM, "ca-key.pem": ca.KeyPEM()} {
				p := filepath.Join(dir, name)
				if _, err := os.Stat(p); err == nil {
					return fmt.Errorf("%s exists already", p)
				}
				if err := os.WriteFile(p, b, 0o600); err != nil {
					return err
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "CA written to %s (fingerprint %s)\n", dir, ca.Fingerprint())
			return nil
		},
	}
	create.Flags().StringVar(&dir, "dir", ".", "where to write ca.pem and ca-key.pem")
	cmd.AddCommand(create)
	return cmd
}

// devConfig writes the client credentials of a dev agent's local user:
// a client certificate signed by the agent's CA and the admin token.
func devConfig(path, addr string, ca *security.CA, token string) error {
	certPEM, keyPEM, err := ca.Issue("dev-user", security.RoleClient, nil, nil, time.Now(), 365*24*time.Hour)
	if err != nil {
		return err
	}
	cfg := &client.Config{Servers: []string{addr}, CA: string(ca.CertPEM), Cert: string(append(certPEM, ca.CertPEM...)), Key: string(keyPEM), Token: token}
	return cfg.Save(path)
}
