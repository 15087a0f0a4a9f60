// Winograd convolution, F(4×4, 3×3) and F(2×2, 7×7); see conv2d_winograd.hpp. The schemes first,
// each its 1-D maps written out, applied to columns then rows; then a kernel's pieces, the tiles,
// and the three passes, each a loop over chunks of tiles: transform in, α² GEMMs, transform out.
// Everything past the schemes is a template on the scheme S.
#include "framework/kernels/conv2d_winograd.hpp"

#include <omp.h>

#include <algorithm>

#include "framework/core/checked.hpp"
#include "framework/core/parallel.hpp"
#include "framework/kernels/gemm.hpp"
#include "framework/kernels/simd.hpp"

namespace tapegrad::kernels {

namespace {

// --- the schemes --------------------------------------------------------------------------------
// A scheme F(m×m, r×r) computes an m×m block of output from an α×α tile of input (α = m + r − 1)
// with α² multiplications per (input, output channel) pair, as
//   Y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A
// for an r×r kernel g and an α×α tile d. Each scheme gives its extents and the five 1-D maps
// (Bᵀ·d, Aᵀ·m, its adjoint A·y, G·g and its adjoint Gᵀ·u), written out; the 2-D transforms
// below apply a map to columns, then rows. The 1-D maps work on V, a batch of SIMD lanes (one
// tile per lane), or, for the kernel's maps, doubles; s and t are strides in V.

// F(4×4, 3×3), Lavin & Gray's matrices for the points 0, ±1, ±2 and ∞:
//   Bᵀ = [4  0 −5  0 1 0]   G = [ 1/4     0     0 ]   Aᵀ = [1 1  1 1  1 0]
//        [0 −4 −4  1 1 0]       [−1/6  −1/6  −1/6 ]        [0 1 −1 2 −2 0]
//        [0  4 −4 −1 1 0]       [−1/6   1/6  −1/6 ]        [0 1  1 4  4 0]
//        [0 −2 −1  2 1 0]       [1/24  1/12   1/6 ]        [0 1 −1 8 −8 1]
//        [0  2 −1 −2 1 0]       [1/24 −1/12   1/6 ]
//        [0  4  0 −5 0 1]       [  0     0     1  ]
// 36 multiplications for 16 outputs of a 3×3 kernel, where the direct form takes 144.
struct F4x4_3x3 {
    static constexpr int kTile = 6, kOut = 4, kKernel = 3;
    static constexpr int kPoints = kTile * kTile;  // products (GEMMs) per tile
    static constexpr int kTaps = kKernel * kKernel;

    // Bᵀ·d: 6 values at stride s → 6 at stride s.
    template <typename V>
    static void input(V* r, const V* d, int64_t s) {
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
    static void output(V* o, int64_t t, const V* m, int64_t s) {
        const V m0 = m[0], m1 = m[s], m2 = m[2 * s], m3 = m[3 * s], m4 = m[4 * s], m5 = m[5 * s];
        const V a = m1 + m2, b = m1 - m2, c = m3 + m4, d = m3 - m4;
        o[0] = m0 + a + c;
        o[t] = b + V(2) * d;
        o[2 * t] = a + V(4) * c;
        o[3 * t] = b + V(8) * d + m5;
    }

    // A·y, the adjoint of output: 4 values at stride t → 6 at stride s.
    template <typename V>
    static void output_adjoint(V* m, int64_t s, const V* y, int64_t t) {
        const V y0 = y[0], y1 = y[t], y2 = y[2 * t], y3 = y[3 * t];
        const V even = y0 + y2, odd = y1 + y3, even4 = y0 + V(4) * y2, odd2 = V(2) * y1 + V(8) * y3;
        m[0] = y0;
        m[s] = even + odd;
        m[2 * s] = even - odd;
        m[3 * s] = even4 + odd2;
        m[4 * s] = even4 - odd2;
        m[5 * s] = y3;
    }

    // G·g: 3 values at stride t → 6 at stride s.
    template <typename V>
    static void kernel(V* u, int64_t s, const V* g, int64_t t) {
        const V sixth(1.0 / 6), twenty_fourth(1.0 / 24);  // multiplied: a division is 4-5× slower
        const V g0 = g[0], g1 = g[t], g2 = g[2 * t];
        u[0] = g0 * V(0.25);
        u[s] = -(g0 + g1 + g2) * sixth;
        u[2 * s] = -(g0 - g1 + g2) * sixth;
        u[3 * s] = (g0 + V(2) * g1 + V(4) * g2) * twenty_fourth;
        u[4 * s] = (g0 - V(2) * g1 + V(4) * g2) * twenty_fourth;
        u[5 * s] = g2;
    }

    // Gᵀ·u, the adjoint of kernel: 6 values at stride s → 3 at stride t.
    template <typename V>
    static void kernel_adjoint(V* g, int64_t t, const V* u, int64_t s) {
        const V sixth(1.0 / 6), twelfth(1.0 / 12), twenty_fourth(1.0 / 24);
        const V u0 = u[0], u1 = u[s], u2 = u[2 * s], u3 = u[3 * s], u4 = u[4 * s], u5 = u[5 * s];
        g[0] = u0 * V(0.25) - (u1 + u2) * sixth + (u3 + u4) * twenty_fourth;
        g[t] = (u2 - u1) * sixth + (u3 - u4) * twelfth;
        g[2 * t] = (u3 + u4 - u1 - u2) * sixth + u5;
    }
};

// F(2×2, 7×7), Toom-Cook's matrices for the points 0, ±1, ±2, ±1/2 and ∞ (bench/winograd_error.py
// builds them from the points and models their float32 error):
//   Bᵀ = [1   0  −21/4     0   21/4     0   −1  0]   Aᵀ = [1 1  1 1  1   1    1  0]
//        [0   1     1  −17/4  −17/4     1    1  0]        [0 1 −1 2 −2 1/2 −1/2 1]
//        [0  −1     1   17/4  −17/4    −1    1  0]
//        [0  1/2  1/4  −5/2   −5/4      2    1  0]   G, row by row: [1 0 0 0 0 0 0],
//        [0 −1/2  1/4   5/2   −5/4     −2    1  0]   −2/9·[1 1 1 1 1 1 1], −2/9·[1 −1 1 −1 1 −1 1],
//        [0   2     4  −5/2     −5    1/2    1  0]   1/90·[1 2 4 8 16 32 64], 1/90·[1 −2 4 −8 16 −32 64],
//        [0  −2     4   5/2     −5   −1/2    1  0]   1/90·[64 32 16 8 4 2 1], 1/90·[64 −32 16 −8 4 −2 1],
//        [0  −1     0  21/4      0  −21/4    0  1]   [0 0 0 0 0 0 1]
// 64 multiplications for 4 outputs of a 7×7 kernel (16 an output, where F(4×4, 3×3)'s nine
// pieces take 20.25 and the direct form 49), and one input tile per channel instead of nine.
struct F2x2_7x7 {
    static constexpr int kTile = 8, kOut = 2, kKernel = 7;
    static constexpr int kPoints = kTile * kTile, kTaps = kKernel * kKernel;

