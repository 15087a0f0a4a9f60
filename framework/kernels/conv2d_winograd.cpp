// Winograd F(4×4, 3×3) convolution; see conv2d_winograd.hpp. The transforms first, each the
// 1-D map written out and applied to columns then rows; then a kernel's 3×3 pieces, the tiles,
// and the three passes, each a loop over chunks of tiles: transform in, 36 GEMMs, transform out.
#include "framework/kernels/conv2d_winograd.hpp"

#include <omp.h>

#include <algorithm>

#include "framework/core/checked.hpp"
#include "framework/core/parallel.hpp"
#include "framework/kernels/gemm.hpp"
#include "framework/kernels/simd.hpp"

namespace tapegrad::kernels {

namespace {

// --- the transforms -----------------------------------------------------------------------------
// Lavin & Gray's matrices for the points 0, ±1, ±2 and ∞: an output block is
// Y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A for a 3×3 kernel g and a 6×6 input tile d.
//   Bᵀ = [4  0 −5  0 1 0]   G = [ 1/4     0     0 ]   Aᵀ = [1 1  1 1  1 0]
//        [0 −4 −4  1 1 0]       [−1/6  −1/6  −1/6 ]        [0 1 −1 2 −2 0]
//        [0  4 −4 −1 1 0]       [−1/6   1/6  −1/6 ]        [0 1  1 4  4 0]
//        [0 −2 −1  2 1 0]       [1/24  1/12   1/6 ]        [0 1 −1 8 −8 1]
//        [0  2 −1 −2 1 0]       [1/24 −1/12   1/6 ]
//        [0  4  0 −5 0 1]       [  0     0     1  ]
// The weight gradient needs the adjoints: A·dY·Aᵀ (4×4 → 6×6) and Gᵀ·dU·G (6×6 → 3×3).
constexpr int kTile = 6;                // input tile (and transformed) extent
constexpr int kOut = 4;                 // output block extent
constexpr int kPoints = kTile * kTile;  // 36 GEMMs
constexpr int64_t kMinChannels = 8;     // below, im2col's one GEMM is faster
constexpr int64_t kMaxKernel = 9;       // larger kernels have 16 pieces and more (see Pieces)

// The 1-D maps work on V, a batch of SIMD lanes, one tile per lane; s and t are strides in V.
// Bᵀ·d for one column d (6 values at stride s).
template <typename V>
inline void input_1d(V* r, const V* d, int64_t s) {
    const V d0 = d[0], d1 = d[s], d2 = d[2 * s], d3 = d[3 * s], d4 = d[4 * s], d5 = d[5 * s];
    const V four(4), five(5), two(2);
    r[0] = four * d0 - five * d2 + d4;
    r[s] = d3 + d4 - four * (d1 + d2);
    r[2 * s] = four * (d1 - d2) - d3 + d4;
    r[3 * s] = two * (d3 - d1) - d2 + d4;
    r[4 * s] = two * (d1 - d3) - d2 + d4;
    r[5 * s] = four * d1 - five * d3 + d5;
}

// Aᵀ·m: 6 values at stride s → 4 at stride t.
template <typename V>
inline void output_1d(V* o, int64_t t, const V* m, int64_t s) {
    const V m0 = m[0], m1 = m[s], m2 = m[2 * s], m3 = m[3 * s], m4 = m[4 * s], m5 = m[5 * s];
    const V a = m1 + m2, b = m1 - m2, c = m3 + m4, d = m3 - m4;
    o[0] = m0 + a + c;
    o[t] = b + V(2) * d;
    o[2 * t] = a + V(4) * c;
    o[3 * t] = b + V(8) * d + m5;
}

// A·y, the adjoint of output_1d: 4 values at stride t → 6 at stride s.
template <typename V>
inline void output_adjoint_1d(V* m, int64_t s, const V* y, int64_t t) {
    const V y0 = y[0], y1 = y[t], y2 = y[2 * t], y3 = y[3 * t];
    const V even = y0 + y2, odd = y1 + y3, even4 = y0 + V(4) * y2, odd2 = V(2) * y1 + V(8) * y3;
    m[0] = y0;
    m[s] = even + odd;
    m[2 * s] = even - odd;
    m[3 * s] = even4 + odd2;
    m[4 * s] = even4 - odd2;
    m[5 * s] = y3;
}

// G·g: 3 values at stride t → 6 at stride s. V is double or a batch of doubles: the kernel
// transforms run in double, several kernels at once, one per lane (once per weight, not per tile).
template <typename V>
inline void kernel_1d(V* u, int64_t s, const V* g, int64_t t) {
    const V sixth(1.0 / 6), twenty_fourth(1.0 / 24);  // multiplied: a division is 4-5× slower
    const V g0 = g[0], g1 = g[t], g2 = g[2 * t];
    u[0] = g0 * V(0.25);
    u[s] = -(g0 + g1 + g2) * sixth;
    u[2 * s] = -(g0 - g1 + g2) * sixth;
    u[3 * s] = (g0 + V(2) * g1 + V(4) * g2) * twenty_fourth;
    u[4 * s] = (g0 - V(2) * g1 + V(4) * g2) * twenty_fourth;
    u[5 * s] = g2;
}

// Gᵀ·u, the adjoint of kernel_1d: 6 values at stride s → 3 at stride t.
template <typename V>
inline void kernel_adjoint_1d(V* g, int64_t t, const V* u, int64_t s) {
    const V sixth(1.0 / 6), twelfth(1.0 / 12), twenty_fourth(1.0 / 24);
    const V u0 = u[0], u1 = u[s], u2 = u[2 * s], u3 = u[3 * s], u4 = u[4 * s], u5 = u[5 * s];
    g[0] = u0 * V(0.25) - (u1 + u2) * sixth + (u3 + u4) * twenty_fourth;
    g[t] = (u2 - u1) * sixth + (u3 - u4) * twelfth;
    g[2 * t] = (u3 + u4 - u1 - u2) * sixth + u5;
}

// The kernel transforms work on kKernelLanes kernels at once, one per lane of a batch of doubles.
using Doubles = xsimd::batch<double>;
constexpr int64_t kKernelLanes = static_cast<int64_t>(Doubles::size);

// u (6×6) = G g Gᵀ for kKernelLanes 3×3 kernels g (g[tap][lane]), in double.
inline void kernel_transform(double (*u)[kKernelLanes], const double (*g)[kKernelLanes]) {
    Doubles taps[9], gg[kTile * 3], out[kPoints];
    for (int e = 0; e < 9; ++e) taps[e] = Doubles::load_unaligned(g[e]);
    for (int j = 0; j < 3; ++j) kernel_1d(gg + j, 3, taps + j, 3);                 // columns: (6, 3)
    for (int i = 0; i < kTile; ++i) kernel_1d(out + i * kTile, 1, gg + i * 3, 1);  // rows: (6, 6)
    for (int xi = 0; xi < kPoints; ++xi) out[xi].store_unaligned(u[xi]);
}

// g (3×3) = Gᵀ u G for kKernelLanes transformed gradients u (u[ξ][lane]), in double: the adjoint.
inline void kernel_adjoint_transform(double (*g)[kKernelLanes], const double* u, int64_t lane_stride) {
    Doubles k6[kPoints], tmp[3 * kTile], gk[9];
    for (int xi = 0; xi < kPoints; ++xi) k6[xi] = Doubles::load_unaligned(u + xi * lane_stride);
    for (int j = 0; j < kTile; ++j) kernel_adjoint_1d(tmp + j, kTile, k6 + j, kTile);  // Gᵀ dU: (3, 6)
    for (int i = 0; i < 3; ++i) kernel_adjoint_1d(gk + i * 3, 1, tmp + i * kTile, 1);  // (Gᵀ dU) G
    for (int e = 0; e < 9; ++e) gk[e].store_unaligned(g[e]);
}

// A kh × kw kernel runs as bh·bw 3×3 pieces (bh = ⌈kh/3⌉, bw = ⌈kw/3⌉; a 3×3 kernel is one):
// piece (a, b) is taps [3a, 3a + 3) × [3b, 3b + 3), zeros past the kernel, applied to the input
// shifted by (3a, 3b). Each (channel c, piece (a, b)) is a "virtual channel" v = (c·bh + a)·bw + b
// of a 3×3 convolution with C·bh·bw input channels, whose products sum over the pieces too.
struct Pieces {
    int64_t kh, kw, bh, bw;
    int64_t count() const { return bh * bw; }
    // Virtual channel v = (channel·bh + a)·bw + b as (channel, a, b).
    struct Virtual {
        int64_t channel, a, b;
    };
    Virtual split(int64_t v) const { return {v / count(), v / bw % bh, v % bw}; }
};
constexpr Pieces pieces_of(int64_t kh, int64_t kw) { return {kh, kw, (kh + 2) / 3, (kw + 2) / 3}; }

// A kernel transform's (or its adjoint's) work, in multiply-adds, for the thread split.
constexpr int64_t kKernelTransformCost = 100;

// U[ξ][o][v] = (G g Gᵀ)[ξ] for piece (a, b) g of kernel (o, c) of w (O, C, kh, kw), v its virtual
// channel; with `for_input_gradient`, U[ξ][c][v] for v = (o, a, b), the pieces of kernel (o, c)
// turned 180° (w[kh − 1 − i][kw − 1 − j]): the kernel of dx = conv(dy, ·). A row r of U at a time,
// kKernelLanes consecutive virtual channels in the lanes.
template <typename T>
void transform_weights(T* U, const T* w, int64_t O, int64_t C, const Pieces& k, bool for_input_gradient) {
    const int64_t rows = for_input_gradient ? C : O;
    const int64_t cols = (for_input_gradient ? O : C) * k.count();
    // Each row writes its own entries of U: split over the threads, the same values.
    const int threads =
        parallel_threads(Work::multiply_adds, saturating_mul(O * C, k.count() * kKernelTransformCost), rows);
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1)
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t v0 = 0; v0 < cols; v0 += kKernelLanes) {
            const int64_t lanes = std::min(kKernelLanes, cols - v0);
            alignas(64) double g[9][kKernelLanes] = {}, u[kPoints][kKernelLanes];
            for (int64_t l = 0; l < lanes; ++l) {
                const auto [other, a, b] = k.split(v0 + l);
                const int64_t o = for_input_gradient ? other : r, c = for_input_gradient ? r : other;
                const T* kernel = w + (o * C + c) * k.kh * k.kw;
                for (int i = 0; i < 3; ++i)
                    for (int j = 0; j < 3; ++j) {
                        const int64_t y = 3 * a + i, x = 3 * b + j;
                        if (y >= k.kh || x >= k.kw) continue;  // a tap of the zero padding of the pieces
                        const int64_t at = for_input_gradient ? (k.kh - 1 - y) * k.kw + (k.kw - 1 - x) : y * k.kw + x;
                        g[i * 3 + j][l] = static_cast<double>(kernel[at]);
                    }
            }
            kernel_transform(u, g);
            for (int xi = 0; xi < kPoints; ++xi)
                for (int64_t l = 0; l < lanes; ++l) U[(xi * rows + r) * cols + v0 + l] = static_cast<T>(u[xi][l]);
        }
}

