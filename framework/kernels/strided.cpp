// Strided copies and index gathers; see strided.hpp.
#include "framework/kernels/strided.hpp"

#include <algorithm>
#include <cstring>
#include <vector>

#include "framework/core/checked.hpp"
#include "framework/core/parallel.hpp"
#include "framework/kernels/reductions.hpp"
#include "framework/kernels/simd.hpp"

namespace tapegrad::kernels {

namespace {

// An index space after merging: outer dimensions walked by counters, then one inner run of
// `length` elements with strides dst_step and src_step.
struct Layout {
    std::vector<int64_t> sizes, dst_strides, src_strides;  // the outer dimensions, outermost first
    int64_t length = 1, dst_step = 1, src_step = 1;
    int64_t runs = 1;  // Π sizes
};

// Drops dimensions of size 1 and merges d into d + 1 where both sides address them as one
// dimension (stride_d == size_{d+1}·stride_{d+1} on each side). Returns false for an empty space.
bool make_layout(Layout& l, const int64_t* dst_strides, const int64_t* src_strides, const int64_t* sizes,
                 int64_t rank) {
    std::vector<int64_t> sz, ds, ss;  // innermost first while merging
    for (int64_t d = rank - 1; d >= 0; --d) {
        if (sizes[d] == 0) return false;
        if (sizes[d] == 1) continue;
        if (!sz.empty() && dst_strides[d] == ds.back() * sz.back() && src_strides[d] == ss.back() * sz.back()) {
            sz.back() *= sizes[d];
            continue;
        }
        sz.push_back(sizes[d]);
        ds.push_back(dst_strides[d]);
        ss.push_back(src_strides[d]);
    }
    if (!sz.empty()) {
        l.length = sz.front();
        l.dst_step = ds.front();
        l.src_step = ss.front();
        l.sizes.assign(sz.rbegin(), sz.rend() - 1);
        l.dst_strides.assign(ds.rbegin(), ds.rend() - 1);
        l.src_strides.assign(ss.rbegin(), ss.rend() - 1);
    }
    for (int64_t s : l.sizes) l.runs *= s;
    return true;
}

// True when no two indices of the layout reach the same destination element: sorted by
// stride, each dimension's stride must pass the farthest reach of the smaller ones.
bool distinct_destinations(const Layout& l) {
    std::vector<std::pair<int64_t, int64_t>> dims;  // (stride, size)
    for (size_t k = 0; k < l.sizes.size(); ++k) dims.emplace_back(l.dst_strides[k], l.sizes[k]);
    dims.emplace_back(l.dst_step, l.length);
    std::sort(dims.begin(), dims.end());
    int64_t reach = 0;  // the largest offset the smaller dimensions reach
    for (const auto& [stride, size] : dims) {
        if (size > 1 && stride <= reach) return false;
        reach += stride * (size - 1);
    }
    return true;
}

// Walks the outer dimensions of a layout from a given run on: the counters and both offsets.
class Cursor {
  public:
    Cursor(const Layout& l, int64_t run) : l_(l), counters_(l.sizes.size(), 0) {
        for (int64_t k = static_cast<int64_t>(l.sizes.size()) - 1; k >= 0; --k) {
            const auto u = static_cast<size_t>(k);
            counters_[u] = run % l.sizes[u];
            run /= l.sizes[u];
            dst_ += counters_[u] * l.dst_strides[u];
            src_ += counters_[u] * l.src_strides[u];
        }
    }
    int64_t dst() const { return dst_; }
    int64_t src() const { return src_; }
    void next() {
        for (size_t k = l_.sizes.size(); k-- > 0;) {
            dst_ += l_.dst_strides[k];
            src_ += l_.src_strides[k];
            if (++counters_[k] < l_.sizes[k]) return;
            dst_ -= l_.dst_strides[k] * l_.sizes[k];
            src_ -= l_.src_strides[k] * l_.sizes[k];
            counters_[k] = 0;
        }
    }