    // Bᵀ·d: 8 values at stride s → 8 at stride s; rows 1–6 come in pairs, even ± odd. Six
    // constants (doubling is an addition), so that with the eight inputs they fit in 16 registers.
    template <typename V>
    static void input(V* r, const V* d, int64_t s) {
        const V d0 = d[0], d1 = d[s], d2 = d[2 * s], d3 = d[3 * s], d4 = d[4 * s], d5 = d[5 * s], d6 = d[6 * s],
                d7 = d[7 * s];
        const V half(0.5), quarter(0.25), five_halves(2.5), five_quarters(1.25), seventeen_quarters(4.25),
            twentyone_quarters(5.25);
        r[0] = d0 - d6 + twentyone_quarters * (d4 - d2);
        r[7 * s] = d7 - d1 + twentyone_quarters * (d3 - d5);
        const V e1 = d2 + d6 - seventeen_quarters * d4, o1 = d1 + d5 - seventeen_quarters * d3;  // points ±1
        r[s] = e1 + o1;
        r[2 * s] = e1 - o1;
        const V e2 = quarter * d2 - five_quarters * d4 + d6, o2 = half * d1 - five_halves * d3 + (d5 + d5);  // ±2
        r[3 * s] = e2 + o2;
        r[4 * s] = e2 - o2;
        const V t = d2 - five_quarters * d4, t2 = t + t;                           // 4·d2 − 5·d4 = 4·t
        const V e3 = t2 + t2 + d6, o3 = (d1 + d1) - five_halves * d3 + half * d5;  // ±1/2
        r[5 * s] = e3 + o3;
        r[6 * s] = e3 - o3;
    }

    // Aᵀ·m: 8 values at stride s → 2 at stride t.
    template <typename V>
    static void output(V* o, int64_t t, const V* m, int64_t s) {
        const V m0 = m[0], m1 = m[s], m2 = m[2 * s], m3 = m[3 * s], m4 = m[4 * s], m5 = m[5 * s], m6 = m[6 * s],
                m7 = m[7 * s];
        o[0] = m0 + (m1 + m2) + (m3 + m4) + (m5 + m6);
        o[t] = (m1 - m2) + V(2) * (m3 - m4) + V(0.5) * (m5 - m6) + m7;
    }

    // A·y, the adjoint of output: 2 values at stride t → 8 at stride s.
    template <typename V>
    static void output_adjoint(V* m, int64_t s, const V* y, int64_t t) {
        const V y0 = y[0], y1 = y[t], twice = V(2) * y1, half = V(0.5) * y1;
        m[0] = y0;
        m[s] = y0 + y1;
        m[2 * s] = y0 - y1;
        m[3 * s] = y0 + twice;
        m[4 * s] = y0 - twice;
        m[5 * s] = y0 + half;
        m[6 * s] = y0 - half;
        m[7 * s] = y1;
    }

    // G·g: 7 values at stride t → 8 at stride s; rows 1–6 in pairs, even ± odd taps.
    template <typename V>
    static void kernel(V* u, int64_t s, const V* g, int64_t t) {
        const V g0 = g[0], g1 = g[t], g2 = g[2 * t], g3 = g[3 * t], g4 = g[4 * t], g5 = g[5 * t], g6 = g[6 * t];
        const V two_ninths(-2.0 / 9), ninetieth(1.0 / 90);
        u[0] = g0;
        const V e1 = g0 + g2 + g4 + g6, o1 = g1 + g3 + g5;
        u[s] = (e1 + o1) * two_ninths;
        u[2 * s] = (e1 - o1) * two_ninths;
        const V e2 = g0 + V(4) * g2 + V(16) * g4 + V(64) * g6, o2 = V(2) * g1 + V(8) * g3 + V(32) * g5;
        u[3 * s] = (e2 + o2) * ninetieth;
        u[4 * s] = (e2 - o2) * ninetieth;
        const V e3 = V(64) * g0 + V(16) * g2 + V(4) * g4 + g6, o3 = V(32) * g1 + V(8) * g3 + V(2) * g5;
        u[5 * s] = (e3 + o3) * ninetieth;
        u[6 * s] = (e3 - o3) * ninetieth;
        u[7 * s] = g6;
    }