// --- the tiles ----------------------------------------------------------------------------------

// The geometry of one Winograd convolution: in (N, Cin, Hin, Win), zero padding (ph, pw), the
// kernel's pieces, out (N, Cout, Hout, Wout) with Hout = Hin + 2·ph − kh + 1, and the tiling of
// out in 4×4 blocks.
struct Tiling {
    int64_t Hin, Win, ph, pw, Hout, Wout;
    int64_t tiles_h, tiles_w;
    Pieces k;
};

// The transforms run on kLanes tiles at once, one per SIMD lane: a tile's 36 values are
// gathered into lane l of 36 batches (Lanes), transformed in registers and stored as a row of
// kLanes consecutive columns of V or M, whose rows are `cols` (the chunk rounded up to whole
// batches) long. Lanes past the chunk's end hold zeros and their columns are never read back.
template <typename T>
using Batch = xsimd::batch<T>;
template <typename T>
constexpr int64_t kLanes = static_cast<int64_t>(Batch<T>::size);
template <typename T, int Values>
struct alignas(64) Lanes {
    T v[Values][kLanes<T>];
    Batch<T> load(int i) const { return Batch<T>::load_aligned(v[i]); }
    void store(int i, const Batch<T>& b) { b.store_aligned(v[i]); }
};

// Where a chunk's tile lies: sample n and the top-left corner (y0, x0) of its block in out.
struct TileAt {
    int64_t n = 0, y0 = 0, x0 = 0;
    bool valid = false;  // false: a lane past the chunk's end
};
constexpr int64_t kMaxChunk = 256;  // tiles per chunk, at most
// at[k] for k < cols (count rounded up to whole batches), of tiles first + k.
void locate(TileAt* at, const Tiling& s, int64_t first, int64_t count, int64_t cols) {
    const int64_t per_sample = s.tiles_h * s.tiles_w;
    for (int64_t k = 0; k < cols; ++k) {
        const int64_t t = first + k, r = t % per_sample;
        at[k] = k < count ? TileAt{t / per_sample, (r / s.tiles_w) * kOut, (r % s.tiles_w) * kOut, true} : TileAt{};
    }
}

