// Pooling kernels; see pooling.hpp. OpenMP over the NC planes, which are independent in
// both directions (the backward of overlapping windows adds within one plane, one thread).
// Sums are accumulated in double.
//
// The 2×2 kernels run along each pair of input rows on xsimd batches: a batch of outputs
// reads two batches of each row, split into even and odd columns, and the backward writes
// them back interleaved, so every window is lane-wise arithmetic and selects. The splits, and
// the byte codes of `which`, are intrinsics at each x86 width (xsimd 8.1 has no two-batch
// shuffle, its zip_lo/zip_hi stay within 128-bit lanes, and its conversions to and from bytes
// go through a buffer on the stack). A row's last outputs, fewer than a batch, are masked
// vector operations with AVX-512 (the reference CNN's rows, 14 and 7 outputs, are all tail
// with 16 float lanes) and scalar elsewhere, by the same rule.
#include "framework/kernels/pooling.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
#include <utility>

#include "framework/core/parallel.hpp"
#include "framework/kernels/simd.hpp"

// Masked tails need AVX-512 BW and VL (byte and 256-bit masked moves).
#if XSIMD_WITH_AVX512BW && defined(__AVX512VL__)
#define TAPEGRAD_POOL_MASKED_TAILS 1
#else
#define TAPEGRAD_POOL_MASKED_TAILS 0
#endif

namespace tapegrad::kernels {

namespace {

// visit(p) for every plane p, in parallel when `elements` (touched per plane) times NC is
// worth it.
template <typename Visit>
void for_each_plane(int64_t NC, int64_t elements, Visit&& visit) {
#pragma omp parallel for schedule(static) if (worth_parallel(Work::elements, NC * elements, NC))
    for (int64_t p = 0; p < NC; ++p) visit(p);
}

// Adaptive window bounds, as PyTorch's start_index / end_index.
constexpr int64_t window_start(int64_t a, int64_t out, int64_t in) { return (a * in) / out; }
constexpr int64_t window_end(int64_t a, int64_t out, int64_t in) { return ((a + 1) * in + out - 1) / out; }

// The clipped input window [h0, h1) × [w0, w1) that one output position reads.
struct Bounds {
    int64_t h0, h1, w0, w1;
};

Bounds sliding_window(const Window2d& g, int64_t oh, int64_t ow) {
    return {std::max<int64_t>(oh * g.sh - g.ph, 0), std::min(oh * g.sh - g.ph + g.kh, g.H),
            std::max<int64_t>(ow * g.sw - g.pw, 0), std::min(ow * g.sw - g.pw + g.kw, g.W)};
}

Bounds adaptive_window(int64_t a, int64_t b, int64_t H, int64_t W, int64_t OH, int64_t OW) {
    return {window_start(a, OH, H), window_end(a, OH, H), window_start(b, OW, W), window_end(b, OW, W)};
}

// visit(p, o, bounds) for every plane p and output position o = oh·OW + ow, in parallel over
// the planes as for_each_plane. (Written out rather than through for_each_plane: GCC then
// keeps adaptive_avg_pool2d_forward's `omp simd` sums in registers at -march=x86-64.)
template <typename BoundsOf, typename Visit>
void for_each_window(int64_t NC, int64_t OH, int64_t OW, int64_t elements, BoundsOf&& bounds_of, Visit&& visit) {
#pragma omp parallel for schedule(static) if (worth_parallel(Work::elements, NC * elements, NC))
    for (int64_t p = 0; p < NC; ++p)
        for (int64_t oh = 0; oh < OH; ++oh)
            for (int64_t ow = 0; ow < OW; ++ow) visit(p, oh * OW + ow, bounds_of(oh, ow));
}

// --- 2×2 windows ------------------------------------------------------------------------

template <typename T>
using Batch = xsimd::batch<T>;
template <typename T>
constexpr int64_t kLanes = static_cast<int64_t>(Batch<T>::size);
using simd::DoubleBatch;
constexpr int64_t kDoubleLanes = simd::kDoubleLanes;

// Lane shuffles and byte codes, per instruction set:
//   deinterleave(lo, hi, even, odd): the 2·L values lo:hi split into even and odd positions,
//     each in order (columns 2i and 2i + 1 of L windows);
//   interleave(even, odd, lo, hi): the inverse;
//   store_codes(p, code) / load_codes<T>(p): L codes 0–4 held as T, to and from L bytes.
#if XSIMD_WITH_AVX512F

// Both directions are a pair of two-source permutes, r = (a:b)[index[i]] for lane i.
enum class Pairing { deinterleave, interleave };
template <Pairing P>
inline void permute_pair(const Batch<float>& a, const Batch<float>& b, Batch<float>& r0, Batch<float>& r1) {
    constexpr bool de = P == Pairing::deinterleave;
    r0 = _mm512_permutex2var_ps(a,
                                de ? _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30)
                                   : _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23),
                                b);
    r1 = _mm512_permutex2var_ps(a,
                                de ? _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31)
                                   : _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31),
                                b);
}
template <Pairing P>
inline void permute_pair(const Batch<double>& a, const Batch<double>& b, Batch<double>& r0, Batch<double>& r1) {
    constexpr bool de = P == Pairing::deinterleave;
    r0 = _mm512_permutex2var_pd(
        a, de ? _mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14) : _mm512_setr_epi64(0, 8, 1, 9, 2, 10, 3, 11), b);
    r1 = _mm512_permutex2var_pd(
        a, de ? _mm512_setr_epi64(1, 3, 5, 7, 9, 11, 13, 15) : _mm512_setr_epi64(4, 12, 5, 13, 6, 14, 7, 15), b);
}
template <typename T> inline void deinterleave(const Batch<T>& lo, const Batch<T>& hi, Batch<T>& even, Batch<T>& odd) {
    permute_pair<Pairing::deinterleave>(lo, hi, even, odd);
}
template <typename T> inline void interleave(const Batch<T>& even, const Batch<T>& odd, Batch<T>& lo, Batch<T>& hi) {
    permute_pair<Pairing::interleave>(even, odd, lo, hi);
}
inline void store_codes(uint8_t* p, const Batch<float>& code) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(p), _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(code)));
}
inline void store_codes(uint8_t* p, const Batch<double>& code) {
    _mm_storel_epi64(reinterpret_cast<__m128i*>(p),
                     _mm512_cvtepi32_epi8(_mm512_zextsi256_si512(_mm512_cvttpd_epi32(code))));
}
template <typename T>
Batch<T> load_codes(const uint8_t* p) {
    if constexpr (std::is_same_v<T, float>)
        return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))));
    else
        return _mm512_cvtepi32_pd(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
}