  private:
    const Layout& l_;
    std::vector<int64_t> counters_;
    int64_t dst_ = 0, src_ = 0;
};

// One inner run of n elements: the copy.
template <typename T>
void copy_run(T* dst, int64_t dst_step, const T* src, int64_t src_step, int64_t n) {
    if (dst_step == 1 && src_step == 1) {
        std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(T));
    } else if (dst_step == 1 && src_step == 0) {
        std::fill(dst, dst + n, *src);
    } else {
        for (int64_t i = 0; i < n; ++i) dst[i * dst_step] = src[i * src_step];
    }
}

// One inner run of n elements: the add. A destination step of 0 sums the run into one element.
template <typename T>
void add_run(T* dst, int64_t dst_step, const T* src, int64_t src_step, int64_t n) {
    if (dst_step == 1 && src_step == 1) {
        using B = xsimd::batch<T>;
        constexpr int64_t lanes = static_cast<int64_t>(B::size);
        int64_t i = 0;
        for (; i + lanes <= n; i += lanes)
            (B::load_unaligned(dst + i) + B::load_unaligned(src + i)).store_unaligned(dst + i);
        for (; i < n; ++i) dst[i] += src[i];
    } else if (dst_step == 0) {
        double s = 0.0;
        if (src_step == 1)
            s = sum(src, n);
        else
            for (int64_t i = 0; i < n; ++i) s += static_cast<double>(src[i * src_step]);
        *dst += static_cast<T>(s);
    } else {
        for (int64_t i = 0; i < n; ++i) dst[i * dst_step] += src[i * src_step];
    }
}

// Runs `run(dst, src, n)` over the layout. With fewer runs than about four per thread, each run
// is cut into pieces so that the threads still share the work; a thread finds its first run by
// division, then advances counters.
template <typename T, typename S, typename Run>
void for_each_run(const Layout& l, T* dst, S* src, bool may_split, Run&& run) {
    const int64_t total = saturating_mul(l.runs, l.length);
    const bool parallel = may_split && worth_parallel(Work::elements, total);
    int64_t pieces = 1;
    if (parallel) {
        const int64_t wanted = 4 * static_cast<int64_t>(omp_get_max_threads());
        if (l.runs < wanted)
            pieces = std::min<int64_t>((wanted + l.runs - 1) / l.runs, std::max<int64_t>(1, l.length / 1024));
    }
    const int64_t piece = (l.length + pieces - 1) / pieces;
    for_thread_ranges(
        l.runs * pieces, parallel,
        [&](int64_t begin, int64_t end) {
            if (begin >= end) return;
            Cursor c(l, begin / pieces);
            int64_t p = begin % pieces;
            for (int64_t t = begin; t < end;) {
                const int64_t p_end = std::min(pieces, p + (end - t));
                const int64_t lo = p * piece, hi = std::min(l.length, p_end * piece);
                if (lo < hi) run(dst + c.dst() + lo * l.dst_step, src + c.src() + lo * l.src_step, hi - lo);
                t += p_end - p;
                p = 0;
                c.next();
            }
        },
        [] {});
}

// Tiles for a run that is strided on one side (a transpose): when another dimension k is
// contiguous on that side, the two are walked together in tiles of kTileRows elements of k by
// kTileColumns of the run, so that each cache line of the strided side is used whole while it
// is in cache. The run side stays at 8 columns: a power-of-two stride maps every column to the
// same cache set, and an 8-way L1 holds 8 of them. A (2048, 2048) float transpose took ~90 ms
// untiled, ~30 ms in 32×32 tiles and ~13 ms in 64×8 tiles (AMD EPYC, 2 vCPUs shared and
// loaded, one thread: ./build/release/bench/bench_shape --benchmark_filter=transpose).
constexpr int64_t kTileRows = 64, kTileColumns = 8;

// op(dst element, src element) over the layout in tiles; false (nothing done) when the layout
// has no such pair of dimensions. Parallel over blocks of kTileRows rows of dimension k (times the
// other outer dimensions), each found by division: a block is kTileRows whole runs.
template <typename T, typename S, typename Op>
bool for_each_tile(const Layout& l, T* dst, S* src, bool may_split, Op&& op) {
    if (l.dst_step == 0 || l.src_step == 0 || l.length < kTileColumns || (l.src_step == 1 && l.dst_step == 1))
        return false;
    const std::vector<int64_t>& side = l.src_step != 1 ? l.src_strides : l.dst_strides;
    size_t k = 0;
    while (k < l.sizes.size() && !(side[k] == 1 && l.sizes[k] >= 16)) ++k;  // 16: a cache line of floats
    if (k == l.sizes.size()) return false;
    const int64_t rows = l.sizes[k], dk = l.dst_strides[k], sk = l.src_strides[k];
    const int64_t blocks = (rows + kTileRows - 1) / kTileRows, runs = l.runs / rows;
    const bool parallel = may_split && worth_parallel(Work::elements, saturating_mul(l.runs, l.length), runs * blocks);
    for_range(runs * blocks, parallel, [&](int64_t task) {
        int64_t run = task / blocks, dst_offset = 0, src_offset = 0;
        for (size_t d = l.sizes.size(); d-- > 0;) {
            if (d == k) continue;
            const int64_t idx = run % l.sizes[d];
            run /= l.sizes[d];
            dst_offset += idx * l.dst_strides[d];
            src_offset += idx * l.src_strides[d];
        }
        const int64_t i0 = task % blocks * kTileRows, i1 = std::min(rows, i0 + kTileRows);
        for (int64_t j0 = 0; j0 < l.length; j0 += kTileColumns) {
            const int64_t j1 = std::min(l.length, j0 + kTileColumns);
            for (int64_t i = i0; i < i1; ++i) {
                T* d = dst + dst_offset + i * dk;
                S* s = src + src_offset + i * sk;
                for (int64_t j = j0; j < j1; ++j) op(d[j * l.dst_step], s[j * l.src_step]);
            }
        }
    });
    return true;
}

// The reference walk: f(dst offset, src offset) for each index in row-major order.
template <typename F>
void for_each_index_reference(const int64_t* dst_strides, const int64_t* src_strides, const int64_t* sizes,
                              int64_t rank, F&& f) {
    int64_t n = 1;
    for (int64_t d = 0; d < rank; ++d) n *= sizes[d];
    for (int64_t i = 0; i < n; ++i) {
        int64_t rest = i, dst = 0, src = 0;
        for (int64_t d = rank - 1; d >= 0; --d) {
            const int64_t idx = rest % sizes[d];
            rest /= sizes[d];
            dst += idx * dst_strides[d];
            src += idx * src_strides[d];
        }
        f(dst, src);
    }
}

std::vector<int64_t> contiguous_strides(const int64_t* sizes, int64_t rank) {
    std::vector<int64_t> strides(static_cast<size_t>(rank));
    int64_t s = 1;
    for (int64_t d = rank - 1; d >= 0; --d) {
        strides[static_cast<size_t>(d)] = s;
        s *= std::max<int64_t>(sizes[d], 1);
    }
    return strides;
}

// Rows of (outer, ·, inner) blocks, shared by index_select and index_add: f(o, begin, end)
// for every outer index o on the columns [begin, end) of its rows. Over the outer index when
// there are enough of them, else over column ranges (both split the destination disjointly).
template <typename F>
void for_index_rows(int64_t outer, int64_t inner, int64_t elements, F&& f) {
    const bool parallel = worth_parallel(Work::elements, elements);
    if (!parallel || outer >= static_cast<int64_t>(omp_get_max_threads())) {
        for_range(outer, parallel, [&](int64_t o) { f(o, int64_t{0}, inner); });
        return;
    }
    for_ranges(inner, true, [&](int64_t begin, int64_t end) {
        for (int64_t o = 0; o < outer; ++o) f(o, begin, end);
    });
}

}  // namespace

