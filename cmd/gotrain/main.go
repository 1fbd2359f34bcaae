// Command gotrain trains neural networks with the gotrain engine.
//
//	gotrain mnist [flags]   train an MLP classifier on MNIST
//	gotrain gpt train|sample|eval [flags]   GPT-2 language models
//	gotrain info            list the devices
//	gotrain version         print the version
//	gotrain help [command]  print help
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
)

// version is the release; builds from a checkout add the VCS revision.
const version = "v0.1.0-dev"

type command struct {
	name, summary string
	run           func(args []string, stdout, stderr io.Writer) error
}

var commands []command

func init() {
	commands = []command{
		{"mnist", "train an MLP classifier on MNIST (downloads nothing: the data ship in a Go module)", runMNIST},
		{"gpt", "train, sample and evaluate a GPT-2 language model (default data: the Go sources)", runGPT},
		{"info", "list the devices gotrain can train on", runInfo},
		{"version", "print the version of gotrain and of Go", runVersion},
		{"help", "print help for gotrain or a command", runHelp},
	}
}

func usage(w io.Writer) {
	fmt.Fprintf(w, `gotrain is a deep-learning training engine for NVIDIA GPUs with a pure-Go CPU fallback.

Usage:

	gotrain <command> [flags]

Commands:

`)
	for _, c := range commands {
		fmt.Fprintf(w, "\t%-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nRun \"gotrain help <command>\" or \"gotrain <command> -h\" for a command's flags.\n")
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes a command line and returns the exit status: 0 on success, 1
// on failure, 2 on bad usage (as Go's own tools).
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch args[0] {
	case "-h", "-help", "--help":
		usage(stdout)
		return 0
	case "-version", "--version":
		args[0] = "version"
	}
	for _, c := range commands {
		if c.name != args[0] {
			continue
		}
		err := c.run(args[1:], stdout, stderr)
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.Is(err, errUsage):
			return 2
		}
		fmt.Fprintf(stderr, "gotrain %s: %v\n", c.name, err)
		return 1
	}
	fmt.Fprintf(stderr, "gotrain: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

// errUsage is returned after a flag error has been printed.
var errUsage = errors.New("usage")

// parseFlags parses a command's flags, printing errors and help to stderr
// and stdout as the flag package does.
func parseFlags(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	fs.SetOutput(stderr)
	for _, a := range args {
		if a == "-h" || a == "-help" || a == "--help" {
			fs.SetOutput(stdout)
		}
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "gotrain %s: unexpected arguments %q\n", fs.Name(), fs.Args())
		return errUsage
	}
	return nil
}

func versionString() string {
	rev := ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				rev = " " + s.Value[:12]
			}
			if s.Key == "vcs.modified" && s.Value == "true" && rev != "" {
				rev += "+dirty"
			}
		}
	}
	return fmt.Sprintf("gotrain %s%s (%s, %s/%s)", version, rev, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

func runVersion(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	if err := parseFlags(fs, args, stdout, stderr); err != nil {
		return err
	}
	fmt.Fprintln(stdout, versionString())
	return nil
}

func runHelp(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		usage(stdout)
		return nil
	}
	for _, c := range commands {
		if c.name == args[0] && c.name != "help" {
			return c.run([]string{"-h"}, stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "gotrain help: unknown command %q\n", args[0])
	return errUsage
}