// The transformed planes V_ξ, M_ξ of a chunk lie `plane_stride` apart: a plane plus one cache
// line, so that the 36 streams a transform writes (or reads) do not all map to the same cache
// sets, as planes a multiple of 4 KiB apart would.
constexpr int64_t plane_stride(int64_t rows, int64_t cols) { return rows * cols + 16; }

// Tiles are gathered a block at a time into a scratch of kBlock tiles (lane-major, as batches
// load them) before any of them is transformed: the batches then load values stored long
// before, not ones a few scalar stores ago, which a CPU cannot forward into a wide load.
constexpr int64_t kBlock = 64;

// d[e][k] for e < 36: tile k's 6×6 window at (y0 + dy, x0 + dx) of its sample's plane (src:
// sample 0's, samples `sample_stride` apart), zeros outside the plane and past the chunk's end.
template <typename T>
void gather_inputs(T (*d)[kBlock], const T* src, int64_t sample_stride, const Tiling& s, int64_t dy, int64_t dx,
                   const TileAt* at, int64_t tiles) {
    for (int64_t k = 0; k < tiles; ++k) {
        const int64_t y0 = at[k].y0 + dy, x0 = at[k].x0 + dx;
        if (at[k].valid && y0 >= 0 && x0 >= 0 && y0 + kTile <= s.Hin && x0 + kTile <= s.Win) {
            const T* p = src + at[k].n * sample_stride + y0 * s.Win + x0;
            for (int i = 0; i < kTile; ++i)
                for (int j = 0; j < kTile; ++j) d[i * kTile + j][k] = p[i * s.Win + j];
            continue;
        }
        // At an edge: zeros, then the part of the window inside the plane.
        for (int e = 0; e < kPoints; ++e) d[e][k] = T(0);
        if (!at[k].valid) continue;
        const int64_t i0 = std::max<int64_t>(0, -y0), i1 = std::min<int64_t>(kTile, s.Hin - y0);
        const int64_t j0 = std::max<int64_t>(0, -x0), j1 = std::min<int64_t>(kTile, s.Win - x0);
        const int64_t corner = at[k].n * sample_stride + y0 * s.Win + x0;  // may lie before the plane
        for (int64_t i = i0; i < i1; ++i)
            for (int64_t j = j0; j < j1; ++j) d[i * kTile + j][k] = src[corner + i * s.Win + j];
    }
}

#if XSIMD_WITH_AVX
// gather_inputs for float with AVX: each tile's window row by row as one 8-float load and
// store (a tile-major scratch, 6 rows of 8), then 8 tiles at a time turned to one tile per lane
// by 8×8 transposes (simd.hpp): 12 wide moves and 18 shuffles a tile instead of 36 scalar
// stores. A window that reaches past the plane is read with masked loads.
void gather_inputs(float (*d)[kBlock], const float* src, int64_t sample_stride, const Tiling& s, int64_t dy, int64_t dx,
                   const TileAt* at, int64_t tiles) {
    alignas(64) float rows[kBlock][kTile][8];
    for (int64_t k = 0; k < tiles; ++k) {
        const int64_t y0 = at[k].y0 + dy, x0 = at[k].x0 + dx;
        if (at[k].valid && y0 >= 0 && x0 >= 0 && y0 + kTile <= s.Hin && x0 + 8 <= s.Win) {
            const float* p = src + at[k].n * sample_stride + y0 * s.Win + x0;
            for (int i = 0; i < kTile; ++i) _mm256_store_ps(rows[k][i], _mm256_loadu_ps(p + i * s.Win));
            continue;
        }
        // At an edge: each row inside the plane by a masked load of its columns inside it (the
        // masked-off lanes read nothing), zeros elsewhere.
        const int64_t j0 = std::max<int64_t>(0, -x0), j1 = std::min<int64_t>(kTile, s.Win - x0);
        const __m256 column = _mm256_setr_ps(0, 1, 2, 3, 4, 5, 6, 7);
        const __m256 mask = _mm256_and_ps(_mm256_cmp_ps(column, _mm256_set1_ps(float(j0)), _CMP_GE_OQ),
                                          _mm256_cmp_ps(column, _mm256_set1_ps(float(j1)), _CMP_LT_OQ));
        const int64_t corner = at[k].n * sample_stride + y0 * s.Win + x0;  // may lie before the plane
        for (int i = 0; i < kTile; ++i) {
            const bool inside = at[k].valid && j1 > j0 && y0 + i >= 0 && y0 + i < s.Hin;
            const __m256 row =
                inside ? _mm256_maskload_ps(src + corner + i * s.Win, _mm256_castps_si256(mask)) : _mm256_setzero_ps();
            _mm256_store_ps(rows[k][i], row);
        }
    }
    for (int64_t k = 0; k < tiles; k += 8)
        for (int i = 0; i < kTile; ++i) simd::transpose_8x8(&d[i * kTile][k], kBlock, kTile, rows[k][i], kTile * 8);
}
#endif

