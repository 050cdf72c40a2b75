// ParallelFor: f(0), ..., f(n - 1) on up to `parallelism` threads, returning when all are done.
// f must be thread-safe; the calls run in no particular order. With one worker (or n == 1) they run
// on the calling thread, in order.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <thread>
#include <vector>

namespace crtoken {

template <typename F>
void ParallelFor(std::size_t n, int parallelism, F&& f) {
  if (n == 0) return;
  const std::size_t workers =
      std::min<std::size_t>(n, static_cast<std::size_t>(std::max(1, parallelism)));
  if (workers == 1) {
    for (std::size_t i = 0; i < n; ++i) f(i);
    return;
  }
  std::atomic<std::size_t> next{0};
  std::vector<std::thread> threads;
  threads.reserve(workers);
  for (std::size_t w = 0; w < workers; ++w) {
    threads.emplace_back([&] {
      for (std::size_t i = next++; i < n; i = next++) f(i);
    });
  }
  for (auto& t : threads) t.join();
}

}  // namespace crtoken
