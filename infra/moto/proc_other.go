//go:build !linux

package moto

import "os/exec"

func detach(cmd *exec.Cmd) {}
