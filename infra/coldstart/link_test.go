package main

import (
	"os/exec"
	"strings"
	"testing"
)

// Each function's binary links only its own capability: its main imports
// wire and one builder package, never the table of every builder
// (shared/stack), and only the functions that invoke another (partner
// sync, member import jobs) link the Lambda client.
// Counted from the import graph, so it holds on any machine; make
// coldstart measures what it buys.
func TestMainsLinkOnlyTheirCapability(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports ","}} {{join .Deps ","}}`, "../../functions/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	mains := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		if len(fields) != 3 {
			t.Fatalf("go list line %q", line)
		}
		name, imports, deps := strings.TrimPrefix(fields[0], "workbench/functions/"), strings.Split(fields[1], ","), strings.Split(fields[2], ",")
		mains++
		builders := 0
		for _, imp := range imports {
			switch {
			case imp == "workbench/shared/stack/wire":
			case strings.HasPrefix(imp, "workbench/shared/stack/") && strings.HasSuffix(imp, "fn"):
				builders++
			default:
				t.Errorf("functions/%s imports %s: a main only wires (wire.Start and its builder)", name, imp)
			}
		}
		if builders != 1 {
			t.Errorf("functions/%s imports %d builder packages, want 1", name, builders)
		}
		invokes := strings.HasPrefix(name, "partner") || name == "marketplace" || strings.HasPrefix(name, "memberimport")
		for _, d := range deps {
			switch {
			case d == "workbench/shared/stack":
				t.Errorf("functions/%s links shared/stack, and so every domain", name)
			case d == "github.com/aws/aws-sdk-go-v2/service/lambda" && !invokes:
				t.Errorf("functions/%s links the Lambda client, which only the functions invoking others use", name)
			case d == "github.com/xuri/excelize/v2" && name != "memberimports":
				t.Errorf("functions/%s links excelize, whose package init costs milliseconds: only uploads and exports read or write XLSX", name)
			case d == "github.com/mozillazg/go-pinyin":
				t.Errorf("functions/%s links go-pinyin, whose dictionary is built at init (the directory has its own table)", name)
			}
		}
	}
	if mains < 10 {
		t.Fatalf("go list found %d functions", mains)
	}
}