#elif XSIMD_WITH_AVX2

// In-lane shuffles, then 64-bit lanes put in order.
inline void deinterleave(const Batch<float>& lo, const Batch<float>& hi, Batch<float>& even, Batch<float>& odd) {
    even = _mm256_castpd_ps(
        _mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0))), 0xD8));
    odd = _mm256_castpd_ps(
        _mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(lo, hi, _MM_SHUFFLE(3, 1, 3, 1))), 0xD8));
}
inline void deinterleave(const Batch<double>& lo, const Batch<double>& hi, Batch<double>& even, Batch<double>& odd) {
    even = _mm256_permute4x64_pd(_mm256_unpacklo_pd(lo, hi), 0xD8);
    odd = _mm256_permute4x64_pd(_mm256_unpackhi_pd(lo, hi), 0xD8);
}
inline void interleave(const Batch<float>& even, const Batch<float>& odd, Batch<float>& lo, Batch<float>& hi) {
    const __m256 a = _mm256_unpacklo_ps(even, odd), b = _mm256_unpackhi_ps(even, odd);
    lo = _mm256_permute2f128_ps(a, b, 0x20);
    hi = _mm256_permute2f128_ps(a, b, 0x31);
}
inline void interleave(const Batch<double>& even, const Batch<double>& odd, Batch<double>& lo, Batch<double>& hi) {
    const __m256d a = _mm256_unpacklo_pd(even, odd), b = _mm256_unpackhi_pd(even, odd);
    lo = _mm256_permute2f128_pd(a, b, 0x20);
    hi = _mm256_permute2f128_pd(a, b, 0x31);
}
inline void store_codes(uint8_t* p, const Batch<float>& code) {
    const __m256i i = _mm256_cvttps_epi32(code);
    const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(i), _mm256_extracti128_si256(i, 1));
    _mm_storel_epi64(reinterpret_cast<__m128i*>(p), _mm_packus_epi16(w, w));
}
inline void store_codes(uint8_t* p, const Batch<double>& code) {
    const __m128i w = _mm_packs_epi32(_mm256_cvttpd_epi32(code), _mm_setzero_si128());
    const int32_t bytes = _mm_cvtsi128_si32(_mm_packus_epi16(w, w));
    std::memcpy(p, &bytes, 4);
}
template <typename T>
Batch<T> load_codes(const uint8_t* p) {
    if constexpr (std::is_same_v<T, float>) {
        return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
    } else {
        int32_t bytes;
        std::memcpy(&bytes, p, 4);
        return _mm256_cvtepi32_pd(_mm_cvtepu8_epi32(_mm_cvtsi32_si128(bytes)));
    }
}

#elif XSIMD_WITH_SSE2 && !XSIMD_WITH_AVX

