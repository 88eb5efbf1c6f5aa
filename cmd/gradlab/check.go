package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/gradlab/gradlab/checks"
)

func newCheckCmd() *cobra.Command {
	var tol float64
	var seed uint64
	c := &cobra.Command{
		Use:   "check [FILTER ...]",
		Short: "Check every op's and model's gradient and HVP against float64 finite differences",
		Long: `Check compares the gradient and the Hessian-vector product that gradlab's
autodiff builds with float64 central differences along random directions,
for every op and model family (or those whose name contains a FILTER), prints
a table of relative errors and exits non-zero when any row exceeds --tol.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			cases := checks.Filter(checks.Catalogue(seed), args...)
			if len(cases) == 0 {
				return fmt.Errorf("no check matches %v", args)
			}
			rows := checks.Run(cases, tol, seed)
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "family\tcheck\tparams\tgrad rel err\thvp rel err\tresult")
			failed := 0
			for _, r := range rows {
				res := "pass"
				if !r.Pass {
					res = "FAIL"
					failed++
					if r.Err != nil {
						res = "FAIL: " + r.Err.Error()
					}
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%.2e\t%.2e\t%s\n", r.Family, r.Name, r.Dim, r.GradErr, r.HVPErr, res)
			}
			fmt.Fprintf(tw, "\n%d checks, %d failed (tolerance %g)\n", len(rows), failed, tol)
			if err := tw.Flush(); err != nil {
				return err
			}
			if failed > 0 {
				return fmt.Errorf("%d of %d derivative checks failed", failed, len(rows))
			}
			return nil
		},
	}
	c.Flags().Float64Var(&tol, "tol", 1e-6, "largest accepted relative error")
	c.Flags().Uint64Var(&seed, "seed", 1, "seed of inputs and directions")
	return c
}
