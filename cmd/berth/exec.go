package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/berth-dev/berth/client"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// execOptions are the flags of exec.
type execOptions struct {
	stdin     bool
	tty       bool
	container string
	namespace string
}

func newExecCmd() *cobra.Command {
	var o execOptions
	cmd := &cobra.Command{
		Use:   "exec [-i] [-t] [-c CONTAINER] POD [--] COMMAND [ARG...]",
		Short: "Run a command in a running container of a pod",
		Long: "Run a command in a running container of a pod. -i copies stdin to it; -t gives it a\n" +
			"terminal, and with -i puts this one in raw mode, so that Ctrl-C reaches the command.\n" +
			"berth exec exits with the command's exit code.",
		Args: func(_ *cobra.Command, args []string) error {
			if _, _, err := execArgs(args); err != nil {
				return err
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			pod, command, _ := execArgs(args)
			return o.run(cmd, pod, command)
		},
	}
	f := cmd.Flags()
	// Flags after POD belong to the command.
	f.SetInterspersed(false)
	f.BoolVarP(&o.stdin, "stdin", "i", false, "copy stdin to the command")
	f.BoolVarP(&o.tty, "tty", "t", false, "give the command a terminal")
	f.StringVarP(&o.container, "container", "c", "", "the container (default: the pod's first)")
	f.StringVarP(&o.namespace, "namespace", "n", "default", "namespace of the pod")
	return cmd
}

// execArgs splits POD [--] COMMAND [ARG...].
func execArgs(args []string) (pod string, command []string, err error) {
	if len(args) == 0 {
		return "", nil, errors.New("exec needs a POD and a COMMAND")
	}
	pod, command = args[0], args[1:]
	if len(command) > 0 && command[0] == "--" {
		command = command[1:]
	}
	if len(command) == 0 {
		return "", nil, fmt.Errorf("exec needs a COMMAND to run in pod %q (berth exec %s -- COMMAND)", pod, pod)
	}
	return pod, command, nil
}

func (o *execOptions) run(cmd *cobra.Command, pod string, command []string) error {
	c, closeClient, err := newClient(cmd)
	if err != nil {
		return err
	}
	defer closeClient()
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	eo := client.ExecOptions{Container: o.container, Command: command, TTY: o.tty, Stdout: cmd.OutOrStdout(), Stderr: cmd.ErrOrStderr()}
	in := cmd.InOrStdin()
	if o.stdin {
		eo.Stdin = in
	}
	if o.tty {
		restore, err := o.setUpTerminal(cmd, in, &eo)
		if err != nil {
			return err
		}
		// Restored before the exit code ends the program: main exits only
		// once RunE has returned.
		defer restore()
	}
	code, err := c.Exec(ctx, o.namespace, pod, eo)
	if err != nil {
		if ctx.Err() != nil && cmd.Context().Err() == nil {
			return exitError{130} // interrupted, as a shell reports SIGINT
		}
		return userError(err)
	}
	if code != 0 {
		return exitError{code}
	}
	return nil
}

// setUpTerminal prepares a -t exec: the terminal's size and its changes
// (SIGWINCH), and raw mode when stdin is a terminal that is copied, so
// that every key, Ctrl-C included, goes to the command. restore undoes it
// all; it is safe to call once on every path.
func (o *execOptions) setUpTerminal(cmd *cobra.Command, in io.Reader, eo *client.ExecOptions) (restore func(), err error) {
	inFile, isFile := in.(*os.File)
	inTerm := isFile && term.IsTerminal(int(inFile.Fd()))
	if o.stdin && !inTerm {
		fmt.Fprintln(cmd.ErrOrStderr(), "warning: stdin is not a terminal: running without one (-t ignored)")
		eo.TTY = false
		return func() {}, nil
	}
	sizeFd := -1
	if out, ok := cmd.OutOrStdout().(*os.File); ok && term.IsTerminal(int(out.Fd())) {
		sizeFd = int(out.Fd())
	} else if inTerm {
		sizeFd = int(inFile.Fd())
	}
	var undo []func()
	restore = func() {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
	}
	if sizeFd >= 0 {
		if w, h, err := term.GetSize(sizeFd); err == nil {
			eo.Size = &client.TermSize{Width: uint16(w), Height: uint16(h)}
		}
		winch := make(chan os.Signal, 1)
		signal.Notify(winch, syscall.SIGWINCH)
		resize := make(chan client.TermSize, 1)
		done := make(chan struct{})
		go forwardResizes(sizeFd, winch, resize, done)
		eo.Resize = resize
		undo = append(undo, func() { signal.Stop(winch); close(done) })
	}
	if o.stdin && inTerm {
		state, err := term.MakeRaw(int(inFile.Fd()))
		if err != nil {
			restore()
			return nil, fmt.Errorf("put the terminal in raw mode: %w", err)
		}
		undo = append(undo, func() { term.Restore(int(inFile.Fd()), state) })
	}
	return restore, nil
}

// forwardResizes sends the terminal's size on each SIGWINCH, the latest
// only when the last one was not taken yet, until done closes.
func forwardResizes(fd int, winch <-chan os.Signal, resize chan client.TermSize, done <-chan struct{}) {
	for {
		select {
		case <-done:
			return
		case <-winch:
		}
		w, h, err := term.GetSize(fd)
		if err != nil {
			continue
		}
		sz := client.TermSize{Width: uint16(w), Height: uint16(h)}
		select {
		case <-resize: // drop a stale size
		default:
		}
		select {
		case resize <- sz:
		case <-done:
			return
		}
	}
}