inline void deinterleave(const Batch<float>& lo, const Batch<float>& hi, Batch<float>& even, Batch<float>& odd) {
    even = _mm_shuffle_ps(lo, hi, _MM_SHUFFLE(2, 0, 2, 0));
    odd = _mm_shuffle_ps(lo, hi, _MM_SHUFFLE(3, 1, 3, 1));
}
inline void deinterleave(const Batch<double>& lo, const Batch<double>& hi, Batch<double>& even, Batch<double>& odd) {
    even = _mm_unpacklo_pd(lo, hi);
    odd = _mm_unpackhi_pd(lo, hi);
}
inline void interleave(const Batch<float>& even, const Batch<float>& odd, Batch<float>& lo, Batch<float>& hi) {
    lo = _mm_unpacklo_ps(even, odd);
    hi = _mm_unpackhi_ps(even, odd);
}
inline void interleave(const Batch<double>& even, const Batch<double>& odd, Batch<double>& lo, Batch<double>& hi) {
    lo = _mm_unpacklo_pd(even, odd);
    hi = _mm_unpackhi_pd(even, odd);
}
// The low `n` bytes of int32 lanes 0–3 holding 0–255.
inline void store_low_bytes(uint8_t* p, __m128i i, size_t n) {
    const __m128i w = _mm_packs_epi32(i, i);
    const int32_t bytes = _mm_cvtsi128_si32(_mm_packus_epi16(w, w));
    std::memcpy(p, &bytes, n);
}
inline void store_codes(uint8_t* p, const Batch<float>& code) { store_low_bytes(p, _mm_cvttps_epi32(code), 4); }
inline void store_codes(uint8_t* p, const Batch<double>& code) { store_low_bytes(p, _mm_cvttpd_epi32(code), 2); }
template <typename T>
Batch<T> load_codes(const uint8_t* p) {
    int32_t bytes = 0;
    std::memcpy(&bytes, p, kLanes<T>);
    const __m128i zero = _mm_setzero_si128();
    const __m128i i = _mm_unpacklo_epi16(_mm_unpacklo_epi8(_mm_cvtsi32_si128(bytes), zero), zero);
    if constexpr (std::is_same_v<T, float>)
        return _mm_cvtepi32_ps(i);
    else
        return _mm_cvtepi32_pd(i);
}

#else

// Other instruction sets (AVX without AVX2, non-x86) go through memory.
template <typename T>
void deinterleave(const Batch<T>& lo, const Batch<T>& hi, Batch<T>& even, Batch<T>& odd) {
    alignas(64) T in[2 * kLanes<T>], e[kLanes<T>], o[kLanes<T>];
    lo.store_unaligned(in);
    hi.store_unaligned(in + kLanes<T>);
    for (int64_t i = 0; i < kLanes<T>; ++i) e[i] = in[2 * i], o[i] = in[2 * i + 1];
    even = Batch<T>::load_unaligned(e);
    odd = Batch<T>::load_unaligned(o);
}
template <typename T>
void interleave(const Batch<T>& even, const Batch<T>& odd, Batch<T>& lo, Batch<T>& hi) {
    alignas(64) T out[2 * kLanes<T>], e[kLanes<T>], o[kLanes<T>];
    even.store_unaligned(e);
    odd.store_unaligned(o);
    for (int64_t i = 0; i < kLanes<T>; ++i) out[2 * i] = e[i], out[2 * i + 1] = o[i];
    lo = Batch<T>::load_unaligned(out);
    hi = Batch<T>::load_unaligned(out + kLanes<T>);
}
template <typename T>
void store_codes(uint8_t* p, const Batch<T>& code) {
    alignas(64) T c[kLanes<T>];
    code.store_unaligned(c);
    for (int64_t i = 0; i < kLanes<T>; ++i) p[i] = static_cast<uint8_t>(c[i]);
}
template <typename T>
Batch<T> load_codes(const uint8_t* p) {
    alignas(64) T c[kLanes<T>];
    for (int64_t i = 0; i < kLanes<T>; ++i) c[i] = static_cast<T>(p[i]);
    return Batch<T>::load_unaligned(c);
}

#endif

// How a chunk of a row is moved. Each access names how many of its lanes are in the row
// (`count`, possibly <= 0 or more than a batch); Whole moves whole batches, where count is
// always a batch or more, and Masked moves the first `count` lanes and reads 0 for the rest.
struct Whole {
    template <typename T> static Batch<T> load(const T* p, int64_t) { return Batch<T>::load_unaligned(p); }
    template <typename T> static void store(T* p, const Batch<T>& v, int64_t) { v.store_unaligned(p); }
    template <typename T> static DoubleBatch widen(const T* p, int64_t) { return simd::widen(p); }
    template <typename T> static void narrow(T* p, const DoubleBatch& v, int64_t) { simd::narrow_store(p, v); }
    template <typename T>
    static void store_codes(uint8_t* p, const Batch<T>& code, int64_t) {
        kernels::store_codes(p, code);
    }
    template <typename T> static Batch<T> load_codes(const uint8_t* p, int64_t) { return kernels::load_codes<T>(p); }
};

