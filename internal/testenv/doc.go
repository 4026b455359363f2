// Package testenv is for tests only: it finds the shared data beside the
// checkout and decides what a missing dependency means. Locally a test that
// needs root, the kernel, an API server or a browser skips with the reason;
// under CI=true the same condition fails the test, so a missing install
// step can never pass as a skip.
package testenv
