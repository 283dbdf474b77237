package agent

import (
	"context"
	"errors"
	"os"
	"path/filepath"

	"github.com/berth-dev/berth/driver"
	"github.com/berth-dev/berth/driver/cni"
	"github.com/berth-dev/berth/driver/volume"
	"github.com/berth-dev/berth/netsvc"
)

// Purge removes what an agent that is not running left on its machine:
// its containers (in its containerd namespace), pod sandboxes, pod bridge,
// iptables rules (the pod network's and the Services') and routes, and
// pod folders. Named volumes, images and
// the cluster state stay. It is the uninstall step, and tests' cleanup.
func Purge(ctx context.Context, cfg Config) error {
	var errs []error
	if cfg.Node.ContainerdSocket != "" {
		ns := cfg.Node.ContainerdNamespace
		if ns == "" {
			ns = "berth"
		}
		rt, err := driver.NewContainerd(ctx, driver.ContainerdConfig{Socket: cfg.Node.ContainerdSocket, Namespace: ns})
		if err == nil {
			cs, err := rt.ListContainers(ctx)
			errs = append(errs, err)
			for _, c := range cs {
				errs = append(errs, rt.RemoveContainer(ctx, c.ID))
			}
			rt.Close()
		} else if _, serr := os.Stat(cfg.Node.ContainerdSocket); serr == nil {
			errs = append(errs, err)
		}
	}
	// Purge finds what to remove by the bridge, the sandbox records and
	// libcni's cache; the subnets given here are not used by it.
	nw, err := cni.New(networkConfig(cfg.Name, cfg.DataDir, "10.255.255.0/24", DefaultPodCIDR, nil))
	if err == nil {
		err = nw.Purge(ctx)
	}
	errs = append(errs, err)
	errs = append(errs, netsvc.Purge(ctx, bridgeName(cfg.Name, cfg.DataDir)))
	vols := volume.New(volume.Config{DataDir: cfg.DataDir, ContainerdSocket: cfg.Node.ContainerdSocket})
	if entries, err := os.ReadDir(filepath.Join(cfg.DataDir, "pods")); err == nil {
		for _, e := range entries {
			errs = append(errs, vols.Cleanup(e.Name()))
		}
	}
	return errors.Join(errs...)
}
