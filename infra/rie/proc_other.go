//go:build !linux

package rie

import "os/exec"

// The emulator runs only on Linux; elsewhere Start fails and these are
// never needed.

func setProcAttr(cmd *exec.Cmd) {}

func kill(cmd *exec.Cmd, done <-chan struct{}) { cmd.Process.Kill() }