// V[ξ][v][k] = (Bᵀ d B)[ξ] for the chunk's tiles k and every virtual channel v = (c, a, b), where
// d is the 6×6 window of `in`'s channel c at (y0 − ph + 3a, x0 − pw + 3b) of its tile, zeros
// outside `in`. Channel by channel, the tiles in order: each plane of `in` is read, and each row
// of V written, front to back.
template <typename T>
void input_transform(T* V, int64_t cols, const T* in, int64_t Cin, const Tiling& s, const TileAt* tiles) {
    const int64_t plane = s.Hin * s.Win, rows = Cin * s.k.count(), stride = plane_stride(rows, cols);
    alignas(64) T d[kPoints][kBlock];
    for (int64_t v = 0; v < rows; ++v) {
        const auto [c, piece_y, piece_x] = s.k.split(v);
        for (int64_t k0 = 0; k0 < cols; k0 += kBlock) {
            const int64_t block = std::min(kBlock, cols - k0);
            gather_inputs(d, in + c * plane, Cin * plane, s, 3 * piece_y - s.ph, 3 * piece_x - s.pw, tiles + k0, block);
            for (int64_t k = 0; k < block; k += kLanes<T>) {
                // d B row by row, then Bᵀ (d B) column by column, straight into V: 12 batches
                // live at a time, where all 36 at once would not fit in the registers.
                Batch<T> dB[kPoints];
                for (int i = 0; i < kTile; ++i) {
                    Batch<T> row[kTile];
                    for (int j = 0; j < kTile; ++j) row[j] = Batch<T>::load_aligned(&d[i * kTile + j][k]);
                    input_1d(dB + i * kTile, row, 1);
                }
                for (int j = 0; j < kTile; ++j) {
                    Batch<T> column[kTile], out[kTile];
                    for (int i = 0; i < kTile; ++i) column[i] = dB[i * kTile + j];
                    input_1d(out, column, 1);
                    for (int i = 0; i < kTile; ++i)
                        out[i].store_unaligned(V + (i * kTile + j) * stride + v * cols + k0 + k);
                }
            }
        }
    }
}

// Lane l's 4×4 block y[4i + j][l] + b into its place in `out` (channel o's plane of sample 0,
// samples `sample_stride` apart), clipped at the edges, added to what is there with `accumulate`.
template <typename T>
void scatter_outputs(T* out, int64_t sample_stride, const Tiling& s, const TileAt* at, const Lanes<T, kOut * kOut>& y,
                     T b, bool accumulate) {
    for (int64_t l = 0; l < kLanes<T> && at[l].valid; ++l) {
        const int64_t rows = std::min<int64_t>(kOut, s.Hout - at[l].y0);
        const int64_t width = std::min<int64_t>(kOut, s.Wout - at[l].x0);
        T* dst = out + at[l].n * sample_stride + at[l].y0 * s.Wout + at[l].x0;
        for (int64_t i = 0; i < rows; ++i)
            for (int64_t j = 0; j < width; ++j) {
                const T v = y.v[i * kOut + j][l] + b;
                dst[i * s.Wout + j] = accumulate ? dst[i * s.Wout + j] + v : v;
            }
    }
}

#if XSIMD_WITH_AVX
// scatter_outputs for float with AVX: the lanes turned back into one 4×4 block per tile by
// 8×8 transposes, then each whole row of a block stored as one 4-float vector.
void scatter_outputs(float* out, int64_t sample_stride, const Tiling& s, const TileAt* at,
                     const Lanes<float, kOut * kOut>& y, float b, bool accumulate) {
    alignas(64) float block[kLanes<float>][kOut * kOut];  // tile-major
    for (int64_t h = 0; h < kLanes<float>; h += 8)
        for (int e0 = 0; e0 < kOut * kOut; e0 += 8)
            simd::transpose_8x8(&block[h][e0], kOut * kOut, 8, &y.v[e0][h], kLanes<float>);
    const __m128 bias = _mm_set1_ps(b);
    for (int64_t l = 0; l < kLanes<float> && at[l].valid; ++l) {
        const int64_t rows = std::min<int64_t>(kOut, s.Hout - at[l].y0);
        const int64_t width = std::min<int64_t>(kOut, s.Wout - at[l].x0);
        float* dst = out + at[l].n * sample_stride + at[l].y0 * s.Wout + at[l].x0;
        for (int64_t i = 0; i < rows; ++i) {
            float* d = dst + i * s.Wout;
            if (width == kOut) {
                __m128 v = _mm_add_ps(_mm_load_ps(&block[l][i * kOut]), bias);
                if (accumulate) v = _mm_add_ps(_mm_loadu_ps(d), v);
                _mm_storeu_ps(d, v);
                continue;
            }
            for (int64_t j = 0; j < width; ++j)
                d[j] = accumulate ? d[j] + (block[l][i * kOut + j] + b) : block[l][i * kOut + j] + b;
        }
    }
}
#endif

