// The schedule of a normalisation over independent slices (GroupNorm; InstanceNorm is GroupNorm
// with a group per channel): which thread takes which slice or piece of one, when a slice's
// statistics are summed, what is fetched ahead, and the fences after streaming stores. A kernel
// gives run_slice_pipeline only its per-slice math (the SliceMath contract below).
//
// The schedule. A slice is a (rows, row_length) block, slices one after another in memory.
// Normally each thread takes a contiguous range of slices; with fewer slices than threads the
// threads share each slice instead, in chunks of kChunk elements that never cross a row
// (choose_slice_partition, parallel.hpp); small problems run serially. For each slice: its
// statistics (the math's own passes, over pieces the threads may share), then one pass that
// writes the slice's output. A slice's pass reads it from cache while the next slice is still in
// memory, so
//   - with rows of kMinPipelinedRow and more, and a math that has such a pass (normalise_and_next),
//     the pass takes the next slice's statistics in the same loop, row piece by row piece: one
//     loop keeps loads and stores busy where two passes in turn left memory idle while the
//     other computed (17-35% on GroupNorm's forward bench shapes with such rows);
//   - else the pass fetches the next slice ahead (Pass::ahead) and its statistics are summed
//     after, alone.
// A thread's first slice always has its statistics summed alone. Statistics are always summed
// over the same pieces in the same order, whichever thread or loop sums them, so the results
// are the same bits at any thread count.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "framework/core/parallel.hpp"
#include "framework/kernels/memory.hpp"
#include "framework/kernels/normalize.hpp"

namespace tapegrad::kernels {

// Rows from which a slice's pass takes the next slice's statistics in its own loop (measured on
// GroupNorm's forward: rows of 784 and more gain; on rows of 196 and 49 the per-row calls cost
// more than the overlap gains, docs/speed.md finding 23).
constexpr int64_t kMinPipelinedRow = 512;

// One slice, as its math sees it: which one, where it starts, and the loops that sum over its
// pieces, on the threads when they share the slice (`split`).
struct Slice {
    int64_t index, rows, row_length, size;
    bool split;
    // Whether the pass over the slice before may have taken this slice's statistics row piece by
    // row piece (row_length >= kMinPipelinedRow, a math with such a pass): sums that must give
    // the same bits are then taken over the same pieces (sum_rows), else over sum's.
    bool by_rows;

    int64_t begin() const { return index * size; }  // the slice's first element

    // Σ f(begin, length) over the slice's pieces of kChunk elements (across rows), in order.
    template <typename R, typename F>
    R sum(F&& f) const {
        return sum_in_order<R>(chunk_count(size), split, [&](int64_t k) {
            const int64_t b = k * kChunk;
            return f(b, std::min(kChunk, size - b));
        });
    }

    // Σ f(begin, length) over the pieces of its rows (chunk_of: kChunk elements at most), in order.
    template <typename R, typename F>
    R sum_rows(F&& f) const {
        return sum_in_order<R>(rows * chunk_count(row_length), split, [&](int64_t k) {
            const Chunk ch = chunk_of(k, row_length);
            return f(ch.begin, ch.length);
        });
    }

    // part = f(Chunk) for each piece of its rows, then fold(Chunk, part) in their order: per-row
    // sums (a row's first piece starts at ch.row · row_length).
    template <typename F, typename Fold>
    void fold_rows(F&& f, Fold&& fold) const {
        if (!split) {
            for_each_chunk_in_order(rows, row_length, [&](const Chunk& ch) { fold(ch, f(ch)); });
            return;
        }
        const int64_t n = rows * chunk_count(row_length);
        std::vector<decltype(f(chunk_of(0, row_length)))> parts(static_cast<size_t>(n));
        for_range(n, true, [&](int64_t k) { parts[static_cast<size_t>(k)] = f(chunk_of(k, row_length)); });
        for (int64_t k = 0; k < n; ++k) fold(chunk_of(k, row_length), parts[static_cast<size_t>(k)]);
    }
};

// SliceMath, what a kernel gives run_slice_pipeline (its members called with a const Math&):
//   static constexpr bool kFused          whether it has normalise_and_next
//   Statistics                            what is carried from a slice's sums to its pass
//   Coefficients                          a thread's per-slice values for the pass, reused
//   Statistics statistics(const Slice&)   the slice's statistics, alone
//   bool prepare(const Slice&, const Statistics&, Coefficients&)
//                                         writes what the slice saves (mean, rstd) and the
//                                         coefficients; false when there is no pass to run
//   void normalise(const Coefficients&, const Chunk&, Pass)
//                                         the pass over one piece of the slice
// and when kFused:
//   Statistics start(const Slice& next)   the next slice's statistics before any piece is added
//   void normalise_and_next(const Coefficients&, const Chunk&, Pass, const Slice& next, Statistics&)
//                                         the pass over a piece, adding the same piece of next
// The pieces a pass is given are whole rows (row_length elements; sizes and offsets within the
// slice), chunks of rows when the threads share the slice, and rows' chunks when fused.
template <typename Math>
void run_slice_pipeline(int64_t slices, int64_t rows, int64_t row_length, bool stream, const Math& math) {
    const int64_t size = rows * row_length;
    const SlicePartition partition = choose_slice_partition(slices, size);
    const bool split = partition == SlicePartition::within_slice;
    const bool by_rows = Math::kFused && row_length >= kMinPipelinedRow;
    const bool fused = by_rows && !split;
    // Fetching the next slice ahead whenever the threads take whole slices, whatever the size.
    // Measured both ways (bench_group_norm, 1 thread, forward): on a 2-core Intel Xeon (Emerald
    // Rapids, 260 MB L3) it is 3-15% faster on every bench shape, cached ones included; on the
    // 2-core AMD EPYC it was ~10% faster on 32x64x56x56 but 5-10% slower on tensors that stay in
    // its 32 MB L3. One rule for every CPU: on, since the loss on AMD was the smaller
    // (docs/speed.md, findings 12 and 19).
    const bool fetch_ahead = !split;
    auto fence_if = [](bool streamed) {
        return [streamed] {
            if (streamed) memory::stream_fence();
        };
    };
    auto slice = [&](int64_t i) { return Slice{i, rows, row_length, size, split, by_rows}; };
    for_thread_ranges(
        slices, partition == SlicePartition::over_slices,
        [&](int64_t begin, int64_t end) {
            if (begin == end) return;
            typename Math::Coefficients co{};
            auto stats = math.statistics(slice(begin));
            for (int64_t i = begin; i < end; ++i) {
                const Slice s = slice(i), next = slice(i + 1);
                const bool has_next = i + 1 < end;
                if (math.prepare(s, stats, co)) {
                    if constexpr (Math::kFused) {
                        if (fused && has_next) {
                            const Pass pass{stream, 0};
                            stats = math.start(next);
                            for_each_chunk_in_order(rows, row_length, [&](const Chunk& ch) {
                                math.normalise_and_next(co, ch, pass, next, stats);
                            });
                            continue;
                        }
                    }
                    const Pass pass{stream, fetch_ahead && has_next ? size : 0};
                    // When the threads share the slice, each fences its own stores; else the
                    // thread fences once, after its slices.
                    for_each_chunk(
                        rows, row_length, split, [&](const Chunk& ch) { math.normalise(co, ch, pass); },
                        fence_if(split && stream));
                }
                if (has_next) stats = math.statistics(next);
            }
        },
        fence_if(stream));
}

}  // namespace tapegrad::kernels
