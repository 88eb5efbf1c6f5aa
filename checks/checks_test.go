package checks

import (
	"errors"
	"testing"

	"gorgonia.org/gorgonia"

	"github.com/gradlab/gradlab/autodiff/fdcheck"
)

// TestCatalogueWithinTolerance runs every registered check: each op and model
// family must match float64 finite differences to 1e-6 relative, for the
// gradient and for the Hessian-vector product.
func TestCatalogueWithinTolerance(t *testing.T) {
	cases := Catalogue(1)
	if len(cases) < 20 {
		t.Fatalf("catalogue has only %d cases", len(cases))
	}
	for _, r := range Run(cases, 1e-6, 1) {
		if !r.Pass {
			t.Errorf("%s: grad %.2e hvp %.2e err %v", r.Name, r.GradErr, r.HVPErr, r.Err)
		}
		if r.HVPErr == 0 && r.GradErr == 0 {
			t.Errorf("%s: both errors exactly zero; the check compares nothing", r.Name)
		}
	}
}

func TestRunReportsFailures(t *testing.T) {
	bad := Case{Name: "broken", Params: []fdcheck.Param{{Name: "p", Shape: []int{2}, Data: []float64{1, 2}}},
		Build: func(*gorgonia.ExprGraph, gorgonia.Nodes) (*gorgonia.Node, error) { return nil, errors.New("boom") }}
	rows := Run([]Case{bad}, 1e-6, 1)
	if len(rows) != 1 || rows[0].Pass || rows[0].Err == nil {
		t.Fatalf("a failing builder passed: %+v", rows)
	}
	if got := Filter(Catalogue(1), "conv2d"); len(got) == 0 || len(got) >= len(Catalogue(1)) {
		t.Errorf("filter kept %d cases", len(got))
	}
}