#if TAPEGRAD_POOL_MASKED_TAILS

struct Masked {
    static __mmask16 first16(int64_t count) {
        return static_cast<__mmask16>((1u << std::clamp<int64_t>(count, 0, 16)) - 1);
    }
    static __mmask8 first8(int64_t count) {
        return static_cast<__mmask8>((1u << std::clamp<int64_t>(count, 0, 8)) - 1);
    }

    static Batch<float> load(const float* p, int64_t count) { return _mm512_maskz_loadu_ps(first16(count), p); }
    static Batch<double> load(const double* p, int64_t count) { return _mm512_maskz_loadu_pd(first8(count), p); }
    static void store(float* p, const Batch<float>& v, int64_t count) { _mm512_mask_storeu_ps(p, first16(count), v); }
    static void store(double* p, const Batch<double>& v, int64_t count) { _mm512_mask_storeu_pd(p, first8(count), v); }
    static DoubleBatch widen(const float* p, int64_t count) {
        return _mm512_cvtps_pd(_mm256_maskz_loadu_ps(first8(count), p));
    }
    static DoubleBatch widen(const double* p, int64_t count) { return load(p, count); }
    static void narrow(float* p, const DoubleBatch& v, int64_t count) {
        _mm256_mask_storeu_ps(p, first8(count), _mm512_cvtpd_ps(v));
    }
    static void narrow(double* p, const DoubleBatch& v, int64_t count) { store(p, v, count); }
    static void store_codes(uint8_t* p, const Batch<float>& code, int64_t count) {
        _mm512_mask_cvtepi32_storeu_epi8(p, first16(count), _mm512_cvttps_epi32(code));
    }
    static void store_codes(uint8_t* p, const Batch<double>& code, int64_t count) {
        _mm256_mask_cvtepi32_storeu_epi8(p, first8(count), _mm512_cvttpd_epi32(code));
    }
    template <typename T>
    static Batch<T> load_codes(const uint8_t* p, int64_t count) {
        if constexpr (std::is_same_v<T, float>)
            return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(first16(count), p)));
        else
            return _mm512_cvtepi32_pd(_mm256_cvtepu8_epi32(_mm_maskz_loadu_epi8(first8(count), p)));
    }
};

#endif

// One rule for batches and for the scalar tails.
template <typename T> T pick(bool m, T a, T b) { return m ? a : b; }
template <typename T>
Batch<T> pick(const xsimd::batch_bool<T>& m, const Batch<T>& a, const Batch<T>& b) {
    return xsimd::select(m, a, b);
}
struct Everywhere {};  // a mask that holds in every lane
template <typename V> V pick(Everywhere, const V& a, const V&) { return a; }

// Whether v, later in the window, replaces the best so far: strictly greater keeps the first
// maximum on ties (−0 and +0 tie), and a NaN always replaces, so of several NaNs the last
// wins. max_pool2d_forward's rule; starting from the first element instead of −∞ changes
// nothing (−∞ there keeps its position).
template <typename V>
auto replaces(const V& v, const V& best) {
    return (v > best) | xsimd::isnan(v);
}

// The max of the window (a, b; c, d) and its position 0–3, as V.
template <typename V>
std::pair<V, V> window_max(const V& a, const V& b, const V& c, const V& d) {
    V best = a, code(0);
    const auto step = [&](const V& v, int position) {
        const auto m = replaces(v, best);
        best = pick(m, v, best);
        code = pick(m, V(position), code);
    };
    step(b, 1);
    step(c, 2);
    step(d, 3);
    return {best, code};
}

// avg_pool2d_forward's sum, in double: from 0.0 (which turns an all −0 window into +0), in
// window order, times 1/4 (exact).
template <typename V>
V window_mean(const V& a, const V& b, const V& c, const V& d) {
    return ((((V(0.0) + a) + b) + c) + d) * V(0.25);
}

// With Relu, the window's values first go through ReLU (v > 0 ? v : 0, the relu kernel's
// rule: a NaN becomes 0), and a window whose max is 0 gets code 4, which names no position:
// its input had no gradient through the ReLU, so the backward gives it none. Then
// max_pool2d_2x2_backward is the backward of the fused op as it is.
template <bool Relu, typename V>
V rectify(const V& v) {
    if constexpr (Relu)
        return pick(v > V(0), v, V(0));
    else
        return v;
}
template <bool Relu, typename V>
std::pair<V, V> rectified_window_max(const V& a, const V& b, const V& c, const V& d) {
    auto [best, code] = window_max(rectify<Relu>(a), rectify<Relu>(b), rectify<Relu>(c), rectify<Relu>(d));
    if constexpr (Relu) code = pick(best > V(0), code, V(4));
    return {best, code};
}

