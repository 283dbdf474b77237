// Command testnet-sweep removes the leftovers of testnet nets whose test
// process is gone (namespaces, veths, bridges, iptables rules, state files),
// and leaves the nets of running tests alone. Run it as root after a test
// binary was killed, or before a CI job:
//
//	go run ./internal/testnet/cmd/testnet-sweep
package main

import (
	"fmt"
	"os"

	"github.com/berth-dev/berth/internal/testnet"
)

func main() {
	if err := testnet.Available(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := testnet.Sweep(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