// out's 4×4 block of each tile (clipped at the edges) = (Aᵀ m A) + bias[o], m[ξ] = M[ξ][o][k];
// added to out with `accumulate`.
template <typename T>
void output_transform(T* out, const T* M, int64_t cols, const T* bias, int64_t Cout, const Tiling& s,
                      const TileAt* tiles, bool accumulate) {
    const int64_t plane = s.Hout * s.Wout, stride = plane_stride(Cout, cols);
    for (int64_t o = 0; o < Cout; ++o) {
        const T b = bias ? bias[o] : T(0);
        for (int64_t k = 0; k < cols; k += kLanes<T>) {
            const TileAt* at = tiles + k;
            // m A row by row (6 × 4), then Aᵀ (m A) column by column, as input_transform does.
            Batch<T> mA[kTile * kOut];
            for (int i = 0; i < kTile; ++i) {
                Batch<T> row[kTile];
                for (int j = 0; j < kTile; ++j)
                    row[j] = Batch<T>::load_unaligned(M + (i * kTile + j) * stride + o * cols + k);
                output_1d(mA + i * kOut, 1, row, 1);
            }
            Lanes<T, kOut * kOut> y;
            for (int j = 0; j < kOut; ++j) {
                Batch<T> column[kTile], out[kOut];
                for (int i = 0; i < kTile; ++i) column[i] = mA[i * kOut + j];
                output_1d(out, 1, column, 1);
                for (int i = 0; i < kOut; ++i) y.store(i * kOut + j, out[i]);
            }
            scatter_outputs(out + o * plane, Cout * plane, s, at, y, b, accumulate);
        }
    }
}

// d[e][k] for e < 16: tile k's 4×4 block of `src` (channel o's plane of sample 0, samples
// `sample_stride` apart), zeros past the plane's edges and past the chunk's end.
template <typename T>
void gather_outputs(T (*d)[kBlock], const T* src, int64_t sample_stride, const Tiling& s, const TileAt* at,
                    int64_t tiles) {
    for (int64_t k = 0; k < tiles; ++k) {
        const int64_t rows = at[k].valid ? std::min<int64_t>(kOut, s.Hout - at[k].y0) : 0;
        const int64_t width = std::min<int64_t>(kOut, s.Wout - at[k].x0);
        const T* p = src + at[k].n * sample_stride + at[k].y0 * s.Wout + at[k].x0;
        for (int64_t i = 0; i < kOut; ++i)
            for (int64_t j = 0; j < kOut; ++j) d[i * kOut + j][k] = i < rows && j < width ? p[i * s.Wout + j] : T(0);
    }
}

#if XSIMD_WITH_AVX
// gather_outputs for float with AVX, as gather_inputs: whole block rows as 4-float loads into a
// tile-major scratch, then 8×8 transposes into lanes.
void gather_outputs(float (*d)[kBlock], const float* src, int64_t sample_stride, const Tiling& s, const TileAt* at,
                    int64_t tiles) {
    alignas(64) float blocks[kBlock][kOut * kOut];
    for (int64_t k = 0; k < tiles; ++k) {
        const int64_t rows = at[k].valid ? std::min<int64_t>(kOut, s.Hout - at[k].y0) : 0;
        const int64_t width = std::min<int64_t>(kOut, s.Wout - at[k].x0);
        const float* p = src + at[k].n * sample_stride + at[k].y0 * s.Wout + at[k].x0;
        for (int64_t i = 0; i < kOut; ++i) {
            if (i < rows && width == kOut) {
                _mm_store_ps(&blocks[k][i * kOut], _mm_loadu_ps(p + i * s.Wout));
                continue;
            }
            for (int64_t j = 0; j < kOut; ++j)
                blocks[k][i * kOut + j] = i < rows && j < width ? p[i * s.Wout + j] : 0.0f;
        }
    }
    for (int64_t k = 0; k < tiles; k += 8)
        for (int e0 = 0; e0 < kOut * kOut; e0 += 8)
            simd::transpose_8x8(&d[e0][k], kBlock, 8, &blocks[k][e0], kOut * kOut);
}
#endif

// dM[ξ][o][k] = (A dY Aᵀ)[ξ] for each tile's 4×4 block dY of dy (zeros past the edges),
// gathered a block at a time as input_transform does.
template <typename T>
void output_adjoint_transform(T* dM, int64_t cols, const T* dy, int64_t Cout, const Tiling& s, const TileAt* tiles) {
    const int64_t plane = s.Hout * s.Wout, stride = plane_stride(Cout, cols);
    alignas(64) T d[kOut * kOut][kBlock];
    for (int64_t o = 0; o < Cout; ++o)
        for (int64_t k0 = 0; k0 < cols; k0 += kBlock) {
            const int64_t block = std::min(kBlock, cols - k0);
            gather_outputs(d, dy + o * plane, Cout * plane, s, tiles + k0, block);
            for (int64_t k = 0; k < block; k += kLanes<T>) {
                Batch<T> y[kOut * kOut], tmp[kTile * kOut], m[kPoints];
                for (int e = 0; e < kOut * kOut; ++e) y[e] = Batch<T>::load_aligned(&d[e][k]);
                for (int j = 0; j < kOut; ++j) output_adjoint_1d(tmp + j, kOut, y + j, kOut);            // A dY: (6, 4)
                for (int i = 0; i < kTile; ++i) output_adjoint_1d(m + i * kTile, 1, tmp + i * kOut, 1);  // (A dY) Aᵀ
                for (int xi = 0; xi < kPoints; ++xi) m[xi].store_unaligned(dM + xi * stride + o * cols + k0 + k);
            }
        }
}

