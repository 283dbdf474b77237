package client_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/berth-dev/berth/agent"
	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/client"
	"github.com/berth-dev/berth/security"
)

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startDevServer runs a one-server cluster in this process, as
// `berth agent --dev` does.
func startDevServer() (*agent.Agent, func()) {
	dir, _ := os.MkdirTemp("", "berth-example-")
	tok, _ := security.NewACLToken()
	a, err := agent.Start(context.Background(), agent.Config{
		Name: "dev", DataDir: filepath.Join(dir, "data"), BindAddr: "127.0.0.1", APIPort: freePort(), RaftPort: freePort(), Server: true,
		BootstrapToken: tok.String(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), RaftLog: io.Discard,
	})
	if err != nil {
		panic(err)
	}
	// What `berth agent --dev` writes for its local user: the CA, a
	// client certificate and the admin token.
	cert, key, err := a.CA().Issue("example", security.RoleClient, nil, nil, time.Now(), time.Hour)
	if err != nil {
		panic(err)
	}
	cfg := &client.Config{Servers: []string{a.APIAddr()}, CA: string(a.CA().CertPEM), Cert: string(cert), Key: string(key), Token: tok.String()}
	os.Setenv("BERTH_CONFIG", filepath.Join(dir, "config"))
	if err := cfg.Save(client.DefaultConfigPath()); err != nil {
		panic(err)
	}
	return a, func() { a.Close(); os.RemoveAll(dir) }
}

func Example() {
	_, stop := startDevServer()
	defer stop()

	// The credentials of `berth login` (or `berth agent --dev`):
	// ~/.berth/config, or $BERTH_CONFIG.
	cfg, err := client.LoadConfig(client.DefaultConfigPath())
	if err != nil {
		panic(err)
	}
	opts, err := cfg.Options()
	if err != nil {
		panic(err)
	}
	c, err := client.New(cfg.Servers, opts...)
	if err != nil {
		panic(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	manifest := []byte(`
apiVersion: v1
kind: ConfigMap
metadata:
  name: web
data:
  greeting: hello
`)
	objs, err := api.DecodeDocuments(manifest)
	if err != nil {
		panic(err)
	}
	// The leader creates the default namespace right after its election.
	for {
		if _, err := c.Get(ctx, "Namespace", "", "default"); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	res, err := c.Apply(ctx, objs...)
	if err != nil {
		panic(err)
	}
	fmt.Println(res[0].Action, api.Describe(res[0].Object))

	obj, err := c.Get(ctx, "configmap", "default", "web")
	if err != nil {
		panic(err)
	}
	fmt.Println(obj.(*api.ConfigMap).Data["greeting"])

	_, err = c.Get(ctx, "configmap", "default", "nope")
	fmt.Println(client.IsNotFound(err), err)
	// Output:
	// created configmap "web"
	// hello
	// true configmap "nope": not found
}
