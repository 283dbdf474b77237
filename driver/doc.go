// Package driver runs pods on the local containerd: images, OCI specs,
// cgroup limits, CNI networking, volumes, logs, exec and exit states, behind
// the small Runtime interface and its conformance suite (drivertest).
//
// It may import only the api package of ours.
//
// A pod is a sandbox (a network namespace with an IP from CNI) and its
// containers, each started by containerd in that namespace:
//
//	rt, err := driver.NewContainerd(ctx, driver.ContainerdConfig{Socket: sock, Namespace: "berth"})
//	nw, err := cni.New(cni.Config{Name: "berth", Bridge: "bz0", PodCIDR: "10.88.1.0/24", DataDir: dir}) // driver/cni
//	sb, err := nw.Setup(ctx, podUID, nil)
//	id, err := rt.CreateContainer(ctx, driver.ContainerSpec{PodUID: podUID, Name: "web", Image: ref, NetNS: sb.NetNS, ...})
//	err = rt.StartContainer(ctx, id)
package driver