// count rounded up to whole batches: the chunk's columns in V and M.
template <typename T>
int64_t whole_batches(int64_t count) {
    return (count + kLanes<T> - 1) / kLanes<T> * kLanes<T>;
}

// Elements of the 36 planes of `rows` × `cols`, each plane_stride apart.
constexpr int64_t transformed_size(int64_t rows, int64_t cols) { return kPoints * plane_stride(rows, cols); }

// --- the plans ----------------------------------------------------------------------------------

constexpr const char* kWorkspace = "conv2d (Winograd): workspace";
// Tiles per chunk: enough columns for the GEMMs to run at speed, few enough that a chunk's
// transformed input and output (36·(Cin + Cout) values a tile) stay near the core's cache.
constexpr int64_t kChunkValues = int64_t(1) << 18;
constexpr int64_t kMinChunk = 64;

Tiling tiling_of(const Window2d& g, bool input_gradient) {
    const Pieces k = pieces_of(g.kh, g.kw);
    if (!input_gradient)
        return {g.H, g.W, g.ph, g.pw, g.OH, g.OW, (g.OH + kOut - 1) / kOut, (g.OW + kOut - 1) / kOut, k};
    // dx = conv(dy, w turned), dy padded by k − 1 − p: out is (H, W).
    return {g.OH, g.OW, g.kh - 1 - g.ph, g.kw - 1 - g.pw, g.H, g.W, (g.H + kOut - 1) / kOut, (g.W + kOut - 1) / kOut,
            k};
}

// Per thread, `per_tile` values a tile (36·(Cin·pieces + Cout)), the planes' padding and `fixed`
// more; plus `shared` for everyone.
WinogradPlan make_plan(int64_t N, const Tiling& s, int64_t per_tile, int64_t fixed, int64_t shared,
                       int64_t multiply_adds_per_tile) {
    WinogradPlan plan;
    plan.tiles_h = s.tiles_h;
    plan.tiles_w = s.tiles_w;
    plan.tiles = checked_mul(N, checked_mul(s.tiles_h, s.tiles_w, kWorkspace), kWorkspace);
    // A multiple of 16 tiles, so that every chunk but the last fills whole batches of any width.
    plan.chunk = std::clamp(kChunkValues / std::max<int64_t>(per_tile, 1), kMinChunk, kMaxChunk) / 16 * 16;
    plan.chunk = std::max<int64_t>(16, std::min(plan.chunk, (plan.tiles + 15) / 16 * 16));
    const int64_t chunks = plan.tiles == 0 ? 0 : (plan.tiles + plan.chunk - 1) / plan.chunk;
    plan.threads = parallel_threads(Work::multiply_adds, saturating_mul(plan.tiles, multiply_adds_per_tile), chunks);
    // The transformed planes of both sides (transformed_size), each padded by a cache line.
    const int64_t padding = 2 * transformed_size(0, 0);
    const int64_t per_thread = checked_add(checked_mul(per_tile, plan.chunk, kWorkspace), fixed + padding, kWorkspace);
    plan.workspace = checked_add(shared, checked_mul(per_thread, plan.threads, kWorkspace), kWorkspace);
    return plan;
}

// The plan of a pass from Cin to Cout channels with `pieces` pieces a kernel: per thread V
// (36·Cin·pieces a tile), M (36·Cout) and `fixed` more; `shared` for everyone.
WinogradPlan plan_pass(int64_t N, const Tiling& s, int64_t Cin, int64_t Cout, int64_t fixed, int64_t shared) {
    const int64_t rows = checked_mul(Cin, s.k.count(), kWorkspace);
    return make_plan(N, s, checked_mul(kPoints, checked_add(rows, Cout, kWorkspace), kWorkspace), fixed, shared,
                     saturating_mul(kPoints, saturating_mul(rows, Cout)));
}

// --- the products -------------------------------------------------------------------------------
// M_ξ = U_ξ·V_ξ for each of the 36 points. With few virtual channels (K ≤ kSmallK multiply-adds
// per value of M) the product is written here: OpenBLAS would spend more on packing both sides
// and on zeroing M before a β = 0 product than on the multiply-adds. A block of M, R rows by NB
// batches of columns, stays in registers over all of K; U's values are broadcast and V's rows
// read where they lie, the columns of a block being consecutive in every row (no packing).
// On Zen 3 (docs/speed.md) this was faster than OpenBLAS from 16 to 128 channels and no better
// at 256 or for 7×7's 432 virtual channels, where the K rows a column block reads (cols apart)
// fall into too few L1 sets; OpenBLAS, which packs them, keeps those.
constexpr int64_t kSmallK = 128;
constexpr int kRows = 6;  // 6 rows × 2 batches: 12 accumulators, 2 rows of V and U's value in 16 registers

template <typename T, int R, int NB>
inline void product_block(T* C, const T* A, const T* B, int64_t K, int64_t ld) {
    Batch<T> acc[R][NB];
    for (int r = 0; r < R; ++r)
        for (int j = 0; j < NB; ++j) acc[r][j] = Batch<T>(T(0));
    for (int64_t k = 0; k < K; ++k) {
        Batch<T> b[NB];
        for (int j = 0; j < NB; ++j) b[j] = Batch<T>::load_unaligned(B + k * ld + j * kLanes<T>);
        for (int r = 0; r < R; ++r) {
            const Batch<T> a(A[r * K + k]);
            for (int j = 0; j < NB; ++j) acc[r][j] = xsimd::fma(a, b[j], acc[r][j]);
        }
    }
    for (int r = 0; r < R; ++r)
        for (int j = 0; j < NB; ++j) acc[r][j].store_unaligned(C + r * ld + j * kLanes<T>);
}

