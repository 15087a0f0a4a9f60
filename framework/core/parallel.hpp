// The one policy for going parallel, and the loops and partitions every level shares (the
// kernels, the optimizers, the data loader): the core level, below the kernels.
//
// An OpenMP parallel region costs microseconds, and far more on a loaded machine, where every
// region ends in a barrier (docs/speed.md, finding 4). So a loop goes parallel only when its
// work pays for that, measured in one of two units:
//   Work::elements       elements read or written by a memory-bound pass (normalisation,
//                        pooling, ReLU, im2col copies, the SGD update, batch assembly);
//   Work::multiply_adds  multiply-adds of compute-bound work (GEMM, a convolution's samples).
// Below the unit's threshold one thread is faster. Never inside a parallel region (OpenMP does
// not nest here: the inner loop would run on one thread anyway), and never with one thread.
//
// The loops that take an `after` (a fence after streaming stores, a flush of per-thread
// buffers) all run it the same way: once on every thread of the parallel region, after that
// thread's share (even an empty one), and once after the loop when it runs serially.
// tests/test_parallel_kernels.cpp holds each loop to that.
// Everything here is header-only: the partitions take lambdas and must inline into the kernels.
#pragma once

#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

namespace tapegrad::core {

enum class Work { elements, multiply_adds };

constexpr int64_t kMinParallelElements = int64_t{1} << 16;
constexpr int64_t kMinParallelMultiplyAdds = int64_t{1} << 20;

constexpr int64_t min_parallel_work(Work unit) {
    return unit == Work::elements ? kMinParallelElements : kMinParallelMultiplyAdds;
}

// How many threads a loop of `tasks` independent tasks, `amount` units of work in all, should
// run on: 1 when it is not worth a parallel region, else up to one thread per task.
inline int parallel_threads(Work unit, int64_t amount, int64_t tasks = INT64_MAX) {
    if (tasks < 2 || amount < min_parallel_work(unit) || omp_in_parallel()) return 1;
    return static_cast<int>(std::min<int64_t>(omp_get_max_threads(), tasks));
}
inline bool worth_parallel(Work unit, int64_t amount, int64_t tasks = INT64_MAX) {
    return parallel_threads(unit, amount, tasks) > 1;
}

// f(i) for i in [0, n), on the OpenMP threads when `parallel` (schedule static: the same
// thread gets the same i on every call, so per-thread results are reproducible); then `after`.
template <typename F, typename After>
void for_range(int64_t n, bool parallel, F&& f, After&& after) {
    if (!parallel) {
        for (int64_t i = 0; i < n; ++i) f(i);
        after();
        return;
    }
#pragma omp parallel
    {
#pragma omp for schedule(static) nowait
        for (int64_t i = 0; i < n; ++i) f(i);
        after();
    }
}
template <typename F>
void for_range(int64_t n, bool parallel, F&& f) {
    for_range(n, parallel, std::forward<F>(f), [] {});
}

// f(share(t, T)) on each thread t of a region of T threads when `parallel`, else f(0, n);
// then `after`. share(t, T) gives thread t's [begin, end) as a pair.
template <typename Share, typename F, typename After>
void for_thread_shares(int64_t n, bool parallel, Share&& share, F&& f, After&& after) {
    if (!parallel) {
        f(int64_t{0}, n);
        after();
        return;
    }
#pragma omp parallel
    {
        const auto [begin, end] = share(int64_t{omp_get_thread_num()}, int64_t{omp_get_num_threads()});
        f(begin, end);
        after();
    }
}

// f(begin, end) over [0, n): one contiguous range per thread when `parallel` (thread t of T
// gets [t·n/T, (t+1)·n/T), the ranges of schedule(static)), else f(0, n); then `after`.
// For loops that carry work from one index to the next.
template <typename F, typename After>
void for_thread_ranges(int64_t n, bool parallel, F&& f, After&& after) {
    auto share = [n](int64_t t, int64_t threads) { return std::pair{t * n / threads, (t + 1) * n / threads}; };
    for_thread_shares(n, parallel, share, f, after);
}

// Σ f(i) for i in [0, n), added in the order of i whatever the thread count: with `parallel`
// the f(i) are evaluated on the OpenMP threads into a buffer, then added serially, so the sum
// is bit for bit the serial loop's. R is default-constructible to zero and has +=.
template <typename R, typename F>
R sum_in_order(int64_t n, bool parallel, F&& f) {
    if (!parallel) {
        R s{};
        for (int64_t i = 0; i < n; ++i) s += f(i);
        return s;
    }
    std::vector<R> parts(static_cast<size_t>(n));
    for_range(n, true, [&](int64_t i) { parts[static_cast<size_t>(i)] = f(i); });
    R s{};
    for (const R& p : parts) s += p;
    return s;
}

// f(begin, end) over [0, n), one contiguous range per thread when `parallel`. Ranges start on
// multiples of 16 elements (64 bytes of float), so that threads never share a cache line they
// write. Each thread's share is n / threads rounded UP, then up to a multiple of 16, so the
// ranges cover [0, n) (rounding n / threads down left the last n mod 16 elements out, e.g.
// element 32 of n = 33 on 2 threads).
template <typename F, typename After>
void for_ranges(int64_t n, bool parallel, F&& f, After&& after) {
    auto share = [n](int64_t t, int64_t threads) {
        const int64_t per = ((n + threads - 1) / threads + 15) / 16 * 16;
        return std::pair{std::min(n, t * per), std::min(n, (t + 1) * per)};
    };
    for_thread_shares(n, parallel, share, f, after);
}
template <typename F>
void for_ranges(int64_t n, bool parallel, F&& f) {
    for_ranges(n, parallel, std::forward<F>(f), [] {});
}

// --- slices of rows: the normalisations' partition -------------------------------------------
// A normalisation reduces over independent slices (GroupNorm: one per (sample, group)), each
// a (rows, row_length) block: D channels of `inner` elements. Normally the threads take whole
// slices. With fewer slices than threads they share each slice instead, in chunks of kChunk
// elements that never cross a row. Small problems run serially.
constexpr int64_t kChunk = 16384;
// Threads sharing a slice split a row at multiples of kChunk: whole cache lines, so that they
// never write the same line (and streaming stores stay line-aligned).
static_assert(kChunk * sizeof(float) % 64 == 0);

constexpr int64_t chunk_count(int64_t row_length) { return (row_length + kChunk - 1) / kChunk; }

enum class SlicePartition { serial, over_slices, within_slice };

inline SlicePartition choose_slice_partition(int64_t slices, int64_t slice_size) {
    if (!worth_parallel(Work::elements, slices * slice_size)) return SlicePartition::serial;
    return slices < omp_get_max_threads() && slice_size >= 2 * kChunk ? SlicePartition::within_slice
                                                                      : SlicePartition::over_slices;
}

// Chunk k of a (rows, row_length) slice: row `row`, elements [begin, begin + length) of the slice.
struct Chunk {
    int64_t row, begin, length;
};
inline Chunk chunk_of(int64_t k, int64_t row_length) {
    const int64_t chunks = chunk_count(row_length);
    const int64_t row = k / chunks, begin = row * row_length + k % chunks * kChunk;
    return {row, begin, std::min(kChunk, (row + 1) * row_length - begin)};
}

// f(Chunk) for the chunks of a (rows, row_length) slice in order, serially: chunk_of(k) for k
// = 0, 1, ..., without its divisions.
template <typename F>
void for_each_chunk_in_order(int64_t rows, int64_t row_length, F&& f) {
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t b = 0; b < row_length; b += kChunk)
            f(Chunk{r, r * row_length + b, std::min(kChunk, row_length - b)});
}

// f(Chunk) over a (rows, row_length) slice: its whole rows in order, or when `split`, the
// chunks of its rows on the OpenMP threads; then `after`. The serial path is a plain row
// loop: with short rows (49 elements) the divisions of chunk_of were measurable.
template <typename F, typename After>
void for_each_chunk(int64_t rows, int64_t row_length, bool split, F&& f, After&& after) {
    if (!split) {
        for (int64_t r = 0; r < rows; ++r) f(Chunk{r, r * row_length, row_length});
        after();
        return;
    }
    for_range(
        rows * chunk_count(row_length), true, [&](int64_t k) { f(chunk_of(k, row_length)); }, after);
}

}  // namespace tapegrad::core

// The kernels use the loops unqualified, as their own.
namespace tapegrad::kernels {
using namespace tapegrad::core;
}
