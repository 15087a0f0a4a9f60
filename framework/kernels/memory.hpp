// How the memory-bound kernels go over memory: streaming stores and fetching ahead.
//
// Streaming (non-temporal) stores write whole cache lines to memory without first reading
// them into the cache, and without evicting the inputs. For an output too large to stay in
// cache until it is read again, that saves a read of every line written (the store's
// read-for-ownership) and keeps the inputs cached. They are weakly ordered: a thread fences
// them (stream_fence) before its results may be read elsewhere. Used only where every batch
// store is 64-byte aligned (use_streaming_stores), and with AVX-512 only.
#pragma once

#include <cstdint>
#include <type_traits>

#include "framework/kernels/simd.hpp"

namespace tapegrad::kernels::memory {

#if XSIMD_WITH_AVX512F
constexpr bool kCanStream = true;
inline void stream_store(float* p, const simd::FloatBatch& v) { _mm512_stream_ps(p, v); }
inline void stream_fence() { _mm_sfence(); }
#else
constexpr bool kCanStream = false;
inline void stream_store(float* p, const simd::FloatBatch& v) { v.store_aligned(p); }
inline void stream_fence() {}
#endif

// out[0, kFloatLanes) = v: a streaming store when `stream`, else an ordinary one.
inline void store(float* out, const simd::FloatBatch& v, bool stream) {
    if (stream)
        stream_store(out, v);
    else
        v.store_unaligned(out);
}

// Whether a kernel writes its output (out, elements) with streaming stores: only outputs of
// 4 MiB or more (several times a core's L2, so unlikely to still be cached when the next op
// reads them), and only when every row (row_length elements) starts and ends on a cache line:
// a line written partly by streaming stores and partly by ordinary ones costs more than
// streaming saves (measured: twice as slow with rows of 196). docs/speed.md has the
// measurements, including why the threshold stayed at 4 MiB on a 260 MB-L3 Xeon.
constexpr int64_t kStreamMinBytes = int64_t{4} << 20;

template <typename T>
bool use_streaming_stores(const T* out, int64_t elements, int64_t row_length) {
    const auto bytes = static_cast<int64_t>(sizeof(T));
    return kCanStream && std::is_same_v<T, float> && reinterpret_cast<std::uintptr_t>(out) % 64 == 0 &&
           row_length * bytes % 64 == 0 && elements * bytes >= kStreamMinBytes;
}

// Fetch the line at p into every cache level: for a pass working in cache, the next slice's
// input, whose first pass would otherwise wait on memory while memory is idle.
inline void prefetch(const void* p) { __builtin_prefetch(p, /*read*/ 0, /*keep in all levels*/ 3); }

}  // namespace tapegrad::kernels::memory