// Outputs [0, n) of one row from input rows r0, r1 (columns [0, 2n)). The chunks are forced
// inline: GCC 12 keeps them out of line, a call (and a vzeroupper) per batch of outputs.
template <bool Relu, typename T, typename Io>
[[gnu::always_inline]] inline void max_pool_chunk(T* y, uint8_t* which, const T* r0, const T* r1, int64_t n, Io io) {
    constexpr int64_t L = kLanes<T>;
    Batch<T> a, b, c, d;
    deinterleave(io.load(r0, 2 * n), io.load(r0 + L, 2 * n - L), a, b);
    deinterleave(io.load(r1, 2 * n), io.load(r1 + L, 2 * n - L), c, d);
    const auto [best, code] = rectified_window_max<Relu>(a, b, c, d);
    io.store(y, best, n);
    io.store_codes(which, code, n);
}

template <bool Relu, typename T>
void max_pool_row(T* y, uint8_t* which, const T* r0, const T* r1, int64_t OW) {
    constexpr int64_t L = kLanes<T>;
    int64_t ow = 0;
    for (; ow + L <= OW; ow += L) max_pool_chunk<Relu>(y + ow, which + ow, r0 + 2 * ow, r1 + 2 * ow, L, Whole{});
#if TAPEGRAD_POOL_MASKED_TAILS
    if (ow < OW) max_pool_chunk<Relu>(y + ow, which + ow, r0 + 2 * ow, r1 + 2 * ow, OW - ow, Masked{});
#else
    for (; ow < OW; ++ow) {
        const auto [best, code] = rectified_window_max<Relu>(r0[2 * ow], r0[2 * ow + 1], r1[2 * ow], r1[2 * ow + 1]);
        y[ow] = best;
        which[ow] = static_cast<uint8_t>(code);
    }
#endif
}

template <bool Relu, typename T>
void max_pool_2x2_planes(T* y, uint8_t* which, const T* x, int64_t NC, int64_t H, int64_t W) {
    const int64_t OH = H / 2, OW = W / 2, plane = H * W, out_plane = OH * OW;
    for_each_plane(NC, plane + out_plane, [&](int64_t p) {
        for (int64_t oh = 0; oh < OH; ++oh) {
            const T* r0 = x + p * plane + 2 * oh * W;
            const int64_t o = p * out_plane + oh * OW;
            max_pool_row<Relu>(y + o, which + o, r0, r0 + W, OW);
        }
    });
}

template <typename T, typename Io>
[[gnu::always_inline]] inline void avg_pool_chunk(T* y, const T* r0, const T* r1, int64_t n, Io io) {
    constexpr int64_t L = kDoubleLanes;
    DoubleBatch a, b, c, d;
    deinterleave(io.widen(r0, 2 * n), io.widen(r0 + L, 2 * n - L), a, b);
    deinterleave(io.widen(r1, 2 * n), io.widen(r1 + L, 2 * n - L), c, d);
    io.narrow(y, window_mean(a, b, c, d), n);
}

template <typename T>
void avg_pool_row(T* y, const T* r0, const T* r1, int64_t OW) {
    constexpr int64_t L = kDoubleLanes;
    int64_t ow = 0;
    for (; ow + L <= OW; ow += L) avg_pool_chunk(y + ow, r0 + 2 * ow, r1 + 2 * ow, L, Whole{});
#if TAPEGRAD_POOL_MASKED_TAILS
    if (ow < OW) avg_pool_chunk(y + ow, r0 + 2 * ow, r1 + 2 * ow, OW - ow, Masked{});
#else
    for (; ow < OW; ++ow) {
        const auto v = [](T e) { return static_cast<double>(e); };
        y[ow] = static_cast<T>(window_mean(v(r0[2 * ow]), v(r0[2 * ow + 1]), v(r1[2 * ow]), v(r1[2 * ow + 1])));
    }
#endif
}

// dx[0, count) = base + g where m holds and base elsewhere, base being dx (accumulate) or 0.
template <bool Accumulate, typename T, typename M, typename Io>
[[gnu::always_inline]] inline void add_where(T* dx, const M& m, const Batch<T>& g, int64_t count, Io io) {
    const Batch<T> base = Accumulate ? io.load(dx, count) : Batch<T>(T(0));
    io.store(dx, pick(m, base + g, base), count);
}

