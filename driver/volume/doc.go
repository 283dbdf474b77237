// Package volume prepares a pod's volumes on the node and turns a
// container's volumeMounts into the driver's bind mounts.
//
// It may import api and driver of ours.
//
// Volumes live under the agent's data dir: a pod's emptyDir, ConfigMap and
// Secret volumes in DataDir/pods/<uid>/volumes/<name> (Secrets and
// emptyDirs of medium Memory on tmpfs, so secret bytes never reach the
// node's disk), named local volumes (persistentVolumeClaim) in
// DataDir/volumes/<namespace>/<claimName>, kept when the pod goes.
//
//	m := volume.New(volume.Config{DataDir: dir, ContainerdSocket: sock, Logger: log})
//	paths, err := m.Prepare(pod, volume.Data{ConfigMaps: cms, Secrets: secrets})
//	mounts, err := m.Mounts(pod, &pod.Spec.Containers[0], paths)
//	...
//	err = m.Cleanup(pod.Metadata.UID)
package volume
