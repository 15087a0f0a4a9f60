// The FMA peak probe of fma_peak.hpp. Built with -march=native (bench/CMakeLists.txt): the
// widest vector FMA the compiler may use here is the one the machine has. On the project's AMD
// EPYC (Zen 3, AVX2 + FMA) `objdump -d --no-show-raw-insn build/release/bench/bench_nets`
// shows fma_chains' loop as 12 `vfmadd132ps %ymm..` (or 213/231) and the counter's add and
// branch, nothing else: 12 independent chains keep both FMA pipes busy through the 4-cycle
// latency (8 would be the minimum), and they fit the 16 ymm registers beside the 2 constants.
// Compiled for an AVX-512 machine (-march=sapphirerapids) the loop is the same 12 on zmm.
#include "fma_peak.hpp"

#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr int kChains = 12;

#if defined(__AVX512F__)
using Vec = __m512;
constexpr int kLanes = 16;
constexpr const char* kIsa = "avx512f (zmm)";
inline Vec splat(float v) { return _mm512_set1_ps(v); }
inline Vec fmadd(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
inline float lane_sum(Vec v) { return _mm512_reduce_add_ps(v); }
#elif defined(__AVX__) && defined(__FMA__)
using Vec = __m256;
constexpr int kLanes = 8;
constexpr const char* kIsa = "fma3 (ymm)";
inline Vec splat(float v) { return _mm256_set1_ps(v); }
inline Vec fmadd(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
inline float lane_sum(Vec v) {
    alignas(32) float lanes[8];
    _mm256_store_ps(lanes, v);
    float s = 0.0f;
    for (float x : lanes) s += x;
    return s;
}
#else
using Vec = float;
constexpr int kLanes = 1;
constexpr const char* kIsa = "scalar (no FMA vector unit compiled)";
inline Vec splat(float v) { return v; }
inline Vec fmadd(Vec a, Vec b, Vec c) { return std::fma(a, b, c); }
inline float lane_sum(Vec v) { return v; }
#endif

// acc ← acc · a + b on kChains accumulators; each converges to b / (1 − a) = 1, so no value
// overflows or turns subnormal however long it runs. Returns their sum, so the loop is live.
// Not inlined, so that its loop is easy to find in the disassembly.
__attribute__((noinline)) float fma_chains(int64_t iterations) {
    Vec acc[kChains];
    for (int j = 0; j < kChains; ++j) acc[j] = splat(1.0f + 0.01f * float(j));
    const Vec a = splat(0.999999f), b = splat(1e-6f);
    // Unrolled whatever the optimisation level: a loop over acc[] would keep it in memory at -O2.
    for (int64_t i = 0; i < iterations; ++i) {
#pragma GCC unroll 12
        for (int j = 0; j < kChains; ++j) acc[j] = fmadd(acc[j], a, b);
    }
    float s = 0.0f;
    for (int j = 0; j < kChains; ++j) s += lane_sum(acc[j]);
    return s;
}

// Seconds for `threads` threads to run fma_chains(iterations) each, from the first start to the
// last join.
double timed_run(int threads, int64_t iterations, std::atomic<float>& sink) {
    const auto start = std::chrono::steady_clock::now();
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) pool.emplace_back([&] { sink.fetch_add(fma_chains(iterations)); });
    for (std::thread& th : pool) th.join();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

FmaPeak fma_peak(int threads, double seconds, int repeats) {
    if (threads < 1 || repeats < 1)
        throw std::invalid_argument("fma_peak: expected threads >= 1 and repeats >= 1, got " + std::to_string(threads) +
                                    " and " + std::to_string(repeats));
    std::atomic<float> sink{0.0f};
    // Calibration: iterations per second of one thread, so that each timed run lasts about
    // seconds / repeats.
    const int64_t probe = 1 << 20;
    timed_run(1, probe, sink);  // the first run also brings the core out of its idle state
    const double rate = double(probe) / timed_run(1, probe, sink);
    const int64_t iterations = std::max<int64_t>(probe, int64_t(rate * seconds / repeats));
    double best = 1e300;
    for (int r = 0; r < repeats; ++r) best = std::min(best, timed_run(threads, iterations, sink));
    const double flops = 2.0 * kLanes * kChains * double(iterations) * threads;
    if (!std::isfinite(sink.load())) throw std::runtime_error("fma_peak: the accumulators left the finite range");
    return {kIsa, kLanes, kChains, threads, flops / best / 1e9, flops / best / 1e9 / threads};
}
