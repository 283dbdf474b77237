// Command mkimage writes the test image archive (see package testimage):
//
//	go run ./internal/testimage/mkimage -o busybox.tar [-ref REF]
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"

	"github.com/berth-dev/berth/internal/testimage"
)

func main() {
	out := flag.String("o", "", "the archive to write (required)")
	ref := flag.String("ref", testimage.Ref, "the image's name")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "mkimage: -o FILE is required")
		os.Exit(2)
	}
	if err := write(*out, *ref); err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
}

func write(path, ref string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	if err := testimage.Write(w, ref); err != nil {
		f.Close()
		return err
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
