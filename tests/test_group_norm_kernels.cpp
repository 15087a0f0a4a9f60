// The fast GroupNorm kernels against the scalar reference kernels, over sizes whose tails do
// not fill a SIMD register (inner 1, 3, 17, 1023), at 1 and 2 threads, in float and double,
// and on tensors large enough to be written with streaming stores and to have the next
// slice fetched ahead.
#include <boost/test/unit_test.hpp>
#include <boost/test/data/test_case.hpp>

#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "framework/generator.hpp"
#include "framework/kernels/group_norm.hpp"
#include "framework/threading.hpp"
#include "support/tensors.hpp"

#include <xsimd/xsimd.hpp>

using namespace tapegrad;
using tapegrad::testing::worst;
namespace bdata = boost::unit_test::data;

namespace {

// Aligned to a cache line, as tensors are: the kernels only stream into aligned outputs.
template <typename T>
using Buffer = std::vector<T, xsimd::aligned_allocator<T, 64>>;

template <typename T>
Buffer<T> random_vector(size_t n, Generator& gen, double offset = 0.0) {
    Buffer<T> v(n);
    for (T& e : v) e = static_cast<T>(offset + gen.normal());
    return v;
}

template <typename T>
void compare_with_reference(int64_t N, int64_t C, int64_t inner, int64_t G, bool affine, double tol) {
    Generator gen(static_cast<uint64_t>(N * 1000 + C * 100 + inner + G));
    const size_t numel = static_cast<size_t>(N * C * inner);
    const auto x = random_vector<T>(numel, gen, 3.0), dy = random_vector<T>(numel, gen);
    const auto gamma = random_vector<T>(static_cast<size_t>(C), gen, 1.0), beta = random_vector<T>(static_cast<size_t>(C), gen);
    const T* g = affine ? gamma.data() : nullptr;
    const T* b = affine ? beta.data() : nullptr;
    const size_t stats = static_cast<size_t>(N * G);

    Buffer<T> y(numel), y_ref(numel);
    std::vector<double> mean(stats), rstd(stats), mean_ref(stats), rstd_ref(stats);
    kernels::group_norm_forward<T>(y.data(), mean.data(), rstd.data(), x.data(), g, b, N, C, inner, G, 1e-5);
    kernels::group_norm_forward_reference<T>(y_ref.data(), mean_ref.data(), rstd_ref.data(), x.data(), g, b, N, C, inner, G, 1e-5);
    BOOST_TEST(worst(y, y_ref, tol) <= 1.0);
    BOOST_TEST(worst(mean, mean_ref, 1e-12) <= 1.0);
    // For float the variance is summed in float blocks (see sum_squared_deviation): ~1e-7.
    BOOST_TEST(worst(rstd, rstd_ref, std::is_same_v<T, float> ? 1e-6 : 1e-12) <= 1.0);

    // Backward accumulates: start both from the same non-zero gradients.
    Buffer<T> dx(numel, T(0.5)), dx_ref(numel, T(0.5));
    Buffer<T> dgamma(static_cast<size_t>(C), T(1)), dgamma_ref = dgamma, dbeta = dgamma, dbeta_ref = dgamma;
    kernels::group_norm_backward<T>(dx.data(), dgamma.data(), dbeta.data(), dy.data(), x.data(), mean.data(), rstd.data(), g, N, C, inner, G);
    kernels::group_norm_backward_reference<T>(dx_ref.data(), dgamma_ref.data(), dbeta_ref.data(), dy.data(), x.data(),
                                              mean_ref.data(), rstd_ref.data(), g, N, C, inner, G);
    BOOST_TEST(worst(dx, dx_ref, tol) <= 1.0);
    BOOST_TEST(worst(dgamma, dgamma_ref, tol * 10) <= 1.0);
    BOOST_TEST(worst(dbeta, dbeta_ref, tol * 10) <= 1.0);

    // Without accumulation, dx is assigned whatever it held before (here NaN).
    Buffer<T> dx_fresh(numel, std::numeric_limits<T>::quiet_NaN()), dx_ref_fresh(numel, T(0));
    kernels::group_norm_backward<T>(dx_fresh.data(), nullptr, nullptr, dy.data(), x.data(), mean.data(), rstd.data(), g, N,
                                    C, inner, G, /*accumulate_dx=*/false);
    kernels::group_norm_backward_reference<T>(dx_ref_fresh.data(), nullptr, nullptr, dy.data(), x.data(), mean_ref.data(),
                                              rstd_ref.data(), g, N, C, inner, G);
    BOOST_TEST(worst(dx_fresh, dx_ref_fresh, tol) <= 1.0);
}

const std::vector<int64_t> inner_sizes{1, 3, 17, 1023};

}  // namespace

// One (n, g) slice and two threads: the threads share the slice, in chunks that end inside
// a channel (inner 20001) and that span many channels (inner 17).
BOOST_DATA_TEST_CASE(a_single_large_slice_is_split_across_threads, bdata::make({1, 2}), threads) {
    set_num_threads(threads);
    compare_with_reference<float>(1, 4, 20001, 1, true, 1e-5);
    compare_with_reference<float>(1, 1, 70001, 1, false, 1e-5);
    compare_with_reference<double>(1, 4000, 17, 1, true, 1e-12);
}

// Float outputs of 4 MiB and more whose channels are whole cache lines (inner 16384, 784) are
// written with streaming stores; 1 thread, 2 threads over slices, 2 threads within a slice.
BOOST_DATA_TEST_CASE(large_outputs_written_with_streaming_stores_match_reference, bdata::make({1, 2}), threads) {
    set_num_threads(threads);
    compare_with_reference<float>(2, 32, 16384, 8, true, 1e-5);
    compare_with_reference<float>(1, 4, 262144, 1, false, 1e-5);
    compare_with_reference<float>(8, 256, 784, 32, true, 1e-5);
}

// Float tensors of 16 MiB and more, taken a slice per thread, have the next slice fetched
// ahead during each slice's last pass: with streaming stores (inner 4096) and without (inner
// 8195, whose channels are not whole cache lines and whose passes end in scalar tails).
BOOST_DATA_TEST_CASE(large_inputs_fetched_ahead_match_reference, bdata::make({1, 2}), threads) {
    set_num_threads(threads);
    compare_with_reference<float>(16, 64, 4096, 32, true, 1e-5);
    compare_with_reference<float>(8, 64, 8195, 16, false, 1e-5);
}

BOOST_DATA_TEST_CASE(fast_kernels_match_reference, bdata::make(inner_sizes) * bdata::make({1, 2}), inner, threads) {
    set_num_threads(threads);
    for (bool affine : {true, false}) {
        compare_with_reference<float>(3, 6, inner, 3, affine, 1e-5);
        compare_with_reference<float>(1, 4, inner, 1, affine, 1e-5);   // N·G smaller than the thread count
        compare_with_reference<float>(5, 8, inner, 8, affine, 1e-5);
        compare_with_reference<double>(3, 6, inner, 3, affine, 1e-12);
        compare_with_reference<double>(2, 12, inner, 4, affine, 1e-12);
    }
}
