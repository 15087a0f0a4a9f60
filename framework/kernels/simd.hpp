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

}  // namespace tapegrad::kernels::simd
