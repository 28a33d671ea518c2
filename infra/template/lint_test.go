package template

import (
	"os"
	"os/exec"
	"testing"
)

// cfn-lint transforms the SAM template as CloudFormation will and finds no
// error and no warning (informational findings are not reported by
// default; README, "Deploying and operating", names those we keep). It
// takes about ten seconds, so it runs with the tests rather than only in
// make lint.
func TestCfnLint(t *testing.T) {
	python := "python3"
	if venv := "../../.local/venv/bin/python"; exec.Command(python, "-c", "import cfnlint").Run() != nil {
		if _, err := os.Stat(venv); err == nil {
			python = venv
		}
	}
	cmd := exec.Command(python, "-c", "import sys; from cfnlint.runner import main; sys.exit(main())", "../../template.yaml")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("cfn-lint template.yaml: %v (without cfn-lint 1.x, run make lint-tools)\n%s", err, out)
	}
}