// NB batches of columns of C = A·B, every row: whole blocks of kRows rows, then the rest.
template <typename T, int NB>
void product_columns(T* C, const T* A, const T* B, int64_t M, int64_t K, int64_t ld) {
    int64_t i = 0;
    for (; i + kRows <= M; i += kRows) product_block<T, kRows, NB>(C + i * ld, A + i * K, B, K, ld);
    C += i * ld;
    A += i * K;
    switch (M - i) {
        case 5: product_block<T, 5, NB>(C, A, B, K, ld); break;
        case 4: product_block<T, 4, NB>(C, A, B, K, ld); break;
        case 3: product_block<T, 3, NB>(C, A, B, K, ld); break;
        case 2: product_block<T, 2, NB>(C, A, B, K, ld); break;
        case 1: product_block<T, 1, NB>(C, A, B, K, ld); break;
        default: break;
    }
}

// C (M, N) = A (M, K)·B (K, N), row-major, B and C rows N long, N whole batches: with K ≤
// kSmallK here, a column block's K rows of B stay in L1 while every row block of C uses them.
template <typename T>
void small_product(T* C, const T* A, const T* B, int64_t M, int64_t N, int64_t K) {
    int64_t j = 0;
    for (; j + 2 * kLanes<T> <= N; j += 2 * kLanes<T>) product_columns<T, 2>(C + j, A, B + j, M, K, N);
    if (j < N) product_columns<T, 1>(C + j, A, B + j, M, K, N);
}

// M_ξ = U_ξ (Cout, rows)·V_ξ (rows, cols) into M's plane ξ.
template <typename T>
void point_product(T* M, const T* U, const T* V, int64_t Cout, int64_t cols, int64_t rows) {
    if (rows <= kSmallK)
        small_product(M, U, V, Cout, cols, rows);
    else
        gemm<T>(false, false, Cout, cols, rows, T(1), U, V, T(0), M);
}

// The forward of in (Cin channels) → out (Cout channels) given U (36, Cout, Cin·pieces): per
// chunk, V = input transform, M_ξ = U_ξ·V_ξ (36 GEMMs of (Cout, Cin·pieces)·(Cin·pieces, cols)),
// output transform. `work` holds, per thread, V then M.
template <typename T>
void winograd_convolve(T* out, const T* in, const T* U, const T* bias, int64_t Cin, int64_t Cout, const Tiling& s,
                       const WinogradPlan& plan, T* work, bool accumulate) {
    const int64_t rows = Cin * s.k.count();  // V's: virtual channels
    const int64_t chunks = (plan.tiles + plan.chunk - 1) / plan.chunk;
    const int64_t per_thread = transformed_size(rows, plan.chunk) + transformed_size(Cout, plan.chunk);
#pragma omp parallel for schedule(static) num_threads(plan.threads) if (plan.threads > 1)
    for (int64_t q = 0; q < chunks; ++q) {
        const int64_t first = q * plan.chunk, count = std::min(plan.chunk, plan.tiles - first);
        const int64_t cols = whole_batches<T>(count);
        TileAt tiles[kMaxChunk];
        locate(tiles, s, first, count, cols);
        T* V = work + per_thread * omp_get_thread_num();
        T* M = V + transformed_size(rows, cols);
        const int64_t v_stride = plane_stride(rows, cols), m_stride = plane_stride(Cout, cols);
        input_transform(V, cols, in, Cin, s, tiles);
        for (int xi = 0; xi < kPoints; ++xi)
            point_product(M + xi * m_stride, U + xi * Cout * rows, V + xi * v_stride, Cout, cols, rows);
        output_transform(out, M, cols, bias, Cout, s, tiles, accumulate);
    }
}

}  // namespace

bool winograd_applies(int64_t C, int64_t O, const Window2d& g) {
    return g.kh >= 3 && g.kh <= kMaxKernel && g.kw >= 3 && g.kw <= kMaxKernel && g.sh == 1 && g.sw == 1 &&
           g.dil_h == 1 && g.dil_w == 1 && g.ph < g.kh && g.pw < g.kw && g.OH > 0 && g.OW > 0 && C >= kMinChannels &&
           O >= kMinChannels;
}

WinogradPlan winograd_forward_plan(int64_t N, int64_t C, int64_t O, const Window2d& g) {
    const Tiling s = tiling_of(g, false);
    const int64_t U =
        checked_mul(kPoints, checked_mul(O, checked_mul(C, s.k.count(), kWorkspace), kWorkspace), kWorkspace);
    return plan_pass(N, s, C, O, 0, U);
}

WinogradPlan winograd_backward_data_plan(int64_t N, int64_t C, int64_t O, const Window2d& g) {
    const Tiling s = tiling_of(g, true);
    const int64_t U =
        checked_mul(kPoints, checked_mul(C, checked_mul(O, s.k.count(), kWorkspace), kWorkspace), kWorkspace);
    return plan_pass(N, s, O, C, 0, U);
}

// Per thread: V (36·C·pieces·chunk), dM (36·O·chunk) and a dU partial (36·O·C·pieces).
WinogradPlan winograd_backward_weight_plan(int64_t N, int64_t C, int64_t O, const Window2d& g) {
    const Tiling s = tiling_of(g, false);
    const int64_t dU =
        checked_mul(kPoints, checked_mul(O, checked_mul(C, s.k.count(), kWorkspace), kWorkspace), kWorkspace);
    return plan_pass(N, s, C, O, dU, 0);
}

template <typename T>
void conv2d_winograd_forward(T* y, const T* x, const T* w, const T* b, int64_t N, int64_t C, int64_t O,
                             const Window2d& g, const WinogradPlan& plan, T* workspace) {
    (void)N;
    const Tiling s = tiling_of(g, false);
    T* U = workspace;  // (36, O, C·pieces)
    transform_weights(U, w, O, C, s.k, /*for_input_gradient=*/false);
    winograd_convolve(y, x, U, b, C, O, s, plan, U + kPoints * O * C * s.k.count(), /*accumulate=*/false);
}