template <typename T>
void strided_copy(T* dst, const int64_t* dst_strides, const T* src, const int64_t* src_strides, const int64_t* sizes,
                  int64_t rank) {
    Layout l;
    if (!make_layout(l, dst_strides, src_strides, sizes, rank)) return;
    if (for_each_tile(l, dst, src, true, [](T& d, const T& s) { d = s; })) return;
    for_each_run(l, dst, src, true,
                 [&](T* d, const T* s, int64_t n) { copy_run(d, l.dst_step, s, l.src_step, n); });
}

template <typename T>
void strided_add(T* dst, const int64_t* dst_strides, const T* src, const int64_t* src_strides, const int64_t* sizes,
                 int64_t rank) {
    Layout l;
    if (!make_layout(l, dst_strides, src_strides, sizes, rank)) return;
    // Threads may share the work only when they never write the same element; a run summed
    // into one element (destination step 0) is not cut either.
    const bool may_split = l.dst_step != 0 && distinct_destinations(l);
    if (may_split && for_each_tile(l, dst, src, true, [](T& d, const T& s) { d += s; })) return;
    for_each_run(l, dst, src, may_split,
                 [&](T* d, const T* s, int64_t n) { add_run(d, l.dst_step, s, l.src_step, n); });
}

template <typename T>
void strided_gather(T* out, const T* x, const int64_t* sizes, const int64_t* strides, int64_t rank, int64_t offset) {
    const std::vector<int64_t> out_strides = contiguous_strides(sizes, rank);
    strided_copy(out, out_strides.data(), x + offset, strides, sizes, rank);
}