    // Gᵀ·u, the adjoint of kernel: 8 values at stride s → 7 at stride t.
    template <typename V>
    static void kernel_adjoint(V* g, int64_t t, const V* u, int64_t s) {
        const V two_ninths(-2.0 / 9), ninetieth(1.0 / 90);
        const V u0 = u[0], u7 = u[7 * s];
        const V p1 = (u[s] + u[2 * s]) * two_ninths, m1 = (u[s] - u[2 * s]) * two_ninths;        // points ±1
        const V p2 = (u[3 * s] + u[4 * s]) * ninetieth, m2 = (u[3 * s] - u[4 * s]) * ninetieth;  // ±2
        const V p3 = (u[5 * s] + u[6 * s]) * ninetieth, m3 = (u[5 * s] - u[6 * s]) * ninetieth;  // ±1/2
        g[0] = u0 + p1 + p2 + V(64) * p3;
        g[t] = m1 + V(2) * m2 + V(32) * m3;
        g[2 * t] = p1 + V(4) * p2 + V(16) * p3;
        g[3 * t] = m1 + V(8) * m2 + V(8) * m3;
        g[4 * t] = p1 + V(16) * p2 + V(4) * p3;
        g[5 * t] = m1 + V(32) * m2 + V(2) * m3;
        g[6 * t] = p1 + V(64) * p2 + p3 + u7;
    }
};

constexpr int64_t kMinChannels = 8;  // below, im2col's one GEMM is faster
constexpr int64_t kMaxKernel = 9;    // larger kernels have 16 pieces and more (see Pieces)

// The kernel transforms work on kKernelLanes kernels at once, one per lane of a batch of doubles
// (once per weight, not per tile).
using Doubles = xsimd::batch<double>;
constexpr int64_t kKernelLanes = static_cast<int64_t>(Doubles::size);

// u (α×α) = G g Gᵀ for kKernelLanes r×r kernels g (g[tap][lane]), in double.
template <typename S>
void kernel_transform(double (*u)[kKernelLanes], const double (*g)[kKernelLanes]) {
    constexpr int a = S::kTile, r = S::kKernel;
    Doubles taps[S::kTaps], gg[a * r], out[S::kPoints];
    for (int e = 0; e < S::kTaps; ++e) taps[e] = Doubles::load_unaligned(g[e]);
    for (int j = 0; j < r; ++j) S::kernel(gg + j, r, taps + j, r);         // columns: (α, r)
    for (int i = 0; i < a; ++i) S::kernel(out + i * a, 1, gg + i * r, 1);  // rows: (α, α)
    for (int xi = 0; xi < S::kPoints; ++xi) out[xi].store_unaligned(u[xi]);
}

// g (r×r) = Gᵀ u G for kKernelLanes transformed gradients u (u[ξ][lane]), in double: the adjoint.
template <typename S>
void kernel_adjoint_transform(double (*g)[kKernelLanes], const double* u, int64_t lane_stride) {
    constexpr int a = S::kTile, r = S::kKernel;
    Doubles ua[S::kPoints], tmp[r * a], gk[S::kTaps];
    for (int xi = 0; xi < S::kPoints; ++xi) ua[xi] = Doubles::load_unaligned(u + xi * lane_stride);
    for (int j = 0; j < a; ++j) S::kernel_adjoint(tmp + j, a, ua + j, a);          // Gᵀ dU: (r, α)
    for (int i = 0; i < r; ++i) S::kernel_adjoint(gk + i * r, 1, tmp + i * a, 1);  // (Gᵀ dU) G
    for (int e = 0; e < S::kTaps; ++e) gk[e].store_unaligned(g[e]);
}

// Which scheme a kernel runs as: a 7×7 kernel as F(2×2, 7×7); every other as F(4×4, 3×3) in
// 3×3 pieces (a 5×5 in four pieces takes 9 multiplications an output, F(2×2, 7×7) 16).
template <typename F>
decltype(auto) with_scheme(const Window2d& g, F&& f) {
    if (g.kh == F2x2_7x7::kKernel && g.kw == F2x2_7x7::kKernel) return f(F2x2_7x7{});
    return f(F4x4_3x3{});
}

// A kh × kw kernel runs as bh·bw r×r pieces of its scheme (bh = ⌈kh/r⌉, bw = ⌈kw/r⌉; a kernel
// of r×r or smaller is one): piece (a, b) is taps [ra, ra + r) × [rb, rb + r), zeros past the
// kernel, applied to the input shifted by (ra, rb). Each (channel c, piece (a, b)) is a
// "virtual channel" v = (c·bh + a)·bw + b of an r×r convolution with C·bh·bw input channels,
// whose products sum over the pieces too.
struct Pieces {
    int64_t kh, kw, bh, bw;
    int64_t count() const { return bh * bw; }
    // Virtual channel v = (channel·bh + a)·bw + b as (channel, a, b).
    struct Virtual {
        int64_t channel, a, b;
    };
    Virtual split(int64_t v) const { return {v / count(), v / bw % bh, v % bw}; }
};
template <typename S>
constexpr Pieces pieces_of(int64_t kh, int64_t kw) {
    constexpr int64_t r = S::kKernel;
    return {kh, kw, (kh + r - 1) / r, (kw + r - 1) / r};
}

// A kernel transform's (or its adjoint's) work, in multiply-adds, for the thread split: about
// 100 for a 3×3 piece, and in proportion to the taps for a larger kernel.
template <typename S>
constexpr int64_t kKernelTransformCost = 100 * S::kTaps / 9;

// U[ξ][o][v] = (G g Gᵀ)[ξ] for piece (a, b) g of kernel (o, c) of w (O, C, kh, kw), v its virtual
// channel; with `for_input_gradient`, U[ξ][c][v] for v = (o, a, b), the pieces of kernel (o, c)
// turned 180° (w[kh − 1 − i][kw − 1 − j]): the kernel of dx = conv(dy, ·). A row r of U at a time,
// kKernelLanes consecutive virtual channels in the lanes.
template <typename S, typename T>
void transform_weights(T* U, const T* w, int64_t O, int64_t C, const Pieces& k, bool for_input_gradient) {
    constexpr int r = S::kKernel;
    const int64_t rows = for_input_gradient ? C : O;
    const int64_t cols = (for_input_gradient ? O : C) * k.count();
    // Each row writes its own entries of U: split over the threads, the same values.
    const int threads =
        parallel_threads(Work::multiply_adds, saturating_mul(O * C, k.count() * kKernelTransformCost<S>), rows);
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1)
    for (int64_t row = 0; row < rows; ++row)
        for (int64_t v0 = 0; v0 < cols; v0 += kKernelLanes) {
            const int64_t lanes = std::min(kKernelLanes, cols - v0);
            alignas(64) double g[S::kTaps][kKernelLanes] = {}, u[S::kPoints][kKernelLanes];
            for (int64_t l = 0; l < lanes; ++l) {
                const auto [other, a, b] = k.split(v0 + l);
                const int64_t o = for_input_gradient ? other : row, c = for_input_gradient ? row : other;
                const T* kernel = w + (o * C + c) * k.kh * k.kw;
                for (int i = 0; i < r; ++i)
                    for (int j = 0; j < r; ++j) {
                        const int64_t y = r * a + i, x = r * b + j;
                        if (y >= k.kh || x >= k.kw) continue;  // a tap of the zero padding of the pieces
                        const int64_t at = for_input_gradient ? (k.kh - 1 - y) * k.kw + (k.kw - 1 - x) : y * k.kw + x;
                        g[i * r + j][l] = static_cast<double>(kernel[at]);
                    }
            }
            kernel_transform<S>(u, g);
            for (int xi = 0; xi < S::kPoints; ++xi)
                for (int64_t l = 0; l < lanes; ++l) U[(xi * rows + row) * cols + v0 + l] = static_cast<T>(u[xi][l]);
        }
}

// --- the tiles ----------------------------------------------------------------------------------

// The geometry of one Winograd convolution: in (N, Cin, Hin, Win), zero padding (ph, pw), the
// kernel's pieces, out (N, Cout, Hout, Wout) with Hout = Hin + 2·ph − kh + 1, and the tiling of
// out in m×m blocks.
struct Tiling {
    int64_t Hin, Win, ph, pw, Hout, Wout;
    int64_t tiles_h, tiles_w;
    Pieces k;
};

// The transforms run on kLanes tiles at once, one per SIMD lane: a tile's α² values are
// gathered into lane l of α² batches, transformed in registers and stored as a row of
// kLanes consecutive columns of V or M, whose rows are `cols` (the chunk rounded up to whole
// batches) long. Lanes past the chunk's end hold zeros and their columns are never read back.
template <typename T>
using Batch = xsimd::batch<T>;
template <typename T>
constexpr int64_t kLanes = static_cast<int64_t>(Batch<T>::size);

// Where a chunk's tile lies: sample n and the top-left corner (y0, x0) of its block in out.
struct TileAt {
    int64_t n = 0, y0 = 0, x0 = 0;
    bool valid = false;  // false: a lane past the chunk's end
};
constexpr int64_t kMaxChunk = 256;  // tiles per chunk, at most
// at[k] for k < cols (count rounded up to whole batches), of tiles first + k.
template <typename S>
void locate(TileAt* at, const Tiling& s, int64_t first, int64_t count, int64_t cols) {
    const int64_t per_sample = s.tiles_h * s.tiles_w;
    for (int64_t k = 0; k < cols; ++k) {
        const int64_t t = first + k, r = t % per_sample;
        at[k] =
            k < count ? TileAt{t / per_sample, (r / s.tiles_w) * S::kOut, (r % s.tiles_w) * S::kOut, true} : TileAt{};
    }
}

// The transformed planes V_ξ, M_ξ of a chunk lie `plane_stride` apart: a plane plus one cache
// line, so that the α² streams a transform writes (or reads) do not all map to the same cache
// sets, as planes a multiple of 4 KiB apart would.
constexpr int64_t plane_stride(int64_t rows, int64_t cols) { return rows * cols + 16; }

// Tiles are gathered a block at a time into a scratch of kBlock tiles (lane-major, as batches
// load them) before any of them is transformed: the batches then load values stored long
// before, not ones a few scalar stores ago, which a CPU cannot forward into a wide load.
constexpr int64_t kBlock = 64;

// d[e][k] for e < α²: tile k's α×α window at (y0 + dy, x0 + dx) of its sample's plane (src:
// sample 0's, samples `sample_stride` apart), zeros outside the plane and past the chunk's end.
template <typename S, typename T>
void gather_inputs(T (*d)[kBlock], const T* src, int64_t sample_stride, const Tiling& s, int64_t dy, int64_t dx,
                   const TileAt* at, int64_t tiles) {
    constexpr int a = S::kTile;
    for (int64_t k = 0; k < tiles; ++k) {
        const int64_t y0 = at[k].y0 + dy, x0 = at[k].x0 + dx;
        if (at[k].valid && y0 >= 0 && x0 >= 0 && y0 + a <= s.Hin && x0 + a <= s.Win) {
            const T* p = src + at[k].n * sample_stride + y0 * s.Win + x0;
            for (int i = 0; i < a; ++i)
                for (int j = 0; j < a; ++j) d[i * a + j][k] = p[i * s.Win + j];
            continue;
        }
        // At an edge: zeros, then the part of the window inside the plane.
        for (int e = 0; e < S::kPoints; ++e) d[e][k] = T(0);
        if (!at[k].valid) continue;
        const int64_t i0 = std::max<int64_t>(0, -y0), i1 = std::min<int64_t>(a, s.Hin - y0);
        const int64_t j0 = std::max<int64_t>(0, -x0), j1 = std::min<int64_t>(a, s.Win - x0);
        const int64_t corner = at[k].n * sample_stride + y0 * s.Win + x0;  // may lie before the plane
        for (int64_t i = i0; i < i1; ++i)
            for (int64_t j = j0; j < j1; ++j) d[i * a + j][k] = src[corner + i * s.Win + j];
    }
}

#if XSIMD_WITH_AVX
// gather_inputs for float with AVX: each tile's window row by row as one 8-float load and
// store (a tile-major scratch, α rows of 8), then 8 tiles at a time turned to one tile per lane
// by 8×8 transposes (simd.hpp): for F(4×4, 3×3), 12 wide moves and 18 shuffles a tile instead of
// 36 scalar stores. A window that reaches past the plane is read with masked loads.
template <typename S>
requires(S::kTile <= 8) void gather_inputs(float (*d)[kBlock], const float* src, int64_t sample_stride, const Tiling& s,
                                           int64_t dy, int64_t dx, const TileAt* at, int64_t tiles) {
    constexpr int a = S::kTile;
    alignas(64) float rows[kBlock][a][8];
    for (int64_t k = 0; k < tiles; ++k) {
        const int64_t y0 = at[k].y0 + dy, x0 = at[k].x0 + dx;
        if (at[k].valid && y0 >= 0 && x0 >= 0 && y0 + a <= s.Hin && x0 + 8 <= s.Win) {
            const float* p = src + at[k].n * sample_stride + y0 * s.Win + x0;
            for (int i = 0; i < a; ++i) _mm256_store_ps(rows[k][i], _mm256_loadu_ps(p + i * s.Win));
            continue;
        }
        // At an edge: each row inside the plane by a masked load of its columns inside it (the
        // masked-off lanes read nothing), zeros elsewhere.
        const int64_t j0 = std::max<int64_t>(0, -x0), j1 = std::min<int64_t>(a, s.Win - x0);
        const __m256 column = _mm256_setr_ps(0, 1, 2, 3, 4, 5, 6, 7);
        const __m256 mask = _mm256_and_ps(_mm256_cmp_ps(column, _mm256_set1_ps(float(j0)), _CMP_GE_OQ),
                                          _mm256_cmp_ps(column, _mm256_set1_ps(float(j1)), _CMP_LT_OQ));
        const int64_t corner = at[k].n * sample_stride + y0 * s.Win + x0;  // may lie before the plane
        for (int i = 0; i < a; ++i) {
            const bool inside = at[k].valid && j1 > j0 && y0 + i >= 0 && y0 + i < s.Hin;
            const __m256 row =
                inside ? _mm256_maskload_ps(src + corner + i * s.Win, _mm256_castps_si256(mask)) : _mm256_setzero_ps();
            _mm256_store_ps(rows[k][i], row);
        }
    }
    for (int64_t k = 0; k < tiles; k += 8)
        for (int i = 0; i < a; ++i) simd::transpose_8x8(&d[i * a][k], kBlock, a, rows[k][i], a * 8);
}
#endif

// V[ξ][v][k] = (Bᵀ d B)[ξ] for the chunk's tiles k and every virtual channel v = (c, a, b), where
// d is the α×α window of `in`'s channel c at (y0 − ph + ra, x0 − pw + rb) of its tile, zeros
// outside `in`. Channel by channel, the tiles in order: each plane of `in` is read, and each row
// of V written, front to back.
template <typename S, typename T>
void input_transform(T* V, int64_t cols, const T* in, int64_t Cin, const Tiling& s, const TileAt* tiles) {
    constexpr int a = S::kTile;
    const int64_t plane = s.Hin * s.Win, rows = Cin * s.k.count(), stride = plane_stride(rows, cols);
    alignas(64) T d[S::kPoints][kBlock];
    for (int64_t v = 0; v < rows; ++v) {
        const auto [c, piece_y, piece_x] = s.k.split(v);
        for (int64_t k0 = 0; k0 < cols; k0 += kBlock) {
            const int64_t block = std::min(kBlock, cols - k0);
            gather_inputs<S>(d, in + c * plane, Cin * plane, s, S::kKernel * piece_y - s.ph,
                             S::kKernel * piece_x - s.pw, tiles + k0, block);
            for (int64_t k = 0; k < block; k += kLanes<T>) {
                // d B row by row, then Bᵀ (d B) column by column, straight into V: 2α batches
                // live at a time, where all α² at once would not fit in the registers.
                Batch<T> dB[S::kPoints];
                for (int i = 0; i < a; ++i) {
                    Batch<T> row[a];
                    for (int j = 0; j < a; ++j) row[j] = Batch<T>::load_aligned(&d[i * a + j][k]);
                    S::input(dB + i * a, row, 1);
                }
                for (int j = 0; j < a; ++j) {
                    Batch<T> column[a], out[a];
                    for (int i = 0; i < a; ++i) column[i] = dB[i * a + j];
                    S::input(out, column, 1);
                    for (int i = 0; i < a; ++i) out[i].store_unaligned(V + (i * a + j) * stride + v * cols + k0 + k);
                }
            }
        }
    }
}

// Lane l's m×m block y[mi + j][l] + b into its place in `out` (channel o's plane of sample 0,
// samples `sample_stride` apart), clipped at the edges, added to what is there with `accumulate`.
template <typename S, typename T>
void scatter_outputs(T* out, int64_t sample_stride, const Tiling& s, const TileAt* at, const T (*y)[kLanes<T>], T b,
                     bool accumulate) {
    constexpr int m = S::kOut;
    for (int64_t l = 0; l < kLanes<T> && at[l].valid; ++l) {
        const int64_t rows = std::min<int64_t>(m, s.Hout - at[l].y0);
        const int64_t width = std::min<int64_t>(m, s.Wout - at[l].x0);
        T* dst = out + at[l].n * sample_stride + at[l].y0 * s.Wout + at[l].x0;
        for (int64_t i = 0; i < rows; ++i)
            for (int64_t j = 0; j < width; ++j) {
                const T v = y[i * m + j][l] + b;
                dst[i * s.Wout + j] = accumulate ? dst[i * s.Wout + j] + v : v;
            }
    }
}

#if XSIMD_WITH_AVX
// scatter_outputs for float with AVX and 4×4 blocks: the lanes turned back into one block per
// tile by 8×8 transposes, then each whole row of a block stored as one 4-float vector.
template <typename S>
requires(S::kOut == 4) void scatter_outputs(float* out, int64_t sample_stride, const Tiling& s, const TileAt* at,
                                            const float (*y)[kLanes<float>], float b, bool accumulate) {
    constexpr int m = 4;
    alignas(64) float block[kLanes<float>][m * m];  // tile-major
    for (int64_t h = 0; h < kLanes<float>; h += 8)
        for (int e0 = 0; e0 < m * m; e0 += 8) simd::transpose_8x8(&block[h][e0], m * m, 8, &y[e0][h], kLanes<float>);
    const __m128 bias = _mm_set1_ps(b);
    for (int64_t l = 0; l < kLanes<float> && at[l].valid; ++l) {
        const int64_t rows = std::min<int64_t>(m, s.Hout - at[l].y0);
        const int64_t width = std::min<int64_t>(m, s.Wout - at[l].x0);
        float* dst = out + at[l].n * sample_stride + at[l].y0 * s.Wout + at[l].x0;
        for (int64_t i = 0; i < rows; ++i) {
            float* d = dst + i * s.Wout;
            if (width == m) {
                __m128 v = _mm_add_ps(_mm_load_ps(&block[l][i * m]), bias);
                if (accumulate) v = _mm_add_ps(_mm_loadu_ps(d), v);
                _mm_storeu_ps(d, v);
                continue;
            }
            for (int64_t j = 0; j < width; ++j)
                d[j] = accumulate ? d[j] + (block[l][i * m + j] + b) : block[l][i * m + j] + b;
        }
    }
}
#endif

// out's m×m block of each tile (clipped at the edges) = (Aᵀ M A) + bias[o], M[ξ] = M[ξ][o][k];
// added to out with `accumulate`.
template <typename S, typename T>
void output_transform(T* out, const T* M, int64_t cols, const T* bias, int64_t Cout, const Tiling& s,
                      const TileAt* tiles, bool accumulate) {
    constexpr int a = S::kTile, m = S::kOut;
    const int64_t plane = s.Hout * s.Wout, stride = plane_stride(Cout, cols);
    for (int64_t o = 0; o < Cout; ++o) {
        const T b = bias ? bias[o] : T(0);
        for (int64_t k = 0; k < cols; k += kLanes<T>) {
            const TileAt* at = tiles + k;
            // M A row by row (α × m), then Aᵀ (M A) column by column, as input_transform does.
            Batch<T> mA[a * m];
            for (int i = 0; i < a; ++i) {
                Batch<T> row[a];
                for (int j = 0; j < a; ++j) row[j] = Batch<T>::load_unaligned(M + (i * a + j) * stride + o * cols + k);
                S::output(mA + i * m, 1, row, 1);
            }
            alignas(64) T y[m * m][kLanes<T>];  // y[e][l]: value e of lane l's block
            for (int j = 0; j < m; ++j) {
                Batch<T> column[a], result[m];
                for (int i = 0; i < a; ++i) column[i] = mA[i * m + j];
                S::output(result, 1, column, 1);
                for (int i = 0; i < m; ++i) result[i].store_aligned(y[i * m + j]);
            }
            scatter_outputs<S>(out + o * plane, Cout * plane, s, at, y, b, accumulate);
        }
    }
}

// d[e][k] for e < m²: tile k's m×m block of `src` (channel o's plane of sample 0, samples
// `sample_stride` apart), zeros past the plane's edges and past the chunk's end.
template <typename S, typename T>
void gather_outputs(T (*d)[kBlock], const T* src, int64_t sample_stride, const Tiling& s, const TileAt* at,
                    int64_t tiles) {
    constexpr int m = S::kOut;
    for (int64_t k = 0; k < tiles; ++k) {
        const int64_t rows = at[k].valid ? std::min<int64_t>(m, s.Hout - at[k].y0) : 0;
        const int64_t width = std::min<int64_t>(m, s.Wout - at[k].x0);
        const T* p = src + at[k].n * sample_stride + at[k].y0 * s.Wout + at[k].x0;
        for (int64_t i = 0; i < m; ++i)
            for (int64_t j = 0; j < m; ++j) d[i * m + j][k] = i < rows && j < width ? p[i * s.Wout + j] : T(0);
    }
}

#if XSIMD_WITH_AVX
// gather_outputs for float with AVX and 4×4 blocks, as gather_inputs: whole block rows as
// 4-float loads into a tile-major scratch, then 8×8 transposes into lanes.
template <typename S>
requires(S::kOut == 4) void gather_outputs(float (*d)[kBlock], const float* src, int64_t sample_stride, const Tiling& s,
                                           const TileAt* at, int64_t tiles) {
    constexpr int m = 4;
    alignas(64) float blocks[kBlock][m * m];
    for (int64_t k = 0; k < tiles; ++k) {
        const int64_t rows = at[k].valid ? std::min<int64_t>(m, s.Hout - at[k].y0) : 0;
        const int64_t width = std::min<int64_t>(m, s.Wout - at[k].x0);
        const float* p = src + at[k].n * sample_stride + at[k].y0 * s.Wout + at[k].x0;
        for (int64_t i = 0; i < m; ++i) {
            if (i < rows && width == m) {
                _mm_store_ps(&blocks[k][i * m], _mm_loadu_ps(p + i * s.Wout));
                continue;
            }
            for (int64_t j = 0; j < m; ++j) blocks[k][i * m + j] = i < rows && j < width ? p[i * s.Wout + j] : 0.0f;
        }
    }
    for (int64_t k = 0; k < tiles; k += 8)
        for (int e0 = 0; e0 < m * m; e0 += 8) simd::transpose_8x8(&d[e0][k], kBlock, 8, &blocks[k][e0], m * m);
}
#endif

// dM[ξ][o][k] = (A dY Aᵀ)[ξ] for each tile's m×m block dY of dy (zeros past the edges),
// gathered a block at a time as input_transform does.
template <typename S, typename T>
void output_adjoint_transform(T* dM, int64_t cols, const T* dy, int64_t Cout, const Tiling& s, const TileAt* tiles) {
    constexpr int a = S::kTile, m = S::kOut;
    const int64_t plane = s.Hout * s.Wout, stride = plane_stride(Cout, cols);
    alignas(64) T d[m * m][kBlock];
    for (int64_t o = 0; o < Cout; ++o)
        for (int64_t k0 = 0; k0 < cols; k0 += kBlock) {
            const int64_t block = std::min(kBlock, cols - k0);
            gather_outputs<S>(d, dy + o * plane, Cout * plane, s, tiles + k0, block);
            for (int64_t k = 0; k < block; k += kLanes<T>) {
                Batch<T> y[m * m], tmp[a * m], dm[S::kPoints];
                for (int e = 0; e < m * m; ++e) y[e] = Batch<T>::load_aligned(&d[e][k]);
                for (int j = 0; j < m; ++j) S::output_adjoint(tmp + j, m, y + j, m);           // A dY: (α, m)
                for (int i = 0; i < a; ++i) S::output_adjoint(dm + i * a, 1, tmp + i * m, 1);  // (A dY) Aᵀ
                for (int xi = 0; xi < S::kPoints; ++xi) dm[xi].store_unaligned(dM + xi * stride + o * cols + k0 + k);
            }
        }
}

// count rounded up to whole batches: the chunk's columns in V and M.
template <typename T>
int64_t whole_batches(int64_t count) {
    return (count + kLanes<T> - 1) / kLanes<T> * kLanes<T>;
}

// Elements of the α² planes of `rows` × `cols`, each plane_stride apart.
template <typename S>
constexpr int64_t transformed_size(int64_t rows, int64_t cols) {
    return S::kPoints * plane_stride(rows, cols);
}

// --- the plans ----------------------------------------------------------------------------------

constexpr const char* kWorkspace = "conv2d (Winograd): workspace";
// Tiles per chunk: enough columns for the GEMMs to run at speed, few enough that a chunk's
// transformed input and output (α²·(Cin + Cout) values a tile) stay near the core's cache.
constexpr int64_t kChunkValues = int64_t(1) << 18;
constexpr int64_t kMinChunk = 64;

template <typename S>
Tiling tiling_of(const Window2d& g, bool input_gradient) {
    constexpr int64_t m = S::kOut;
    const Pieces k = pieces_of<S>(g.kh, g.kw);
    if (!input_gradient) return {g.H, g.W, g.ph, g.pw, g.OH, g.OW, (g.OH + m - 1) / m, (g.OW + m - 1) / m, k};
    // dx = conv(dy, w turned), dy padded by k − 1 − p: out is (H, W).
    return {g.OH, g.OW, g.kh - 1 - g.ph, g.kw - 1 - g.pw, g.H, g.W, (g.H + m - 1) / m, (g.W + m - 1) / m, k};
}

// Per thread, `per_tile` values a tile (α²·(Cin·pieces + Cout)), the planes' padding and `fixed`
// more; plus `shared` for everyone.
template <typename S>
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
    const int64_t padding = 2 * transformed_size<S>(0, 0);
    const int64_t per_thread = checked_add(checked_mul(per_tile, plan.chunk, kWorkspace), fixed + padding, kWorkspace);
    plan.workspace = checked_add(shared, checked_mul(per_thread, plan.threads, kWorkspace), kWorkspace);
    return plan;
}

// The plan of a pass from Cin to Cout channels with `pieces` pieces a kernel: per thread V
// (α²·Cin·pieces a tile), M (α²·Cout) and `fixed` more; `shared` for everyone.
template <typename S>
WinogradPlan plan_pass(int64_t N, const Tiling& s, int64_t Cin, int64_t Cout, int64_t fixed, int64_t shared) {
    const int64_t rows = checked_mul(Cin, s.k.count(), kWorkspace);
    return make_plan<S>(N, s, checked_mul(S::kPoints, checked_add(rows, Cout, kWorkspace), kWorkspace), fixed, shared,
                        saturating_mul(S::kPoints, saturating_mul(rows, Cout)));
}

// The transformed weights U (α², Cout, Cin·pieces) that a pass keeps, shared by its threads.
template <typename S>
int64_t transformed_weights(int64_t O, int64_t C, const Pieces& k) {
    return checked_mul(S::kPoints, checked_mul(O, checked_mul(C, k.count(), kWorkspace), kWorkspace), kWorkspace);
}

// --- the products -------------------------------------------------------------------------------
// M_ξ = U_ξ·V_ξ for each of the α² points. With few virtual channels (K ≤ kSmallK multiply-adds
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

// The forward of in (Cin channels) → out (Cout channels) given U (α², Cout, Cin·pieces): per
// chunk, V = input transform, M_ξ = U_ξ·V_ξ (α² GEMMs of (Cout, Cin·pieces)·(Cin·pieces, cols)),
// output transform. `work` holds, per thread, V then M.
template <typename S, typename T>
void winograd_convolve(T* out, const T* in, const T* U, const T* bias, int64_t Cin, int64_t Cout, const Tiling& s,
                       const WinogradPlan& plan, T* work, bool accumulate) {
    const int64_t rows = Cin * s.k.count();  // V's: virtual channels
    const int64_t chunks = (plan.tiles + plan.chunk - 1) / plan.chunk;
    const int64_t per_thread = transformed_size<S>(rows, plan.chunk) + transformed_size<S>(Cout, plan.chunk);
#pragma omp parallel for schedule(static) num_threads(plan.threads) if (plan.threads > 1)
    for (int64_t q = 0; q < chunks; ++q) {
        const int64_t first = q * plan.chunk, count = std::min(plan.chunk, plan.tiles - first);
        const int64_t cols = whole_batches<T>(count);
        TileAt tiles[kMaxChunk];
        locate<S>(tiles, s, first, count, cols);
        T* V = work + per_thread * omp_get_thread_num();
        T* M = V + transformed_size<S>(rows, cols);
        const int64_t v_stride = plane_stride(rows, cols), m_stride = plane_stride(Cout, cols);
        input_transform<S>(V, cols, in, Cin, s, tiles);
        for (int xi = 0; xi < S::kPoints; ++xi)
            point_product(M + xi * m_stride, U + xi * Cout * rows, V + xi * v_stride, Cout, cols, rows);
        output_transform<S>(out, M, cols, bias, Cout, s, tiles, accumulate);
    }
}

// dw (+)= the weight gradient: per chunk, V = the input transform of x and dM = the adjoint of
// the output transform of dy; dU_ξ += dM_ξ·V_ξᵀ into the thread's partial; then the partials
// summed in thread order and each piece of dw turned back by Gᵀ dU G.
template <typename S, typename T>
void winograd_weight_gradient(T* dw, const T* dy, const T* x, int64_t C, int64_t O, const Tiling& s,
                              const WinogradPlan& plan, T* workspace, bool accumulate) {
    constexpr int r = S::kKernel;
    const Pieces& k = s.k;
    const int64_t rows = C * k.count();  // virtual channels
    const int64_t chunks = (plan.tiles + plan.chunk - 1) / plan.chunk;
    const int64_t dU_size = S::kPoints * O * rows;
    const int64_t per_thread = transformed_size<S>(rows, plan.chunk) + transformed_size<S>(O, plan.chunk) + dU_size;
    const int threads = plan.threads;
    for (int t = 0; t < threads; ++t) std::fill_n(workspace + per_thread * t, dU_size, T(0));
#pragma omp parallel for schedule(static) num_threads(threads) if (threads > 1)
    for (int64_t q = 0; q < chunks; ++q) {
        const int64_t first = q * plan.chunk, count = std::min(plan.chunk, plan.tiles - first);
        const int64_t cols = whole_batches<T>(count);
        TileAt tiles[kMaxChunk];
        locate<S>(tiles, s, first, count, cols);
        T* dU = workspace + per_thread * omp_get_thread_num();
        T* V = dU + dU_size;
        T* dM = V + transformed_size<S>(rows, cols);
        const int64_t v_stride = plane_stride(rows, cols), m_stride = plane_stride(O, cols);
        input_transform<S>(V, cols, x, C, s, tiles);
        output_adjoint_transform<S>(dM, cols, dy, O, s, tiles);
        // dU_ξ (O, rows) += dM_ξ (O, cols) · V_ξᵀ (cols, rows); the columns past `count` are zeros.
        for (int xi = 0; xi < S::kPoints; ++xi)
            gemm<T>(false, true, O, rows, cols, T(1), dM + xi * m_stride, V + xi * v_stride, T(1), dU + xi * O * rows);
    }
    // The partials in thread order, then each piece of dw[o][c] = Gᵀ dU G, in double; a block of
    // virtual channels at a time, so that the α² values of each piece (O·rows apart) are read as
    // α² runs, not α² misses.
    constexpr int64_t kChannels = 64;
    static_assert(kChannels % kKernelLanes == 0);
    // Each o sums and writes its own kernels: split over the threads, the same values.
    const int last_threads =
        parallel_threads(Work::multiply_adds, saturating_mul(O * rows, kKernelTransformCost<S>), O);
#pragma omp parallel for schedule(static) num_threads(last_threads) if (last_threads > 1)
    for (int64_t o = 0; o < O; ++o)
        for (int64_t v0 = 0; v0 < rows; v0 += kChannels) {
            const int64_t block = std::min(kChannels, rows - v0);
            double u[S::kPoints][kChannels];
            for (int xi = 0; xi < S::kPoints; ++xi)
                for (int64_t v = 0; v < block; ++v) {
                    double sum = 0.0;
                    for (int t = 0; t < threads; ++t)
                        sum += static_cast<double>(workspace[per_thread * t + (xi * O + o) * rows + v0 + v]);
                    u[xi][v] = sum;
                }
            for (int xi = 0; xi < S::kPoints;
                 ++xi)  // the last batch's lanes past the block (kChannels is whole batches)
                for (int64_t v = block; v % kKernelLanes != 0; ++v) u[xi][v] = 0.0;
            for (int64_t l0 = 0; l0 < block; l0 += kKernelLanes) {
                alignas(64) double gk[S::kTaps][kKernelLanes];
                kernel_adjoint_transform<S>(gk, &u[0][l0], kChannels);
                for (int64_t l = 0; l < std::min(kKernelLanes, block - l0); ++l) {
                    const auto [c, py, px] = k.split(v0 + l0 + l);
                    T* kernel = dw + (o * C + c) * k.kh * k.kw;
                    for (int i = 0; i < r; ++i)
                        for (int j = 0; j < r; ++j) {
                            const int64_t y = r * py + i, x = r * px + j;
                            if (y >= k.kh || x >= k.kw) continue;  // a tap of the zero padding of the pieces
                            T& d = kernel[y * k.kw + x];
                            d = static_cast<T>((accumulate ? static_cast<double>(d) : 0.0) + gk[i * r + j][l]);
                        }
                }
            }
        }
}

}  // namespace