// The gradient of outputs [0, n) of one row into dx rows d0, d1 (columns [0, 2n)). `column`
// holds 0, 1, 0, 1, …: each dx lane's position in its window's top row (+ 2 below).
template <bool Accumulate, typename T, typename Io>
[[gnu::always_inline]] inline void max_pool_backward_chunk(T* d0, T* d1, const T* dy, const uint8_t* which, int64_t n,
                                                           const Batch<T>& column, Io io) {
    constexpr int64_t L = kLanes<T>;
    Batch<T> g_lo, g_hi, code_lo, code_hi;
    const Batch<T> g = io.load(dy, n), code = io.template load_codes<T>(which, n);
    interleave(g, g, g_lo, g_hi);
    interleave(code, code, code_lo, code_hi);
    const Batch<T> below = column + T(2);
    add_where<Accumulate>(d0, code_lo == column, g_lo, 2 * n, io);
    add_where<Accumulate>(d0 + L, code_hi == column, g_hi, 2 * n - L, io);
    add_where<Accumulate>(d1, code_lo == below, g_lo, 2 * n, io);
    add_where<Accumulate>(d1 + L, code_hi == below, g_hi, 2 * n - L, io);
}

template <bool Accumulate, typename T>
void max_pool_backward_row(T* d0, T* d1, const T* dy, const uint8_t* which, int64_t OW, const Batch<T>& column) {
    constexpr int64_t L = kLanes<T>;
    int64_t ow = 0;
    for (; ow + L <= OW; ow += L)
        max_pool_backward_chunk<Accumulate>(d0 + 2 * ow, d1 + 2 * ow, dy + ow, which + ow, L, column, Whole{});
#if TAPEGRAD_POOL_MASKED_TAILS
    if (ow < OW)
        max_pool_backward_chunk<Accumulate>(d0 + 2 * ow, d1 + 2 * ow, dy + ow, which + ow, OW - ow, column, Masked{});
#else
    for (; ow < OW; ++ow) {
        T* at[4] = {d0 + 2 * ow, d0 + 2 * ow + 1, d1 + 2 * ow, d1 + 2 * ow + 1};
        for (int k = 0; k < 4; ++k) {
            const T base = Accumulate ? *at[k] : T(0);
            *at[k] = pick(which[ow] == k, base + dy[ow], base);
        }
    }
#endif
}

template <bool Accumulate, typename T, typename Io>
[[gnu::always_inline]] inline void avg_pool_backward_chunk(T* d0, T* d1, const T* dy, int64_t n, Io io) {
    constexpr int64_t L = kLanes<T>;
    // T(dy / 4) in T: for float the same bits as the double product rounded (both are the
    // exact quotient correctly rounded; a quarter of a float never underflows a double).
    const Batch<T> g = io.load(dy, n) * T(0.25);
    Batch<T> lo, hi;
    interleave(g, g, lo, hi);
    add_where<Accumulate>(d0, Everywhere{}, lo, 2 * n, io);
    add_where<Accumulate>(d0 + L, Everywhere{}, hi, 2 * n - L, io);
    add_where<Accumulate>(d1, Everywhere{}, lo, 2 * n, io);
    add_where<Accumulate>(d1 + L, Everywhere{}, hi, 2 * n - L, io);
}

template <bool Accumulate, typename T>
void avg_pool_backward_row(T* d0, T* d1, const T* dy, int64_t OW) {
    constexpr int64_t L = kLanes<T>;
    int64_t ow = 0;
    for (; ow + L <= OW; ow += L) avg_pool_backward_chunk<Accumulate>(d0 + 2 * ow, d1 + 2 * ow, dy + ow, L, Whole{});
#if TAPEGRAD_POOL_MASKED_TAILS
    if (ow < OW) avg_pool_backward_chunk<Accumulate>(d0 + 2 * ow, d1 + 2 * ow, dy + ow, OW - ow, Masked{});
#else
    for (; ow < OW; ++ow) {
        const T g = dy[ow] * T(0.25);
        for (T* e : {d0 + 2 * ow, d0 + 2 * ow + 1, d1 + 2 * ow, d1 + 2 * ow + 1}) *e = (Accumulate ? *e : T(0)) + g;
    }
#endif
}

// The backward of a 2×2 kernel over every plane: row(d0, d1, o) writes the covered columns of
// input rows d0 = 2·oh and d1 = 2·oh + 1 from the output row that starts at o (in dy and
// which); without accumulation the rest of the plane (an odd last column and row) is set to 0
// here.
template <typename T, typename Row>
void for_each_row_pair(T* dx, int64_t NC, int64_t H, int64_t W, bool accumulate, Row&& row) {
    const int64_t OH = H / 2, OW = W / 2, plane = H * W;
    for_each_plane(NC, plane + OH * OW, [&](int64_t p) {
        T* dxp = dx + p * plane;
        for (int64_t oh = 0; oh < OH; ++oh) {
            T* d0 = dxp + 2 * oh * W;
            row(d0, d0 + W, p * OH * OW + oh * OW);
            if (!accumulate && W % 2 == 1) d0[W - 1] = d0[2 * W - 1] = T(0);
        }
        if (!accumulate) std::fill(dxp + 2 * OH * W, dxp + plane, T(0));
    });
}

}  // namespace

