// The known-bad object for tests/no_stack_vectors.sh, compiled with -O3 -march=sapphirerapids:
// xsimd 8.1's batch<double>::load_unaligned(const float*) converts through a stack buffer (two
// 256-bit stores read back as one 512-bit load), the round trip that made GroupNorm 3× slower
// on a Sapphire Rapids Xeon. The check must flag bad_sum and nothing else here.
#include <cstdint>

#include <xsimd/xsimd.hpp>

namespace {

// Inlined into each caller, so that every function below has the loop under its own name.
template <typename T>
[[gnu::always_inline]] inline double sum_batches(const float* p, int64_t n) {
    using Batch = xsimd::batch<T>;
    constexpr auto lanes = static_cast<int64_t>(Batch::size);
    Batch acc(T(0));
    for (int64_t i = 0; i + lanes <= n; i += lanes) acc += Batch::load_unaligned(p + i);
    // Summed lane by lane: xsimd::hadd trips GCC 12's -Wuninitialized (GCC bug 105593).
    alignas(64) T lane[lanes];
    acc.store_aligned(lane);
    double sum = 0.0;
    for (T x : lane) sum += static_cast<double>(x);
    return sum;
}

}  // namespace

namespace tapegrad::no_stack_vectors_fixture {

double bad_sum(const float* p, int64_t n) { return sum_batches<double>(p, n); }

// The same loop where the check does not look: a scalar reference twin, and code outside the
// library's namespace. A float loop needs no conversion and stays in registers.
double bad_sum_reference(const float* p, int64_t n) { return sum_batches<double>(p, n); }
double good_sum(const float* p, int64_t n) { return sum_batches<float>(p, n); }

}  // namespace tapegrad::no_stack_vectors_fixture

namespace not_tapegrad {

double bad_sum_elsewhere(const float* p, int64_t n) { return sum_batches<double>(p, n); }

}  // namespace not_tapegrad