bool winograd_applies(int64_t C, int64_t O, const Window2d& g) {
    return g.kh >= 3 && g.kh <= kMaxKernel && g.kw >= 3 && g.kw <= kMaxKernel && g.sh == 1 && g.sw == 1 &&
           g.dil_h == 1 && g.dil_w == 1 && g.ph < g.kh && g.pw < g.kw && g.OH > 0 && g.OW > 0 && C >= kMinChannels &&
           O >= kMinChannels;
}

WinogradPlan winograd_forward_plan(int64_t N, int64_t C, int64_t O, const Window2d& g) {
    return with_scheme(g, [&]<typename S>(S) {
        const Tiling s = tiling_of<S>(g, false);
        return plan_pass<S>(N, s, C, O, 0, transformed_weights<S>(O, C, s.k));
    });
}

WinogradPlan winograd_backward_data_plan(int64_t N, int64_t C, int64_t O, const Window2d& g) {
    return with_scheme(g, [&]<typename S>(S) {
        const Tiling s = tiling_of<S>(g, true);
        return plan_pass<S>(N, s, O, C, 0, transformed_weights<S>(C, O, s.k));
    });
}

// Per thread: V (α²·C·pieces·chunk), dM (α²·O·chunk) and a dU partial (α²·O·C·pieces).
WinogradPlan winograd_backward_weight_plan(int64_t N, int64_t C, int64_t O, const Window2d& g) {
    return with_scheme(g, [&]<typename S>(S) {
        const Tiling s = tiling_of<S>(g, false);
        return plan_pass<S>(N, s, C, O, transformed_weights<S>(O, C, s.k), 0);
    });
}

