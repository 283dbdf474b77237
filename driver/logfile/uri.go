package logfile

import (
	"net/url"
	"strconv"
)

// loggerKey marks an invocation of the berth binary by a containerd shim as
// a container's logger (binary:// log URI).
const loggerKey = "berth-logger"

// Options say where a container's log goes and how much is kept.
type Options struct {
	Path     string // the current file; rotated ones are Path.1, Path.2, ...
	MaxSize  int64  // bytes before the file rotates (default 10 MiB)
	MaxFiles int    // files kept, the current one included (default 3)
	// FenceFile, when set, holds the end of the node's fence lease: the
	// logger then also runs the watchdog RunLogger is given, which kills
	// the container once the lease has passed. Socket is containerd's.
	FenceFile string
	Socket    string
}

// URI is the log URI for containerd (cio.LogURI): the shim starts binary
// (the berth executable) as the container's logger, with stdout and
// stderr as its file descriptors 3 and 4. The logger outlives the agent,
// so logs are kept while the agent restarts.
func URI(binary string, o Options) *url.URL {
	q := url.Values{}
	q.Set(loggerKey, "1")
	q.Set("path", o.Path)
	q.Set("max-size", strconv.FormatInt(o.MaxSize, 10))
	q.Set("max-files", strconv.Itoa(o.MaxFiles))
	if o.FenceFile != "" {
		q.Set("fence-file", o.FenceFile)
		q.Set("socket", o.Socket)
	}
	return &url.URL{Scheme: "binary", Path: binary, RawQuery: q.Encode()}
}

// IsLoggerInvocation reports whether args (os.Args) are a shim starting
// the binary as a logger. The shim passes the URI's query as key, value
// pairs in no fixed order.
func IsLoggerInvocation(args []string) bool {
	_, ok := loggerArgs(args)
	return ok
}

// loggerArgs parses the shim's key, value pairs.
func loggerArgs(args []string) (Options, bool) {
	var o Options
	found := false
	for i := 1; i+1 < len(args); i += 2 {
		k, v := args[i], args[i+1]
		switch k {
		case loggerKey:
			found = true
		case "path":
			o.Path = v
		case "max-size":
			o.MaxSize, _ = strconv.ParseInt(v, 10, 64)
		case "max-files":
			o.MaxFiles, _ = strconv.Atoi(v)
		case "fence-file":
			o.FenceFile = v
		case "socket":
			o.Socket = v
		default:
			return Options{}, false
		}
	}
	return o, found && o.Path != ""
}