template <typename T>
void strided_scatter_add(T* dx, const T* dy, const int64_t* sizes, const int64_t* strides, int64_t rank,
                         int64_t offset) {
    const std::vector<int64_t> dy_strides = contiguous_strides(sizes, rank);
    strided_add(dx + offset, strides, dy, dy_strides.data(), sizes, rank);
}

template <typename T>
void strided_copy_reference(T* dst, const int64_t* dst_strides, const T* src, const int64_t* src_strides,
                            const int64_t* sizes, int64_t rank) {
    for_each_index_reference(dst_strides, src_strides, sizes, rank, [&](int64_t d, int64_t s) { dst[d] = src[s]; });
}

template <typename T>
void strided_add_reference(T* dst, const int64_t* dst_strides, const T* src, const int64_t* src_strides,
                           const int64_t* sizes, int64_t rank) {
    for_each_index_reference(dst_strides, src_strides, sizes, rank, [&](int64_t d, int64_t s) { dst[d] += src[s]; });
}

template <typename T>
void index_select_forward(T* out, const T* x, const int64_t* index, int64_t outer, int64_t n_index, int64_t dim_size,
                          int64_t inner) {
    for_index_rows(outer, inner, saturating_mul(outer * n_index, inner), [&](int64_t o, int64_t begin, int64_t end) {
        for (int64_t k = 0; k < n_index; ++k)
            std::memcpy(out + (o * n_index + k) * inner + begin, x + (o * dim_size + index[k]) * inner + begin,
                        static_cast<size_t>(end - begin) * sizeof(T));
    });
}

template <typename T>
void index_add(T* dx, const T* dy, const int64_t* index, int64_t outer, int64_t n_index, int64_t dim_size,
               int64_t inner) {
    for_index_rows(outer, inner, saturating_mul(outer * n_index, inner), [&](int64_t o, int64_t begin, int64_t end) {
        for (int64_t k = 0; k < n_index; ++k)
            add_run(dx + (o * dim_size + index[k]) * inner + begin, 1, dy + (o * n_index + k) * inner + begin, 1,
                    end - begin);
    });
}

#define TAPEGRAD_INSTANTIATE(T)                                                                                     \
    template void strided_copy<T>(T*, const int64_t*, const T*, const int64_t*, const int64_t*, int64_t);           \
    template void strided_add<T>(T*, const int64_t*, const T*, const int64_t*, const int64_t*, int64_t);            \
    template void strided_gather<T>(T*, const T*, const int64_t*, const int64_t*, int64_t, int64_t);                \
    template void strided_scatter_add<T>(T*, const T*, const int64_t*, const int64_t*, int64_t, int64_t);           \
    template void strided_copy_reference<T>(T*, const int64_t*, const T*, const int64_t*, const int64_t*, int64_t); \
    template void strided_add_reference<T>(T*, const int64_t*, const T*, const int64_t*, const int64_t*, int64_t);  \
    template void index_select_forward<T>(T*, const T*, const int64_t*, int64_t, int64_t, int64_t, int64_t);        \
    template void index_add<T>(T*, const T*, const int64_t*, int64_t, int64_t, int64_t, int64_t);
TAPEGRAD_INSTANTIATE(float)
TAPEGRAD_INSTANTIATE(double)
#undef TAPEGRAD_INSTANTIATE

}  // namespace tapegrad::kernels
