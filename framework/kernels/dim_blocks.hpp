// The partitions of a reduction along one block of dimensions, (outer, R, inner), shared by
// reduce.cpp and softmax.cpp. Two shapes of work:
//   inner == 1: rows of R contiguous elements, the rows on the threads; with fewer rows than
//     threads, each row's chunks of kChunk elements instead. A row's reductions are always
//     taken over the same chunks, added in order, so the result does not depend on the
//     thread count.
//   inner > 1: for each o, column blocks of kColumns elements of the (R, inner) matrix, each
//     reduced over its R rows of contiguous elements into a per-thread buffer (heap, not the
//     stack), vectorised across the columns. The blocks are the tasks.
// Header-only: the lambdas must inline into the kernels.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "framework/core/parallel.hpp"

namespace tapegrad::kernels::dims {

// Columns per block: a block's double buffers (4 KB each) stay in L1, and its rows are long
// enough (2 KB of float) for the prefetchers to stream.
constexpr int64_t kColumns = 512;

// f(o, within) for o in [0, outer): the rows on the threads when that pays and there are at
// least as many rows as threads; otherwise in turn, `within` telling f that it may spread the
// row itself over the threads (a long row, few rows).
template <typename F>
void for_rows(int64_t outer, int64_t R, F&& f) {
    const int threads = parallel_threads(Work::elements, outer * R);
    if (threads > 1 && outer >= threads) {
        for_range(outer, true, [&](int64_t o) { f(o, false); });
        return;
    }
    const bool within = threads > 1 && R >= 2 * kChunk;
    for (int64_t o = 0; o < outer; ++o) f(o, within);
}

// part(begin, end) over the chunks of [0, n), folded in chunk order with combine: the same
// value whether or not `parallel` runs the chunks on the threads.
template <typename V, typename Part, typename Combine>
V over_chunks(int64_t n, bool parallel, Part&& part, Combine&& combine) {
    const int64_t chunks = (n + kChunk - 1) / kChunk;
    if (chunks <= 1) return part(int64_t{0}, n);
    std::vector<V> parts(static_cast<size_t>(chunks));
    for_range(chunks, parallel,
              [&](int64_t c) { parts[static_cast<size_t>(c)] = part(c * kChunk, std::min(n, (c + 1) * kChunk)); });
    V v = parts[0];
    for (int64_t c = 1; c < chunks; ++c) v = combine(v, parts[static_cast<size_t>(c)]);
    return v;
}

template <typename Part>
double sum_over_chunks(int64_t n, bool parallel, Part&& part) {
    return over_chunks<double>(n, parallel, part, [](double a, double b) { return a + b; });
}

// Per-thread scratch of a column block: two double rows and one T row of kColumns.
template <typename T>
struct ColumnBuffers {
    std::vector<double> a = std::vector<double>(kColumns), b = std::vector<double>(kColumns);
    std::vector<T> t = std::vector<T>(kColumns);
};

// f(o, k0, width, buffers) for every column block [k0, k0 + width) of every o; the blocks on
// the threads when `work` elements pay for it, each thread with its own buffers.
template <typename T, typename F>
void for_column_blocks(int64_t outer, int64_t inner, int64_t work, F&& f) {
    const int64_t blocks = (inner + kColumns - 1) / kColumns, tasks = outer * blocks;
    for_thread_ranges(
        tasks, worth_parallel(Work::elements, work, tasks),
        [&](int64_t begin, int64_t end) {
            if (begin >= end) return;
            ColumnBuffers<T> buffers;
            int64_t o = begin / blocks, block = begin % blocks;  // once per thread; then counted
            for (int64_t t = begin; t < end; ++t) {
                const int64_t k0 = block * kColumns;
                f(o, k0, std::min(kColumns, inner - k0), buffers);
                if (++block == blocks) block = 0, ++o;
            }
        },
        [] {});
}

}  // namespace tapegrad::kernels::dims
