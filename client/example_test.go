package client_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/berth-dev/berth/agent"
	"github.com/berth-dev/berth/api"
	"github.com/berth-dev/berth/client"
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
	a, err := agent.Start(context.Background(), agent.Config{
		Name: "dev", DataDir: dir, BindAddr: "127.0.0.1", APIPort: freePort(), RaftPort: freePort(), Server: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), RaftLog: io.Discard,
	})
	if err != nil {
		panic(err)
	}
	return a, func() { a.Close(); os.RemoveAll(dir) }
}

func Example() {
	server, stop := startDevServer()
	defer stop()

	c, err := client.New([]string{server.APIAddr()})
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
