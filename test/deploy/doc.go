// Package deploy tests what deploy/ holds as a person would use it:
// deploy/netns/cluster.sh brings up a cluster of real agents, each in a
// network namespace of its own as on separate machines, proves it serves
// a Service from every host, and takes it all down again.
package deploy
