// Package rawsys makes the system calls of an event loop that never block (a read or
// write on a non-blocking socket, an epoll_wait that does not wait) without telling the
// Go scheduler about them.
//
// syscall.Read and syscall.Write enter the runtime's system-call state in case the call
// blocks, so that another thread can take the processor (P) meanwhile. For an event loop,
// whose goroutine spends nearly all its time in such calls, that care costs more than it
// saves: the runtime's sysmon sees a P sitting in a system call, takes it away and starts
// or wakes another thread, and the loop, back from the call, must find a P again, often
// on another thread. In the cache and the proxy that was half a context switch or more per
// request (docs/benchmarks.md). The calls here are syscall.RawSyscall: the P stays with
// the loop, which is safe only because none of them can block.
//
// Epoll is the loop's epoll set together with the pipe by which other goroutines wake
// it, which both loops need alike: Poll looks at it raw, Wait blocks.
//
// A loop that uses them must still block somewhere when it has nothing to do
// (Epoll.Wait, through the scheduler), and must pass through the scheduler now and then
// (runtime.Gosched) so that sysmon does not take it for a goroutine that hogs its P: the
// loops in cache and proxy do both.
package rawsys
