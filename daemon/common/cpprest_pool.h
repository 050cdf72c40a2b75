// The size of cpprest's shared thread pool, set once per process before the first request, and
// the order in which it and OpenSSL are torn down at exit.
//
// cpprest runs every continuation of every request on one process-wide pool, which on Linux has
// 40 threads by default. Each continuation wakes a pool thread, so with 8 requests in flight the
// 40 threads mostly take turns at a futex: measured on 2 cores, 1,000 PUTs cost ~49,000 context
// switches and 0.8 s of system time with 40 threads, ~11,000 and 0.2 s with 2. crtoken's own
// threads block on their requests outside the pool, so a small pool only ever runs short
// callbacks.
//
// At exit the pool is stopped and its threads joined by a static destructor, while OpenSSL frees
// its global state (locks included) in an exit handler of its own; the two run in the reverse
// order of their registration. A pool thread may still be releasing a TLS connection when main
// returns: a one-shot command that failed a TLS handshake exits as soon as the error reaches it,
// and the connection is freed on the pool just after. Had OpenSSL cleaned up first, that thread
// would wait forever on a lock already destroyed, and the exit on joining it: the process hung.
// So OpenSSL is initialised (its exit handler registered) before the pool exists, and the pool's
// threads are joined while OpenSSL is still whole.
#pragma once

namespace crtoken {

// Initialises OpenSSL, then gives the pool 2 threads if it does not exist yet; a no-op once it
// does (cpprest sizes it only once). Call before any cpprest client is made. Thread-safe; never
// throws.
void SizeCpprestPool();

}  // namespace crtoken
