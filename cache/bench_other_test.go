//go:build !linux

package cache

// threadCPU is not measured here: BenchmarkExec's cpu-ns/op reads 0.
func threadCPU() int64 { return 0 }
