// Register-level SIMD helpers shared by the kernels, on xsimd 8.1 batches of the build's
// instruction set: the batch types, and float <-> double conversion in registers. Included
// only by kernel sources (it brings in xsimd); nothing here allocates or threads. The
// reductions built on it are in reductions.hpp.
#pragma once

#include <cstdint>

#include <xsimd/xsimd.hpp>

// GCC 12's AVX-512 intrinsics (used by xsimd's horizontal adds and by widen) trip its own
// -Wuninitialized on _mm512_undefined_ps/_pd (GCC bug 105593, fixed in GCC 13).
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace tapegrad::kernels::simd {

using DoubleBatch = xsimd::batch<double>;
using FloatBatch = xsimd::batch<float>;
constexpr int64_t kDoubleLanes = static_cast<int64_t>(DoubleBatch::size);
constexpr int64_t kFloatLanes = static_cast<int64_t>(FloatBatch::size);

// p[0, kDoubleLanes) as doubles: a half-width float load converted in a register.
// xsimd 8.1's batch<double>::load_unaligned(const float*) converts through a buffer on the
// stack instead: two narrow stores read back as one wide load, which Intel cores cannot
// forward (on a Sapphire Rapids Xeon it made GroupNorm's mean pass 3× slower); Zen 4 hides it.
inline DoubleBatch widen(const float* p) {
#if XSIMD_WITH_AVX512F
    return _mm512_cvtps_pd(_mm256_loadu_ps(p));
#elif XSIMD_WITH_AVX
    return _mm256_cvtps_pd(_mm_loadu_ps(p));
#elif XSIMD_WITH_SSE2
    return _mm_cvtps_pd(_mm_castsi128_ps(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
#else
    return DoubleBatch::load_unaligned(p);
#endif
}
inline DoubleBatch widen(const double* p) { return DoubleBatch::load_unaligned(p); }

// A float batch as two double batches, lo and hi, converted half by half in registers.
inline void widen_halves(const FloatBatch& v, DoubleBatch& lo, DoubleBatch& hi) {
#if XSIMD_WITH_AVX512F
    lo = _mm512_cvtps_pd(_mm512_castps512_ps256(v));
    hi = _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
#elif XSIMD_WITH_AVX
    lo = _mm256_cvtps_pd(_mm256_castps256_ps128(v));
    hi = _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1));
#elif XSIMD_WITH_SSE2
    __m128 upper = _mm_movehl_ps(v, v);
    // Kept in a register: GCC 12 otherwise stores the upper half to the stack to convert it
    // with cvtps2pd's memory form.
    asm("" : "+x"(upper));
    lo = _mm_cvtps_pd(v);
    hi = _mm_cvtps_pd(upper);
#else
    alignas(64) float buffer[FloatBatch::size];
    v.store_aligned(buffer);
    lo = DoubleBatch::load_unaligned(buffer);
    hi = DoubleBatch::load_unaligned(buffer + DoubleBatch::size);
#endif
}

// p[0, 2·kDoubleLanes) as two double batches, lo and hi: for float, one full-width load
// converted half by half in registers. For loops that go over float data in double lanes two
// batches at a time: with two widen() calls per step instead, GCC 12 merges the two half
// loads into one full load under SSE2 and moves its upper half to doubles through the stack.
inline void widen_pair(const float* p, DoubleBatch& lo, DoubleBatch& hi) {
    widen_halves(FloatBatch::load_unaligned(p), lo, hi);
}
inline void widen_pair(const double* p, DoubleBatch& lo, DoubleBatch& hi) {
    lo = DoubleBatch::load_unaligned(p);
    hi = DoubleBatch::load_unaligned(p + kDoubleLanes);
}

// p[0, kDoubleLanes) = v rounded to float: converted in a register, then a half-width store
// (the reverse of widen, for the same reason).
inline void narrow_store(float* p, const DoubleBatch& v) {
#if XSIMD_WITH_AVX512F
    _mm256_storeu_ps(p, _mm512_cvtpd_ps(v));
#elif XSIMD_WITH_AVX
    _mm_storeu_ps(p, _mm256_cvtpd_ps(v));
#elif XSIMD_WITH_SSE2
    _mm_storel_pi(reinterpret_cast<__m64*>(p), _mm_cvtpd_ps(v));
#else
    v.store_unaligned(p);
#endif
}
inline void narrow_store(double* p, const DoubleBatch& v) { v.store_unaligned(p); }

#if XSIMD_WITH_AVX
// An 8×8 block of floats transposed in registers: columns[j][l] = rows[l][j] for the first
// `columns_wanted` columns (rows: 8 rows of 8, 32-byte aligned, `row_stride` floats apart;
// columns: `columns_wanted` rows of 8 at `column_stride`, 32-byte aligned). 24 shuffles
// instead of 64 scalar moves; for turning one-item-per-row data into one item per SIMD lane.
inline void transpose_8x8(float* columns, int64_t column_stride, int columns_wanted, const float* rows,
                          int64_t row_stride) {
    __m256 r[8];
    for (int l = 0; l < 8; ++l) r[l] = _mm256_load_ps(rows + l * row_stride);
    const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    const __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    const __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    const __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    const __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    const __m256 c[8] = {_mm256_permute2f128_ps(s0, s4, 0x20), _mm256_permute2f128_ps(s1, s5, 0x20),
                         _mm256_permute2f128_ps(s2, s6, 0x20), _mm256_permute2f128_ps(s3, s7, 0x20),
                         _mm256_permute2f128_ps(s0, s4, 0x31), _mm256_permute2f128_ps(s1, s5, 0x31),
                         _mm256_permute2f128_ps(s2, s6, 0x31), _mm256_permute2f128_ps(s3, s7, 0x31)};
    for (int j = 0; j < columns_wanted; ++j) _mm256_store_ps(columns + j * column_stride, c[j]);
}
#endif

}  // namespace tapegrad::kernels::simd
