package rie

import (
	"os/exec"
	"syscall"
	"time"
)

// setProcAttr puts the emulator in a process group of its own, which kill
// ends together with the function it started, and has the kernel kill it
// when the process that started it dies, so a crashed test leaves no
// emulator behind.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// kill asks the emulator to stop, so that it reaps the function, and
// kills the whole group if it does not within a moment.
func kill(cmd *exec.Cmd, done <-chan struct{}) {
	_ = cmd.Process.Signal(syscall.SIGTERM) // it may have exited already
	select {
	case <-done:
	case <-time.After(2 * time.Second):
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // ESRCH when the group is gone, as it should be
}
