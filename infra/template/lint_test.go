package template

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// cfn-lint finds no error and no warning in the SAM template nor in the
// template the SAM transform makes of it, the one CloudFormation deploys
// (informational findings are not reported by default; README, "Deploying
// and operating", says there are none). make lint runs the same checks
// with trivy's; this test keeps them in make test.
func TestCfnLint(t *testing.T) {
	python := "python3"
	if venv, _ := filepath.Abs("../../.local/venv/bin/python"); exec.Command(python, "-c", "import cfnlint").Run() != nil {
		if _, err := os.Stat(venv); err == nil {
			python = venv
		}
	}
	transformed := filepath.Join(t.TempDir(), "template.json")
	out, err := exec.Command(python, "transform.py", "../../template.yaml").Output()
	if err != nil {
		t.Fatalf("transform.py: %v (without cfn-lint 1.x, run make lint-tools)\n%s", err, stderr(err))
	}
	if err := os.WriteFile(transformed, out, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"../../template.yaml", transformed} {
		cmd := exec.Command(python, "-c", "import sys; from cfnlint.runner import main; sys.exit(main())",
			"--format", "parseable", "--", path)
		out, err := cmd.Output()
		if err != nil && len(out) == 0 {
			t.Fatalf("cfn-lint %s: %v\n%s", path, err, stderr(err))
		}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if line != "" {
				t.Errorf("cfn-lint: %s", line)
			}
		}
	}
}

func stderr(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}
