package logfile

import (
	"fmt"
	"os"
	"sync"
)

// The file descriptors a containerd shim gives a binary logger.
const (
	fdStdout = 3
	fdStderr = 4
	fdReady  = 5
)

// RunLogger is the main of a container's logger, started by the containerd
// shim with args as IsLoggerInvocation recognises them: it writes every
// line of the container's stdout (fd 3) and stderr (fd 4) to the log file,
// closes fd 5 once the file is open (the shim waits for it), and returns
// the exit code once both streams have ended.
//
// When the URI names a fence file, watchdog (if not nil) runs beside the
// copying, for as long as the logger does.
func RunLogger(args []string, watchdog func(Options)) int {
	stdout := os.NewFile(fdStdout, "stdout")
	stderr := os.NewFile(fdStderr, "stderr")
	ready := os.NewFile(fdReady, "ready")
	defer stdout.Close()
	defer stderr.Close()

	o, ok := loggerArgs(args)
	if !ok {
		ready.Close()
		fmt.Fprintf(os.Stderr, "berth logger: bad arguments %q\n", args[1:])
		return 2
	}
	w, err := NewWriter(o)
	if err != nil {
		ready.Close()
		fmt.Fprintf(os.Stderr, "berth logger for container %s: %v\n", os.Getenv("CONTAINER_ID"), err)
		return 1
	}
	defer w.Close()
	ready.Close()
	if o.FenceFile != "" && watchdog != nil {
		go watchdog(o)
	}

	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, s := range []struct {
		name string
		f    *os.File
	}{{Stdout, stdout}, {Stderr, stderr}} {
		wg.Go(func() { errs[i] = w.Copy(s.name, s.f) })
	}
	wg.Wait()
	code := 0
	for _, err := range errs {
		if err != nil {
			fmt.Fprintf(os.Stderr, "berth logger for container %s: %v\n", os.Getenv("CONTAINER_ID"), err)
			code = 1
		}
	}
	if err := w.Close(); err != nil {
		fmt.Fprintf(os.Stderr, "berth logger for container %s: %v\n", os.Getenv("CONTAINER_ID"), err)
		code = 1
	}
	return code
}
