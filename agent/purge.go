package agent

import (
	"context"
	"errors"
	"os"
	"path/filepath"

	"github.com/berth-dev/berth/driver"
	"github.com/berth-dev/berth/driver/cni"
	"github.com/berth-dev/berth/driver/volume"
)

// Purge removes what an agent that is not running left on its machine:
// its containers (in its containerd namespace), pod sandboxes, pod bridge,
// iptables rules and routes, and pod folders. Named volumes, images and
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
	nw, err := cni.New(cni.Config{Name: "berth", Bridge: bridgeName(cfg.Name, cfg.DataDir), PodCIDR: "10.255.255.0/24",
		ClusterCIDR: DefaultPodCIDR, DataDir: filepath.Join(cfg.DataDir, "cni")})
	if err == nil {
		err = nw.Purge(ctx)
	}
	errs = append(errs, err)
	vols := volume.New(volume.Config{DataDir: cfg.DataDir, ContainerdSocket: cfg.Node.ContainerdSocket})
	if entries, err := os.ReadDir(filepath.Join(cfg.DataDir, "pods")); err == nil {
		for _, e := range entries {
			errs = append(errs, vols.Cleanup(e.Name()))
		}
	}
	return errors.Join(errs...)
}
