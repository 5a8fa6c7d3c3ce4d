//go:build !pprof

package main

// startProfiler does nothing in the default binary: the profiler exists
// only in a build with -tags pprof (pprof.go).
func startProfiler() {}
