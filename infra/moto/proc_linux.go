package moto

import (
	"os/exec"
	"syscall"
)

// detach puts the server in a process group of its own. Ctrl-C in a
// terminal, or a kill of the caller's group, then reaches only the caller,
// which still needs the server to save its last snapshot; the launcher exits
// by itself once the caller is gone.
func detach(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}