template <typename T>
void max_pool2d_forward(T* y, int64_t* argmax, const T* x, int64_t NC, const Window2d& g) {
    const int64_t plane = g.H * g.W, out_plane = g.OH * g.OW;
    for_each_window(
        NC, g.OH, g.OW, plane + out_plane, [&](int64_t oh, int64_t ow) { return sliding_window(g, oh, ow); },
        [&](int64_t p, int64_t o, const Bounds& b) {
            const T* xp = x + p * plane;
            int64_t best_at = b.h0 * g.W + b.w0;
            T best = -std::numeric_limits<T>::infinity();
            for (int64_t h = b.h0; h < b.h1; ++h)
                for (int64_t w = b.w0; w < b.w1; ++w) {
                    const T v = xp[h * g.W + w];
                    // Strictly greater keeps the first maximum on ties; a NaN always
                    // wins (the last one), exactly PyTorch's CPU rule.
                    if (v > best || std::isnan(v)) {
                        best = v;
                        best_at = h * g.W + w;
                    }
                }
            y[p * out_plane + o] = best;
            argmax[p * out_plane + o] = best_at;
        });
}

template <typename T>
void max_pool2d_backward(T* dx, const T* dy, const int64_t* argmax, int64_t NC, const Window2d& g) {
    const int64_t plane = g.H * g.W, out_plane = g.OH * g.OW;
    for_each_plane(NC, out_plane, [&](int64_t p) {
        T* dxp = dx + p * plane;
        for (int64_t k = 0; k < out_plane; ++k) dxp[argmax[p * out_plane + k]] += dy[p * out_plane + k];
    });
}

template <typename T>
void avg_pool2d_forward(T* y, const T* x, int64_t NC, const Window2d& g) {
    const int64_t plane = g.H * g.W, out_plane = g.OH * g.OW;
    const double inv = 1.0 / static_cast<double>(g.kh * g.kw);  // padding counts (count_include_pad)
    for_each_window(
        NC, g.OH, g.OW, plane + out_plane, [&](int64_t oh, int64_t ow) { return sliding_window(g, oh, ow); },
        [&](int64_t p, int64_t o, const Bounds& b) {
            const T* xp = x + p * plane;
            double s = 0.0;
            for (int64_t h = b.h0; h < b.h1; ++h)
                for (int64_t w = b.w0; w < b.w1; ++w) s += static_cast<double>(xp[h * g.W + w]);
            y[p * out_plane + o] = static_cast<T>(s * inv);
        });
}

template <typename T>
void avg_pool2d_backward(T* dx, const T* dy, int64_t NC, const Window2d& g) {
    const int64_t plane = g.H * g.W, out_plane = g.OH * g.OW;
    const double inv = 1.0 / static_cast<double>(g.kh * g.kw);
    for_each_window(
        NC, g.OH, g.OW, plane + out_plane, [&](int64_t oh, int64_t ow) { return sliding_window(g, oh, ow); },
        [&](int64_t p, int64_t o, const Bounds& b) {
            T* dxp = dx + p * plane;
            const T d = static_cast<T>(static_cast<double>(dy[p * out_plane + o]) * inv);
            for (int64_t h = b.h0; h < b.h1; ++h)
                for (int64_t w = b.w0; w < b.w1; ++w) dxp[h * g.W + w] += d;
        });
}

template <typename T>
void max_pool2d_2x2_forward(T* y, uint8_t* which, const T* x, int64_t NC, int64_t H, int64_t W) {
    max_pool_2x2_planes<false>(y, which, x, NC, H, W);
}

template <typename T>
void relu_max_pool2d_2x2_forward(T* y, uint8_t* which, const T* x, int64_t NC, int64_t H, int64_t W) {
    max_pool_2x2_planes<true>(y, which, x, NC, H, W);
}

template <typename T>
void max_pool2d_2x2_backward(T* dx, const T* dy, const uint8_t* which, int64_t NC, int64_t H, int64_t W,
                             bool accumulate) {
    const int64_t OW = W / 2;
    Batch<T> column, unused;
    interleave(Batch<T>(T(0)), Batch<T>(T(1)), column, unused);
    for_each_row_pair(dx, NC, H, W, accumulate, [&](T* d0, T* d1, int64_t o) {
        if (accumulate)
            max_pool_backward_row<true>(d0, d1, dy + o, which + o, OW, column);
        else
            max_pool_backward_row<false>(d0, d1, dy + o, which + o, OW, column);
    });
}

