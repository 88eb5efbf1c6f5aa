package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/gradlab/gradlab/experiments"
	"github.com/gradlab/gradlab/internal/openblas"
)

func newRootCmd(stdout, stderr io.Writer, environ []string) *cobra.Command {
	reg := experiments.Builtin()
	root := &cobra.Command{
		Use:           "gradlab",
		Short:         "gradlab runs experiments on training dynamics and implicit bias",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(newListCmd(reg), newRunCmd(reg, environ), newVersionCmd(), newConfigCmd(reg), newCheckCmd(), newHessianCmd(reg), newBenchCmd())
	return root
}

func newListCmd(reg *experiments.Registry) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the registered experiments",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			for _, e := range reg.List() {
				fmt.Fprintf(tw, "%s\t%s\n", e.Name, e.Description)
			}
			return tw.Flush()
		},
	}
}

func newRunCmd(reg *experiments.Registry, environ []string) *cobra.Command {
	var o experiments.RunOptions
	var device string
	c := &cobra.Command{
		Use:   "run NAME",
		Short: "Run an experiment and write its run directory",
		Long: `Run an experiment. Configuration precedence: defaults < preset < --config FILE
< GRADLAB_* environment < --set key=value. 'gradlab config NAME' lists the keys.
The run directory holds config.yaml, metrics.jsonl, summary.json, plots/ and ckpt/;
an interrupted run (Ctrl-C) saves a checkpoint and continues with --resume --out DIR.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := reg.Get(args[0])
			if err != nil {
				return err
			}
			if cmd.Flags().Changed("device") {
				o.Sets = append(o.Sets, "device="+device)
			}
			o.Env = environ
			o.OpenDevice = deviceOpener()
			o.Stdout = cmd.OutOrStdout()
			o.Progress = cmd.ErrOrStderr()
			o.Bar = isTerminal(cmd.ErrOrStderr()) && !hasEnv(environ, "GRADLAB_NO_PROGRESS")
			_, err = experiments.Run(cmd.Context(), e, o)
			return err
		},
	}
	f := c.Flags()
	f.StringVar(&o.Preset, "preset", "small", "preset: small (CPU, minutes) or full (one GPU)")
	f.StringVar(&o.ConfigFile, "config", "", "YAML file with configuration values")
	f.StringArrayVar(&o.Sets, "set", nil, "override a configuration value: key=value (repeatable)")
	f.StringVar(&o.Out, "out", "", "run directory (default runs/NAME-PRESET-TIME)")
	f.StringVar(&device, "device", "cpu", "cpu or cuda")
	f.BoolVar(&o.Resume, "resume", false, "continue the run in --out from its newest checkpoint")
	return c
}

func newConfigCmd(reg *experiments.Registry) *cobra.Command {
	return &cobra.Command{
		Use:   "config NAME",
		Short: "List an experiment's configuration keys, defaults and presets",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := reg.Get(args[0])
			if err != nil {
				return err
			}
			s, err := e.Schema()
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "key\tdefault\thelp")
			for _, p := range s.Params() {
				fmt.Fprintf(tw, "%s\t%v\t%s\n", p.Key, p.Default, p.Help)
			}
			fmt.Fprintf(tw, "\npresets: %s\n", strings.Join(e.PresetNames(), ", "))
			return tw.Flush()
		},
	}
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, Go version and BLAS",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			v := "(devel)"
			if bi, ok := debug.ReadBuildInfo(); ok {
				for _, s := range bi.Settings {
					if s.Key == "vcs.revision" && len(s.Value) >= 12 {
						v = s.Value[:12]
					}
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "gradlab %s (%s, %s/%s, BLAS %s)\n", v, runtime.Version(), runtime.GOOS, runtime.GOARCH, openblas.Name())
		},
	}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func hasEnv(environ []string, name string) bool {
	for _, kv := range environ {
		if k, v, _ := strings.Cut(kv, "="); k == name && v != "" && v != "0" {
			return true
		}
	}
	return false
}
