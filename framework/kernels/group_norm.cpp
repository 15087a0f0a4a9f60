// Group Normalization forward and backward; see group_norm.hpp for shapes and contracts.
//
// Numerics: statistics are two-pass (mean, then the mean of squared deviations) and
// accumulated in double for float and double inputs alike, so an input with mean 1e4 and
// std 1e-2 in float32 loses nothing to cancellation; E[x²] − E[x]² is never used. The
// per-element passes that write y and dx run in float lanes for float, centred so that
// what cancels exactly in double cancels exactly in float (see scale_shift, dx_terms).
// Parallelism: OpenMP over the N·G independent (sample, group) slices; each slice is read
// twice for its statistics and once more to normalise, while it is still in cache. With
// fewer slices than threads, the threads split each slice instead.
// Memory traffic: large float outputs whose channels are whole cache lines are written with
// streaming stores, which skip reading each line before overwriting it (use_streaming_stores).
#include "framework/kernels/group_norm.hpp"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "framework/kernels/parallel.hpp"
#include "framework/kernels/simd.hpp"


namespace tapegrad::kernels {

namespace {

// The inner loops run on xsimd batches of doubles (8 lanes with AVX-512, 4 with AVX2): T is
// converted on load, in a register (simd::widen), and rounded once on store. Each loop is a
// batch loop plus a scalar tail.
using Batch = simd::DoubleBatch;
constexpr int64_t kLanes = simd::kDoubleLanes;

template <typename T> Batch load(const T* p) { return simd::widen(p); }

using simd::sum;

// Σ (v[i] − shift)²
template <typename T>
double sum_squared_deviation(const T* v, int64_t n, double shift) {
    const Batch m(shift);
    Batch a0(0.0), a1(0.0);
    int64_t i = 0;
    for (; i + 2 * kLanes <= n; i += 2 * kLanes) {
        const Batch d0 = load(v + i) - m, d1 = load(v + i + kLanes) - m;
        a0 = xsimd::fma(d0, d0, a0);
        a1 = xsimd::fma(d1, d1, a1);
    }
    for (; i + kLanes <= n; i += kLanes) {
        const Batch d = load(v + i) - m;
        a0 = xsimd::fma(d, d, a0);
    }
    double s = xsimd::hadd(a0 + a1);
    for (; i < n; ++i) s += (static_cast<double>(v[i]) - shift) * (static_cast<double>(v[i]) - shift);
    return s;
}

// The float versions of the passes over data already in cache run in float lanes (twice as
// many per register, no conversions), centred on K = the float nearest mu: x − K is exact
// for x near K (Sterbenz), so large means cancel exactly and nothing else does.
using simd::FloatBatch;
using simd::kFloatLanes;

// Streaming (non-temporal) stores write whole cache lines to memory without first reading
// them into the cache, and without evicting the inputs. For an output too large to stay in
// cache until it is read again, that saves a read of every line written (the store's
// read-for-ownership) and keeps x and dy cached. They are weakly ordered: a thread fences
// them (stream_fence) before its results may be read elsewhere. Used only where every batch
// store is 64-byte aligned (use_streaming_stores), and with AVX-512 only.
#if XSIMD_WITH_AVX512F
constexpr bool kCanStream = true;
void stream_store(float* p, const FloatBatch& v) { _mm512_stream_ps(p, v); }
void stream_fence() { _mm_sfence(); }
#else
constexpr bool kCanStream = false;
void stream_store(float* p, const FloatBatch& v) { v.store_aligned(p); }
void stream_fence() {}
#endif

// out[i, i + kFloatLanes) = v: a streaming store when `stream`, else an ordinary one.
void store(float* out, const FloatBatch& v, bool stream) {
    if (stream)
        stream_store(out, v);
    else
        v.store_unaligned(out);
}

// How a per-element pass (scale_shift, dx_terms) goes over memory. `stream`: write with
// streaming stores. `ahead`: when not 0, fetch the inputs `ahead` elements on into the cache
// while working, one line per batch: the same place in the next slice, whose first pass
// would otherwise wait on memory while this pass, working in cache, leaves memory idle.
// The float passes use both (dx_terms only when it assigns dx); the double ones neither.
struct Pass {
    bool stream = false;
    int64_t ahead = 0;
};

void prefetch(const float* p) { __builtin_prefetch(p, /*read*/ 0, /*keep in all levels*/ 3); }

// Blocks of the float passes' sums: each block is summed in float lanes and the block sums in
// double. A multiple of the lane count, so only a pass's last block has a tail.
constexpr int64_t kBlock = 512;

// Σ (v[i] − mu)² for float: squares of (v − K) summed in float over blocks of 512 (positive
// terms, so each block's relative error stays below ~1e-6), blocks summed in double, and
// Σ (v − mu)² = Σ (v − K)² − n·(mu − K)² exactly, since Σ (v − mu) = 0. The slice is in cache
// by now, so the loop is bound by the fma latency: four accumulators. Not inlined: inlined
// into the slice loop with 16 vector registers (AVX2), GCC 12 kept two accumulators on the stack.
[[gnu::noinline]] double sum_squared_deviation(const float* v, int64_t n, double mu) {
    const float k = static_cast<float>(mu);
    const FloatBatch kb(k);
    double total = 0.0;
    int64_t i = 0;
    while (i + kFloatLanes <= n) {
        const int64_t block_end = std::min(n, i + kBlock);
        FloatBatch a0(0.0f), a1(0.0f), a2(0.0f), a3(0.0f);
        for (; i + 4 * kFloatLanes <= block_end; i += 4 * kFloatLanes) {
            const FloatBatch d0 = FloatBatch::load_unaligned(v + i) - kb;
            const FloatBatch d1 = FloatBatch::load_unaligned(v + i + kFloatLanes) - kb;
            const FloatBatch d2 = FloatBatch::load_unaligned(v + i + 2 * kFloatLanes) - kb;
            const FloatBatch d3 = FloatBatch::load_unaligned(v + i + 3 * kFloatLanes) - kb;
            a0 = xsimd::fma(d0, d0, a0);
            a1 = xsimd::fma(d1, d1, a1);
            a2 = xsimd::fma(d2, d2, a2);
            a3 = xsimd::fma(d3, d3, a3);
        }
        for (; i + kFloatLanes <= block_end; i += kFloatLanes) {
            const FloatBatch d = FloatBatch::load_unaligned(v + i) - kb;
            a0 = xsimd::fma(d, d, a0);
        }
        total += static_cast<double>(xsimd::hadd((a0 + a1) + (a2 + a3)));
    }
    for (; i < n; ++i) total += (static_cast<double>(v[i]) - k) * (static_cast<double>(v[i]) - k);
    const double offset = mu - static_cast<double>(k);
    return std::max(0.0, total - static_cast<double>(n) * offset * offset);
}

// y[i] = (x[i] − mu)·scale + shift
template <typename T>
void scale_shift(T* y, const T* x, int64_t n, double mu, double scale, double shift, Pass /*pass*/) {
    const Batch m(mu), a(scale), b(shift);
    int64_t i = 0;
    for (; i + kLanes <= n; i += kLanes) xsimd::fma(load(x + i) - m, a, b).store_unaligned(y + i);
    for (; i < n; ++i) y[i] = static_cast<T>((static_cast<double>(x[i]) - mu) * scale + shift);
}

// For float, the per-element pass runs in float lanes (twice as many per register, no
// conversions), centred on K = the float nearest mu so that nothing large cancels:
// x − K is exact for x near K (Sterbenz), and the shift absorbs (K − mu)·scale in double.
// Each y is then within about 1 ulp of the double result, against 0.5 ulp for the double
// path: the statistics, which is where float loses digits, stay in double.
void scale_shift(float* y, const float* x, int64_t n, double mu, double scale, double shift, Pass pass) {
    const float k = static_cast<float>(mu);
    const float a = static_cast<float>(scale), b = static_cast<float>(shift + (static_cast<double>(k) - mu) * scale);
    const FloatBatch kb(k), ab(a), bb(b);
    auto step = [&](int64_t j) { store(y + j, xsimd::fma(FloatBatch::load_unaligned(x + j) - kb, ab, bb), pass.stream); };
    int64_t i = 0;
    if (pass.ahead != 0) {
        for (; i + kFloatLanes <= n; i += kFloatLanes) {
            prefetch(x + i + pass.ahead);
            step(i);
        }
    }
    for (; i + kFloatLanes <= n; i += kFloatLanes) step(i);
    for (; i < n; ++i) y[i] = std::fma(x[i] - k, a, b);
}

// Σ dy[i] and Σ dy[i]·(x[i] − mu)
template <typename T>
void sum_dy_and_dy_xc(double& s_dy, double& s_dy_xc, const T* dy, const T* x, int64_t n, double mu) {
    const Batch m(mu);
    Batch a(0.0), b(0.0);
    int64_t i = 0;
    for (; i + kLanes <= n; i += kLanes) {
        const Batch d = load(dy + i);
        a += d;
        b = xsimd::fma(d, load(x + i) - m, b);
    }
    s_dy = xsimd::hadd(a);
    s_dy_xc = xsimd::hadd(b);
    for (; i < n; ++i) {
        s_dy += static_cast<double>(dy[i]);
        s_dy_xc += static_cast<double>(dy[i]) * (static_cast<double>(x[i]) - mu);
    }
}

// dx[i] (+)= t1·dy[i] + t2·(x[i] − mu) + t3
template <typename T>
void dx_terms(T* dx, const T* dy, const T* x, int64_t n, double mu, double t1, double t2, double t3, bool accumulate,
              Pass /*pass*/) {
    const Batch m(mu), b1(t1), b2(t2), b3(t3);
    int64_t i = 0;
    if (accumulate) {
        for (; i + kLanes <= n; i += kLanes)
            (xsimd::fma(b1, load(dy + i), xsimd::fma(b2, load(x + i) - m, b3)) + load(dx + i)).store_unaligned(dx + i);
    } else {
        for (; i + kLanes <= n; i += kLanes)
            xsimd::fma(b1, load(dy + i), xsimd::fma(b2, load(x + i) - m, b3)).store_unaligned(dx + i);
    }
    for (; i < n; ++i) {
        const double v = t1 * static_cast<double>(dy[i]) + t2 * (static_cast<double>(x[i]) - mu) + t3;
        dx[i] = static_cast<T>(accumulate ? static_cast<double>(dx[i]) + v : v);
    }
}

// Σ dy and Σ dy·(x − mu) for float: in float lanes over blocks of 512, centred on K (the float
// nearest mu), blocks summed in double; Σ dy·(x − mu) = Σ dy·(x − K) + (K − mu)·Σ dy.
// Two accumulators per sum hide the add and fma latencies.
void sum_dy_and_dy_xc(double& s_dy, double& s_dy_xc, const float* dy, const float* x, int64_t n, double mu) {
    const float k = static_cast<float>(mu);
    const FloatBatch kb(k);
    double a = 0.0, b = 0.0;
    int64_t i = 0;
    while (i + kFloatLanes <= n) {
        const int64_t block_end = std::min(n, i + kBlock);
        FloatBatch pa0(0.0f), pa1(0.0f), pb0(0.0f), pb1(0.0f);
        for (; i + 2 * kFloatLanes <= block_end; i += 2 * kFloatLanes) {
            const FloatBatch d0 = FloatBatch::load_unaligned(dy + i);
            const FloatBatch d1 = FloatBatch::load_unaligned(dy + i + kFloatLanes);
            pa0 += d0;
            pa1 += d1;
            pb0 = xsimd::fma(d0, FloatBatch::load_unaligned(x + i) - kb, pb0);
            pb1 = xsimd::fma(d1, FloatBatch::load_unaligned(x + i + kFloatLanes) - kb, pb1);
        }
        for (; i + kFloatLanes <= block_end; i += kFloatLanes) {
            const FloatBatch d = FloatBatch::load_unaligned(dy + i);
            pa0 += d;
            pb0 = xsimd::fma(d, FloatBatch::load_unaligned(x + i) - kb, pb0);
        }
        a += static_cast<double>(xsimd::hadd(pa0 + pa1));
        b += static_cast<double>(xsimd::hadd(pb0 + pb1));
    }
    for (; i < n; ++i) {
        a += static_cast<double>(dy[i]);
        b += static_cast<double>(dy[i]) * (static_cast<double>(x[i]) - k);
    }
    s_dy = a;
    s_dy_xc = b + (static_cast<double>(k) - mu) * a;
}

// dx for float, in float lanes. Written as t1·(dy − m) + t2·(x − K) + c with m = −t3/t1 (the
// dy at which the first and third terms cancel) and K the float nearest mu: where the exact
// dx is 0 because the terms cancel (a group of one element; dy constant over a group), both
// differences are 0 in float too, instead of the difference of two rounded products of size
// rstd·dy. Elsewhere each dx is within a few ulp of the double result.
void dx_terms(float* dx, const float* dy, const float* x, int64_t n, double mu, double t1, double t2, double t3,
              bool accumulate, Pass pass) {
    const float k = static_cast<float>(mu);
    const float m = static_cast<float>(t1 != 0.0 ? -t3 / t1 : 0.0);
    const double rest = t3 + t1 * static_cast<double>(m) + t2 * (static_cast<double>(k) - mu);
    const float a = static_cast<float>(t1), b = static_cast<float>(t2), c = static_cast<float>(rest);
    const FloatBatch kb(k), mb(m), ab(a), bb(b), cb(c);
    auto value = [&](int64_t j) {
        return xsimd::fma(ab, FloatBatch::load_unaligned(dy + j) - mb, xsimd::fma(bb, FloatBatch::load_unaligned(x + j) - kb, cb));
    };
    int64_t i = 0;
    if (accumulate) {
        for (; i + kFloatLanes <= n; i += kFloatLanes) (value(i) + FloatBatch::load_unaligned(dx + i)).store_unaligned(dx + i);
    } else {
        if (pass.ahead != 0) {
            for (; i + kFloatLanes <= n; i += kFloatLanes) {
                prefetch(x + i + pass.ahead);
                prefetch(dy + i + pass.ahead);
                store(dx + i, value(i), pass.stream);
            }
        }
        for (; i + kFloatLanes <= n; i += kFloatLanes) store(dx + i, value(i), pass.stream);
    }
    for (; i < n; ++i) {
        const float v = std::fma(a, dy[i] - m, std::fma(b, x[i] - k, c));
        dx[i] = accumulate ? dx[i] + v : v;
    }
}

// Parallel structure. Normally the threads take whole (n, g) slices. With fewer slices than
// threads they share each slice instead, in chunks of kChunk elements that never cross a
// channel. Small problems (kMinParallelElements, parallel.hpp) run serially.
constexpr int64_t kChunk = 16384;

int64_t chunk_count(int64_t n) { return (n + kChunk - 1) / kChunk; }

enum class Mode { serial, over_slices, within_slice };

// Whether a kernel writes its output (out, elements) with streaming stores: only outputs of
// 4 MiB or more (several times a core's L2, so unlikely to still be cached when the next op
// reads them), and only when every channel (inner elements) starts and ends on a cache line:
// a line written partly by streaming stores and partly by ordinary ones costs more than
// streaming saves (measured: twice as slow with an inner size of 196). bench/README.md has
// the measurements.
constexpr int64_t kStreamMinBytes = int64_t{4} << 20;

template <typename T>
bool use_streaming_stores(const T* out, int64_t elements, int64_t inner) {
    const auto bytes = static_cast<int64_t>(sizeof(T));
    return kCanStream && std::is_same_v<T, float> && reinterpret_cast<std::uintptr_t>(out) % 64 == 0 &&
           inner * bytes % 64 == 0 && elements * bytes >= kStreamMinBytes;
}
// Threads sharing a slice split a channel at multiples of kChunk: cache lines, for streaming.
static_assert(kChunk * sizeof(float) % 64 == 0);

// Whether the per-element passes fetch the next slice ahead (Pass::ahead): whenever the
// threads take whole slices, whatever the size. Measured both ways (bench_group_norm, 1
// thread, forward): on a 2-core Intel Xeon (Emerald Rapids, 260 MB L3) fetching ahead is
// 3-15% faster on every bench shape, cached ones included (8x256x28x28 0.55-0.61 -> 0.54-0.56 ms,
// 64x32x28x28 0.53-0.60 -> 0.49-0.50 ms); on the 2-core AMD EPYC it was ~10% faster on
// 32x64x56x56 but 5-10% slower on tensors that stay in its 32 MB L3, and was limited to
// 16 MiB and more there. One rule for every CPU: on, since the loss on AMD was the smaller.
// bench/README.md has the measurements.
bool use_prefetch(Mode mode) { return mode != Mode::within_slice; }

Mode choose_mode(int64_t slices, int64_t slice_size) {
    if (omp_get_max_threads() == 1 || slices * slice_size < kMinParallelElements) return Mode::serial;
    return slices < omp_get_max_threads() && slice_size >= 2 * kChunk ? Mode::within_slice : Mode::over_slices;
}

// f(i) for i in [0, n), on the OpenMP threads when `parallel`. `streamed`: f writes with
// streaming stores, which each thread fences before the loop returns.
template <typename F>
void for_range(int64_t n, bool parallel, F&& f, bool streamed = false) {
    if (!parallel) {
        for (int64_t i = 0; i < n; ++i) f(i);
        if (streamed) stream_fence();
        return;
    }
#pragma omp parallel
    {
#pragma omp for schedule(static) nowait
        for (int64_t i = 0; i < n; ++i) f(i);
        if (streamed) stream_fence();
    }
}

// Σ f(i) for i in [0, n), on the OpenMP threads when `parallel`.
template <typename F>
double sum_range(int64_t n, bool parallel, F&& f) {
    double s = 0.0;
    if (!parallel) {
        for (int64_t i = 0; i < n; ++i) s += f(i);
        return s;
    }
#pragma omp parallel for schedule(static) reduction(+ : s)
    for (int64_t i = 0; i < n; ++i) s += f(i);
    return s;
}

// The chunks of a (D, inner) slice: chunk k of channel d covers [begin, begin + length).
struct Chunk {
    int64_t d, begin, length;
};
Chunk chunk_of(int64_t dk, int64_t inner) {
    const int64_t chunks = chunk_count(inner);
    const int64_t d = dk / chunks, begin = d * inner + dk % chunks * kChunk;
    return {d, begin, std::min(kChunk, (d + 1) * inner - begin)};
}

// f(Chunk) over a (D, inner) slice: its whole channels in order, or when `split`, the chunks
// of its channels on the OpenMP threads, fenced when `streamed`. The serial path is a plain
// channel loop: with short channels (49 elements) the divisions of chunk_of were measurable.
template <typename F>
void for_each_chunk(int64_t D, int64_t inner, bool split, bool streamed, F&& f) {
    if (!split) {
        for (int64_t d = 0; d < D; ++d) f(Chunk{d, d * inner, inner});
        return;
    }
    for_range(D * chunk_count(inner), true, [&](int64_t dk) { f(chunk_of(dk, inner)); }, streamed);
}

}  // namespace

template <typename T>
void group_norm_forward(T* y, double* mean, double* rstd, const T* x, const T* gamma, const T* beta, int64_t N,
                        int64_t C, int64_t inner, int64_t G, double eps) {
    const int64_t D = C / G;          // channels per group
    const int64_t M = D * inner;      // elements per (n, g) slice
    const Mode mode = choose_mode(N * G, M);
    const bool split = mode == Mode::within_slice;
    const bool stream = use_streaming_stores(y, N * G * M, inner);
    const bool fetch_ahead = use_prefetch(mode);
    for_range(N * G, mode == Mode::over_slices, [&](int64_t ng) {
        const int64_t g = ng % G;
        const T* xs = x + ng * M;     // (D, inner)
        T* ys = y + ng * M;
        // Σ over the slice of f(begin, length) for its chunks.
        auto slice_sum = [&](auto&& f) {
            return sum_range(chunk_count(M), split, [&](int64_t k) { return f(k * kChunk, std::min(kChunk, M - k * kChunk)); });
        };
        const double inv_m = M > 0 ? 1.0 / static_cast<double>(M) : 0.0;
        const double mu = slice_sum([&](int64_t b, int64_t n) { return sum(xs + b, n); }) * inv_m;
        const double var = slice_sum([&](int64_t b, int64_t n) { return sum_squared_deviation(xs + b, n, mu); }) * inv_m;
        const double r = 1.0 / std::sqrt(var + eps);
        mean[ng] = mu;
        rstd[ng] = r;
        // γ and β fused into one scale and shift per channel: y = x·scale + shift.
        const Pass pass{stream, fetch_ahead && ng + 1 < N * G ? M : 0};
        for_each_chunk(D, inner, split, split && stream, [&](const Chunk& ch) {
            const int64_t c = g * D + ch.d;
            const double scale = r * (gamma ? static_cast<double>(gamma[c]) : 1.0);
            const double shift = beta ? static_cast<double>(beta[c]) : 0.0;
            scale_shift(ys + ch.begin, xs + ch.begin, ch.length, mu, scale, shift, pass);
        });  // the outer loop fences when the slices are not split
    }, stream);
}

// Backward, per (n, g) slice of M = D·inner elements, with x̂ = (x − μ)·r and g = dy·γ[c]:
//
//   y = x̂·γ + β,   x̂_i = (x_i − μ)·r,   r = (σ² + ε)^(−1/2),   μ = mean(x),  σ² = mean((x − μ)²)
//   ∂x̂_i/∂x_j = r·(δ_ij − 1/M − x̂_i·x̂_j/M)        (using ∂μ/∂x_j = 1/M, ∂r/∂x_j = −r³·(x_j − μ)/M)
//   dx_j = Σ_i g_i·∂x̂_i/∂x_j = r·(g_j − mean(g) − x̂_j·mean(g·x̂))
//   dγ[c] = Σ_{n, i∈c} dy·x̂,   dβ[c] = Σ_{n, i∈c} dy
//
// First: two reductions per channel, ds[c] = Σ dy·(x − μ) and db[c] = Σ dy; from them the
// group sums Σg = Σ_c γ_c·db[c] and Σg·x̂ = r·Σ_c γ_c·ds[c]. Then dx in one pass as
//   dx_i = (r·γ_c)·dy_i + (−r²·mean(g·x̂))·(x_i − μ) + (−r·mean(g))
//          term 1          term 2                         term 3
// dγ and dβ need sums over n as well; slices write per-(n, c) partials that are reduced
// over n afterwards, so the parallel loop has no shared accumulators.
template <typename T>
void group_norm_backward(T* dx, T* dgamma, T* dbeta, const T* dy, const T* x, const double* mean, const double* rstd,
                         const T* gamma, int64_t N, int64_t C, int64_t inner, int64_t G, bool accumulate_dx) {
    const int64_t D = C / G;
    const int64_t M = D * inner;
    std::vector<double> ds(static_cast<size_t>(N * C)), db(static_cast<size_t>(N * C));  // (N, C)
    const bool stream = dx != nullptr && !accumulate_dx && use_streaming_stores(dx, N * G * M, inner);
    const Mode mode = choose_mode(N * G, M);
    const bool split = mode == Mode::within_slice;
    const bool fetch_ahead = use_prefetch(mode);
    const int64_t chunks_per_slice = D * chunk_count(inner);
    // Per-chunk partial sums when threads share a slice (slices then run one at a time).
    std::vector<double> part_dy(split ? static_cast<size_t>(chunks_per_slice) : 0), part_dy_xc(part_dy.size());
    for_range(N * G, mode == Mode::over_slices, [&](int64_t ng) {
        const int64_t n = ng / G, g = ng % G;
        const double mu = mean[ng], r = rstd[ng];
        const T* xs = x + ng * M;
        const T* dys = dy + ng * M;
        double* ds_n = ds.data() + n * C + g * D;  // this group's channels
        double* db_n = db.data() + n * C + g * D;
        if (split) {
            for_range(chunks_per_slice, true, [&](int64_t dk) {
                const Chunk ch = chunk_of(dk, inner);
                sum_dy_and_dy_xc(part_dy[dk], part_dy_xc[dk], dys + ch.begin, xs + ch.begin, ch.length, mu);
            });
            std::fill(db_n, db_n + D, 0.0);
            std::fill(ds_n, ds_n + D, 0.0);
            for (int64_t dk = 0; dk < chunks_per_slice; ++dk) {
                db_n[chunk_of(dk, inner).d] += part_dy[dk];
                ds_n[chunk_of(dk, inner).d] += part_dy_xc[dk];
            }
        } else {
            for (int64_t d = 0; d < D; ++d) sum_dy_and_dy_xc(db_n[d], ds_n[d], dys + d * inner, xs + d * inner, inner, mu);
        }
        double sum_g = 0.0, sum_g_xc = 0.0;  // Σ g and Σ g·(x − μ)
        for (int64_t d = 0; d < D; ++d) {
            const double gc = gamma ? static_cast<double>(gamma[g * D + d]) : 1.0;
            sum_g += gc * db_n[d];
            sum_g_xc += gc * ds_n[d];
        }
        if (dx == nullptr || M == 0) return;
        const double inv_m = 1.0 / static_cast<double>(M);
        const double term2 = -r * r * r * sum_g_xc * inv_m;  // −r²·mean(g·x̂), with Σg·x̂ = r·Σg·(x − μ)
        const double term3 = -r * sum_g * inv_m;
        const Pass pass{stream, fetch_ahead && ng + 1 < N * G ? M : 0};
        for_each_chunk(D, inner, split, split && stream, [&](const Chunk& ch) {
            const double term1 = r * (gamma ? static_cast<double>(gamma[g * D + ch.d]) : 1.0);
            dx_terms(dx + ng * M + ch.begin, dys + ch.begin, xs + ch.begin, ch.length, mu, term1, term2, term3, accumulate_dx,
                     pass);
        });
    }, stream);
    // dγ[c] = Σ_n r_{n,g(c)}·ds[n, c],  dβ[c] = Σ_n db[n, c]
    // summed into row n = 0 (scaled by its r, then the other samples' rows added in order), so
    // that the loops run along contiguous rows.
    if (N == 0 || (dgamma == nullptr && dbeta == nullptr)) return;
    for (int64_t n = 0; n < N; ++n) {
        const double* ds_n = ds.data() + n * C;
        const double* db_n = db.data() + n * C;
        for (int64_t g = 0; g < G; ++g) {
            const double r = rstd[n * G + g];
            double* dsg = ds.data() + g * D;
            double* dbg = db.data() + g * D;
            if (n == 0) {
                for (int64_t d = 0; d < D; ++d) dsg[d] *= r;
            } else {
                for (int64_t d = 0; d < D; ++d) {
                    dsg[d] += r * ds_n[g * D + d];
                    dbg[d] += db_n[g * D + d];
                }
            }
        }
    }
    for (int64_t c = 0; c < C; ++c) {
        if (dgamma) dgamma[c] += static_cast<T>(ds[static_cast<size_t>(c)]);
        if (dbeta) dbeta[c] += static_cast<T>(db[static_cast<size_t>(c)]);
    }
}

// --- reference kernels: the formulas as written, one element at a time --------------------

template <typename T>
void group_norm_forward_reference(T* y, double* mean, double* rstd, const T* x, const T* gamma, const T* beta,
                                  int64_t N, int64_t C, int64_t inner, int64_t G, double eps) {
    const int64_t D = C / G, M = D * inner;
    for (int64_t n = 0; n < N; ++n)
        for (int64_t g = 0; g < G; ++g) {
            const int64_t base = (n * G + g) * M;
            double s = 0.0;
            for (int64_t i = 0; i < M; ++i) s += static_cast<double>(x[base + i]);
            const double mu = s / static_cast<double>(M);
            double v = 0.0;
            for (int64_t i = 0; i < M; ++i) v += (static_cast<double>(x[base + i]) - mu) * (static_cast<double>(x[base + i]) - mu);
            const double r = 1.0 / std::sqrt(v / static_cast<double>(M) + eps);
            mean[n * G + g] = mu;
            rstd[n * G + g] = r;
            for (int64_t i = 0; i < M; ++i) {
                const int64_t c = g * D + i / inner;
                const double xhat = (static_cast<double>(x[base + i]) - mu) * r;
                y[base + i] = static_cast<T>(xhat * (gamma ? static_cast<double>(gamma[c]) : 1.0) +
                                             (beta ? static_cast<double>(beta[c]) : 0.0));
            }
        }
}

template <typename T>
void group_norm_backward_reference(T* dx, T* dgamma, T* dbeta, const T* dy, const T* x, const double* mean,
                                   const double* rstd, const T* gamma, int64_t N, int64_t C, int64_t inner, int64_t G,
                                   bool accumulate_dx) {
    const int64_t D = C / G, M = D * inner;
    std::vector<double> dg(static_cast<size_t>(C)), dbt(static_cast<size_t>(C));
    std::vector<double> xhat(static_cast<size_t>(M)), gv(static_cast<size_t>(M));
    for (int64_t n = 0; n < N; ++n)
        for (int64_t g = 0; g < G; ++g) {
            const int64_t ng = n * G + g, base = ng * M;
            const double mu = mean[ng], r = rstd[ng];
            double mean_g = 0.0, mean_gx = 0.0;
            for (int64_t i = 0; i < M; ++i) {
                const int64_t c = g * D + i / inner;
                xhat[i] = (static_cast<double>(x[base + i]) - mu) * r;
                gv[i] = static_cast<double>(dy[base + i]) * (gamma ? static_cast<double>(gamma[c]) : 1.0);
                mean_g += gv[i] / static_cast<double>(M);
                mean_gx += gv[i] * xhat[i] / static_cast<double>(M);
                dg[c] += static_cast<double>(dy[base + i]) * xhat[i];
                dbt[c] += static_cast<double>(dy[base + i]);
            }
            if (dx)
                for (int64_t i = 0; i < M; ++i) {
                    const T v = static_cast<T>(r * (gv[i] - mean_g - xhat[i] * mean_gx));
                    dx[base + i] = accumulate_dx ? dx[base + i] + v : v;
                }
        }
    for (int64_t c = 0; c < C; ++c) {
        if (dgamma) dgamma[c] += static_cast<T>(dg[c]);
        if (dbeta) dbeta[c] += static_cast<T>(dbt[c]);
    }
}

#define TAPEGRAD_INSTANTIATE(T)                                                                                      \
    template void group_norm_forward<T>(T*, double*, double*, const T*, const T*, const T*, int64_t, int64_t,       \
                                        int64_t, int64_t, double);                                                   \
    template void group_norm_backward<T>(T*, T*, T*, const T*, const T*, const double*, const double*, const T*,   \
                                         int64_t, int64_t, int64_t, int64_t, bool);                                  \
    template void group_norm_forward_reference<T>(T*, double*, double*, const T*, const T*, const T*, int64_t,      \
                                                  int64_t, int64_t, int64_t, double);                                \
    template void group_norm_backward_reference<T>(T*, T*, T*, const T*, const T*, const double*, const double*,   \
                                                   const T*, int64_t, int64_t, int64_t, int64_t, bool);
TAPEGRAD_INSTANTIATE(float)
TAPEGRAD_INSTANTIATE(double)
#undef TAPEGRAD_INSTANTIATE

}  // namespace tapegrad::kernels