template <typename T>
void avg_pool2d_2x2_forward(T* y, const T* x, int64_t NC, int64_t H, int64_t W) {
    const int64_t OH = H / 2, OW = W / 2, plane = H * W, out_plane = OH * OW;
    for_each_plane(NC, plane + out_plane, [&](int64_t p) {
        for (int64_t oh = 0; oh < OH; ++oh) {
            const T* r0 = x + p * plane + 2 * oh * W;
            avg_pool_row(y + p * out_plane + oh * OW, r0, r0 + W, OW);
        }
    });
}

template <typename T>
void avg_pool2d_2x2_backward(T* dx, const T* dy, int64_t NC, int64_t H, int64_t W, bool accumulate) {
    const int64_t OW = W / 2;
    for_each_row_pair(dx, NC, H, W, accumulate, [&](T* d0, T* d1, int64_t o) {
        if (accumulate)
            avg_pool_backward_row<true>(d0, d1, dy + o, OW);
        else
            avg_pool_backward_row<false>(d0, d1, dy + o, OW);
    });
}

template <typename T>
void adaptive_avg_pool2d_forward(T* y, const T* x, int64_t NC, int64_t H, int64_t W, int64_t OH, int64_t OW) {
    const int64_t plane = H * W, out_plane = OH * OW;
    for_each_window(
        NC, OH, OW, plane + out_plane, [&](int64_t a, int64_t b) { return adaptive_window(a, b, H, W, OH, OW); },
        [&](int64_t p, int64_t o, const Bounds& b) {
            double s = 0.0;
            for (int64_t h = b.h0; h < b.h1; ++h) {
                const T* row = x + p * plane + h * W;
#pragma omp simd reduction(+ : s)
                for (int64_t w = b.w0; w < b.w1; ++w) s += static_cast<double>(row[w]);
            }
            y[p * out_plane + o] = static_cast<T>(s / static_cast<double>((b.h1 - b.h0) * (b.w1 - b.w0)));
        });
}

template <typename T>
void adaptive_avg_pool2d_backward(T* dx, const T* dy, int64_t NC, int64_t H, int64_t W, int64_t OH, int64_t OW) {
    const int64_t plane = H * W, out_plane = OH * OW;
    for_each_window(
        NC, OH, OW, plane + out_plane, [&](int64_t a, int64_t b) { return adaptive_window(a, b, H, W, OH, OW); },
        [&](int64_t p, int64_t o, const Bounds& b) {
            const T d = static_cast<T>(static_cast<double>(dy[p * out_plane + o]) /
                                       static_cast<double>((b.h1 - b.h0) * (b.w1 - b.w0)));
            for (int64_t h = b.h0; h < b.h1; ++h) {
                T* row = dx + p * plane + h * W;
#pragma omp simd
                for (int64_t w = b.w0; w < b.w1; ++w) row[w] += d;
            }
        });
}

#define TAPEGRAD_INSTANTIATE(T)                                                                                \
    template void max_pool2d_forward<T>(T*, int64_t*, const T*, int64_t, const Window2d&);                      \
    template void max_pool2d_backward<T>(T*, const T*, const int64_t*, int64_t, const Window2d&);               \
    template void avg_pool2d_forward<T>(T*, const T*, int64_t, const Window2d&);                                \
    template void avg_pool2d_backward<T>(T*, const T*, int64_t, const Window2d&);                               \
    template void max_pool2d_2x2_forward<T>(T*, uint8_t*, const T*, int64_t, int64_t, int64_t);                 \
    template void relu_max_pool2d_2x2_forward<T>(T*, uint8_t*, const T*, int64_t, int64_t, int64_t);            \
    template void max_pool2d_2x2_backward<T>(T*, const T*, const uint8_t*, int64_t, int64_t, int64_t, bool);    \
    template void avg_pool2d_2x2_forward<T>(T*, const T*, int64_t, int64_t, int64_t);                           \
    template void avg_pool2d_2x2_backward<T>(T*, const T*, int64_t, int64_t, int64_t, bool);                    \
    template void adaptive_avg_pool2d_forward<T>(T*, const T*, int64_t, int64_t, int64_t, int64_t, int64_t);    \
    template void adaptive_avg_pool2d_backward<T>(T*, const T*, int64_t, int64_t, int64_t, int64_t, int64_t);
TAPEGRAD_INSTANTIATE(float)
TAPEGRAD_INSTANTIATE(double)
#undef TAPEGRAD_INSTANTIATE

}  // namespace tapegrad::kernels
