// Package logfile keeps a container's stdout and stderr in a size-capped,
// rotated file in the CRI log format, and reads it back (berth logs).
//
// It imports only the standard library.
//
// Each line of output is one record:
//
//	2024-05-01T10:00:00.123456789Z stdout F hello
//
// where F marks a full line and P a part of one (lines over 16 KiB are
// split, and output that ends without a newline is kept as a P record).
//
// The containerd shim starts the berth binary as the container's logger
// (URI gives the binary:// log URI); cmd/berth hands such an invocation to
// RunLogger before anything else:
//
//	if logfile.IsLoggerInvocation(os.Args) {
//		os.Exit(logfile.RunLogger(os.Args, driver.FenceWatchdog))
//	}
//
// The agent reads a container's log with Read:
//
//	err := logfile.Read(ctx, path, logfile.ReadOptions{Follow: true, Tail: 10}, os.Stdout, os.Stderr)
package logfile