template <typename T>
void conv2d_winograd_forward(T* y, const T* x, const T* w, const T* b, int64_t N, int64_t C, int64_t O,
                             const Window2d& g, const WinogradPlan& plan, T* workspace) {
    (void)N;
    with_scheme(g, [&]<typename S>(S) {
        const Tiling s = tiling_of<S>(g, false);
        T* U = workspace;  // (α², O, C·pieces)
        transform_weights<S>(U, w, O, C, s.k, /*for_input_gradient=*/false);
        winograd_convolve<S>(y, x, U, b, C, O, s, plan, U + transformed_weights<S>(O, C, s.k), /*accumulate=*/false);
    });
}

template <typename T>
void conv2d_winograd_backward_data(T* dx, const T* dy, const T* w, int64_t N, int64_t C, int64_t O, const Window2d& g,
                                   const WinogradPlan& plan, T* workspace, bool accumulate) {
    (void)N;
    with_scheme(g, [&]<typename S>(S) {
        const Tiling s = tiling_of<S>(g, true);
        T* U = workspace;  // (α², C, O·pieces)
        transform_weights<S>(U, w, O, C, s.k, /*for_input_gradient=*/true);
        winograd_convolve<S>(dx, dy, U, static_cast<const T*>(nullptr), O, C, s, plan,
                             U + transformed_weights<S>(C, O, s.k), accumulate);
    });
}

template <typename T>
void conv2d_winograd_backward_weight(T* dw, const T* dy, const T* x, int64_t N, int64_t C, int64_t O, const Window2d& g,
                                     const WinogradPlan& plan, T* workspace, bool accumulate) {
    (void)N;
    with_scheme(g, [&]<typename S>(S) {
        winograd_weight_gradient<S>(dw, dy, x, C, O, tiling_of<S>(g, false), plan, workspace, accumulate);
    });
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