template <typename T>
void conv2d_winograd_backward_data(T* dx, const T* dy, const T* w, int64_t N, int64_t C, int64_t O, const Window2d& g,
                                   const WinogradPlan& plan, T* workspace, bool accumulate) {
    (void)N;
    const Tiling s = tiling_of(g, true);
    T* U = workspace;  // (36, C, O·pieces)
    transform_weights(U, w, O, C, s.k, /*for_input_gradient=*/true);
    winograd_convolve(dx, dy, U, static_cast<const T*>(nullptr), O, C, s, plan, U + kPoints * O * C * s.k.count(),
                      accumulate);
}

template <typename T>
void conv2d_winograd_backward_weight(T* dw, const T* dy, const T* x, int64_t N, int64_t C, int64_t O, const Window2d& g,
                                     const WinogradPlan& plan, T* workspace, bool accumulate) {
    (void)N;
    const Tiling s = tiling_of(g, false);
    const Pieces& k = s.k;
    const int64_t rows = C * k.count();  // virtual channels
    const int64_t chunks = (plan.tiles + plan.chunk - 1) / plan.chunk;
    const int64_t dU_size = kPoints * O * rows;
    const int64_t per_thread = transformed_size(rows, plan.chunk) + transformed_size(O, plan.chunk) + dU_size;
    const int threads = plan.threads;
    for (int t = 0; t < threads; ++t) std::fill_n(workspace + per_thread * t, dU_size, T(0));
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1)
    for (int64_t q = 0; q < chunks; ++q) {
        const int64_t first = q * plan.chunk, count = std::min(plan.chunk, plan.tiles - first);
        const int64_t cols = whole_batches<T>(count);
        TileAt tiles[kMaxChunk];
        locate(tiles, s, first, count, cols);
        T* dU = workspace + per_thread * omp_get_thread_num();
        T* V = dU + dU_size;
        T* dM = V + transformed_size(rows, cols);
        const int64_t v_stride = plane_stride(rows, cols), m_stride = plane_stride(O, cols);
        input_transform(V, cols, x, C, s, tiles);
        output_adjoint_transform(dM, cols, dy, O, s, tiles);
        // dU_ξ (O, rows) += dM_ξ (O, cols) · V_ξᵀ (cols, rows); the columns past `count` are zeros.
        for (int xi = 0; xi < kPoints; ++xi)
            gemm<T>(false, true, O, rows, cols, T(1), dM + xi * m_stride, V + xi * v_stride, T(1), dU + xi * O * rows);
    }
    // The partials in thread order, then each piece of dw[o][c] = Gᵀ dU G, in double; a block of
    // virtual channels at a time, so that the 36 values of each piece (O·rows apart) are read as
    // 36 runs, not 36 misses.
    constexpr int64_t kChannels = 64;
    static_assert(kChannels % kKernelLanes == 0);
    // Each o sums and writes its own kernels: split over the threads, the same values.
    const int last_threads = parallel_threads(Work::multiply_adds, saturating_mul(O * rows, kKernelTransformCost), O);
#pragma omp parallel for schedule(static) num_threads(last_threads) if (last_threads > 1)
    for (int64_t o = 0; o < O; ++o)
        for (int64_t v0 = 0; v0 < rows; v0 += kChannels) {
            const int64_t block = std::min(kChannels, rows - v0);
            double u[kPoints][kChannels];
            for (int xi = 0; xi < kPoints; ++xi)
                for (int64_t v = 0; v < block; ++v) {
                    double sum = 0.0;
                    for (int t = 0; t < threads; ++t)
                        sum += static_cast<double>(workspace[per_thread * t + (xi * O + o) * rows + v0 + v]);
                    u[xi][v] = sum;
                }
            for (int xi = 0; xi < kPoints; ++xi)  // the last batch's lanes past the block (kChannels is whole batches)
                for (int64_t v = block; v % kKernelLanes != 0; ++v) u[xi][v] = 0.0;
            for (int64_t l0 = 0; l0 < block; l0 += kKernelLanes) {
                alignas(64) double gk[9][kKernelLanes];
                kernel_adjoint_transform(gk, &u[0][l0], kChannels);
                for (int64_t l = 0; l < std::min(kKernelLanes, block - l0); ++l) {
                    const auto [c, py, px] = k.split(v0 + l0 + l);
                    T* kernel = dw + (o * C + c) * k.kh * k.kw;
                    for (int i = 0; i < 3; ++i)
                        for (int j = 0; j < 3; ++j) {
                            const int64_t y = 3 * py + i, x = 3 * px + j;
                            if (y >= k.kh || x >= k.kw) continue;  // a tap of the zero padding of the pieces
                            T& d = kernel[y * k.kw + x];
                            d = static_cast<T>((accumulate ? static_cast<double>(d) : 0.0) + gk[i * 3 + j][l]);
                        }
                }
            }
        }
}

#define TAPEGRAD_INSTANTIATE(T)                                                                                        \
    template void conv2d_winograd_forward<T>(T*, const T*, const T*, const T*, int64_t, int64_t, int64_t,              \
                                             const Window2d&, const WinogradPlan&, T*);                                \
    template void conv2d_winograd_backward_data<T>(T*, const T*, const T*, int64_t, int64_t, int64_t, const Window2d&, \
                                                   const WinogradPlan&, T*, bool);                                     \
    template void conv2d_winograd_backward_weight<T>(T*, const T*, const T*, int64_t, int64_t, int64_t,                \
                                                     const Window2d&, const WinogradPlan&, T*, bool);
TAPEGRAD_INSTANTIATE(float)
TAPEGRAD_INSTANTIATE(double)
#undef TAPEGRAD_INSTANTIATE

}  // namespace tapegrad::kernels
