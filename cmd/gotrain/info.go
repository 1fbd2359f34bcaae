package main

import (
	"flag"
	"fmt"
	"io"
	"runtime"

	"github.com/gotrain/gotrain/cpufallback"
	"github.com/gotrain/gotrain/device"
	"github.com/gotrain/gotrain/kernels"
)

func runInfo(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("info", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: gotrain info\n\nLists the devices gotrain can train on.\n")
	}
	if err := parseFlags(fs, args, stdout, stderr); err != nil {
		return err
	}
	fmt.Fprintln(stdout, versionString())
	fmt.Fprintf(stdout, "cpu: %d threads (GOMAXPROCS), %s/%s\n", runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH)
	b, err := device.Open(0)
	if err != nil {
		fmt.Fprintf(stdout, "cuda: none: %v\n", err)
		return nil
	}
	defer b.Close()
	i := b.Info()
	kind := "cuda:0"
	if i.Emulated {
		kind = "cudaemu (the CUDA kernels emulated on the CPU)"
	}
	fmt.Fprintf(stdout, "%s: %s, compute capability %d.%d, %.1f GiB, driver %s, %s\n",
		kind, i.Name, i.ComputeCapability[0], i.ComputeCapability[1], float64(i.MemoryBytes)/(1<<30), i.Driver, i.CUBLAS)
	return nil
}

// openBackend returns the backend for -device: "cpu", "cuda", or "" for
// cuda when this build has a real CUDA driver and a GPU answers, else cpu.
func openBackend(name string, threads int) (kernels.Backend, func(), error) {
	cpu := func() (kernels.Backend, func(), error) { return cpufallback.New(threads), func() {}, nil }
	switch name {
	case "cpu":
		return cpu()
	case "cuda":
		b, err := device.Open(0)
		if err != nil {
			return nil, nil, fmt.Errorf("-device cuda: %w", err)
		}
		return b, func() { b.Close() }, nil
	case "":
		if device.Compiled == "cuda" {
			if b, err := device.Open(0); err == nil {
				return b, func() { b.Close() }, nil
			}
		}
		return cpu()
	}
	return nil, nil, fmt.Errorf("-device %q: want cpu or cuda", name)
}
