package kubetest

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the kernel kill the server if the test process dies
// without tearing down (a panic, a timeout kill), so none are left behind.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
