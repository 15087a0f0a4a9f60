// The fast GroupNorm kernels against the scalar reference kernels, over sizes whose tails do
// not fill a SIMD register (inner 1, 3, 17, 1023), at 1 and 2 threads, in float and double,
// and on tensors large enough to be written with streaming stores and to have the next
// slice fetched ahead.
#include <boost/test/unit_test.hpp>
#include <boost/test/data/test_case.hpp>

#include <algorithm>
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
    const auto gamma = random_vector<T>(static_cast<size_t>(C), gen, 1.0),
               beta = random_vector<T>(static_cast<size_t>(C), gen);
    const T* g = affine ? gamma.data() : nullptr;
    const T* b = affine ? beta.data() : nullptr;
    const size_t stats = static_cast<size_t>(N * G);

    Buffer<T> y(numel), y_ref(numel);
    std::vector<double> mean(stats), rstd(stats), mean_ref(stats), rstd_ref(stats);
    kernels::group_norm_forward<T>(y.data(), mean.data(), rstd.data(), x.data(), g, b, N, C, inner, G, 1e-5);
    kernels::group_norm_forward_reference<T>(y_ref.data(), mean_ref.data(), rstd_ref.data(), x.data(), g, b, N, C,
                                             inner, G, 1e-5);
    BOOST_TEST(worst(y, y_ref, tol) <= 1.0);
    BOOST_TEST(worst(mean, mean_ref, 1e-12) <= 1.0);
    // For float the variance is summed in float blocks (see sum_squared_deviation): ~1e-7.
    BOOST_TEST(worst(rstd, rstd_ref, std::is_same_v<T, float> ? 1e-6 : 1e-12) <= 1.0);

    // Backward accumulates: start both from the same non-zero gradients.
    Buffer<T> dx(numel, T(0.5)), dx_ref(numel, T(0.5));
    Buffer<T> dgamma(static_cast<size_t>(C), T(1)), dgamma_ref = dgamma, dbeta = dgamma, dbeta_ref = dgamma;
    kernels::group_norm_backward<T>(dx.data(), dgamma.data(), dbeta.data(), dy.data(), x.data(), mean.data(),
                                    rstd.data(), g, N, C, inner, G);
    kernels::group_norm_backward_reference<T>(dx_ref.data(), dgamma_ref.data(), dbeta_ref.data(), dy.data(), x.data(),
                                              mean_ref.data(), rstd_ref.data(), g, N, C, inner, G);
    BOOST_TEST(worst(dx, dx_ref, tol) <= 1.0);
    BOOST_TEST(worst(dgamma, dgamma_ref, tol * 10) <= 1.0);
    BOOST_TEST(worst(dbeta, dbeta_ref, tol * 10) <= 1.0);

    // Without accumulation, dx is assigned whatever it held before (here NaN).
    Buffer<T> dx_fresh(numel, std::numeric_limits<T>::quiet_NaN()), dx_ref_fresh(numel, T(0));
    kernels::group_norm_backward<T>(dx_fresh.data(), nullptr, nullptr, dy.data(), x.data(), mean.data(), rstd.data(), g,
                                    N, C, inner, G, /*accumulate_dx=*/false);
    kernels::group_norm_backward_reference<T>(dx_ref_fresh.data(), nullptr, nullptr, dy.data(), x.data(),
                                              mean_ref.data(), rstd_ref.data(), g, N, C, inner, G);
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

// The float forward sums Σ(x − k)² about k, the mean of a slice's first 16 elements, and
// subtracts (mean − k)²: when k is far from the mean, that cancels most of the variance's
// digits, and the squared deviations are summed again about the mean. Here the data has mean
// 1e4 and std 1e-2, except that each slice starts with 16 elements 10 above (a thousand stds
// out): k is 10 from the mean, against a std of 0.22, a factor 2,000 of cancellation. Without
// the second sum rstd is off by 1.1e-5 here.
BOOST_DATA_TEST_CASE(statistics_hold_when_a_slice_starts_far_from_its_mean, bdata::make({1, 2}), threads) {
    set_num_threads(threads);
    const int64_t N = 4, C = 64, inner = 1024, G = 2, M = C / G * inner;
    Generator gen(11);
    Buffer<float> x(static_cast<size_t>(N * C * inner));
    for (size_t i = 0; i < x.size(); ++i)
        x[i] = static_cast<float>(1e4 + (static_cast<int64_t>(i) % M < 16 ? 10.0 : 1e-2 * gen.normal()));
    Buffer<float> y(x.size()), y_ref(x.size());
    std::vector<double> mean(N * G), rstd(N * G), mean_ref(N * G), rstd_ref(N * G);
    kernels::group_norm_forward<float>(y.data(), mean.data(), rstd.data(), x.data(), nullptr, nullptr, N, C, inner, G,
                                       1e-5);
    kernels::group_norm_forward_reference<float>(y_ref.data(), mean_ref.data(), rstd_ref.data(), x.data(), nullptr,
                                                 nullptr, N, C, inner, G, 1e-5);
    BOOST_TEST(worst(mean, mean_ref, 1e-12) <= 1.0);
    double rstd_error = 0.0;  // relative
    for (size_t i = 0; i < rstd.size(); ++i) rstd_error = std::max(rstd_error, std::abs(rstd[i] / rstd_ref[i] - 1.0));
    BOOST_TEST(rstd_error < 1e-6);  // 4e-8 with AVX-512 kernels, 1.6e-7 with SSE2
    BOOST_TEST_MESSAGE("rstd error " << rstd_error);
    BOOST_TEST(worst(y, y_ref, 1e-6) <= 1.0);
}

namespace {

// Every output of the forward and backward, for one shape at the current thread count.
template <typename T>
struct Outputs {
    Buffer<T> y, dx, dgamma, dbeta;
    std::vector<double> mean, rstd;
};

template <typename T>
Outputs<T> group_norm_outputs(int64_t N, int64_t C, int64_t inner, int64_t G) {
    Generator gen(static_cast<uint64_t>(N * 1000 + C * 100 + inner + G));
    const size_t numel = static_cast<size_t>(N * C * inner), stats = static_cast<size_t>(N * G);
    const auto x = random_vector<T>(numel, gen, 3.0), dy = random_vector<T>(numel, gen);
    const auto gamma = random_vector<T>(static_cast<size_t>(C), gen, 1.0),
               beta = random_vector<T>(static_cast<size_t>(C), gen);
    Buffer<T> y(numel), dx(numel, T(0.5)), dgamma(static_cast<size_t>(C), T(1)), dbeta = dgamma;
    std::vector<double> mean(stats), rstd(stats);
    kernels::group_norm_forward<T>(y.data(), mean.data(), rstd.data(), x.data(), gamma.data(), beta.data(), N, C, inner,
                                   G, 1e-5);
    kernels::group_norm_backward<T>(dx.data(), dgamma.data(), dbeta.data(), dy.data(), x.data(), mean.data(),
                                    rstd.data(), gamma.data(), N, C, inner, G);
    return {y, dx, dgamma, dbeta, mean, rstd};
}

template <typename T>
void same_bits_at_1_and_2_threads(int64_t N, int64_t C, int64_t inner, int64_t G) {
    set_num_threads(1);
    const auto one = group_norm_outputs<T>(N, C, inner, G);
    set_num_threads(2);
    const auto two = group_norm_outputs<T>(N, C, inner, G);
    BOOST_TEST(testing::same_bits(one.y, two.y));
    BOOST_TEST(testing::same_bits(one.mean, two.mean));
    BOOST_TEST(testing::same_bits(one.rstd, two.rstd));
    BOOST_TEST(testing::same_bits(one.dx, two.dx));
    BOOST_TEST(testing::same_bits(one.dgamma, two.dgamma));
    BOOST_TEST(testing::same_bits(one.dbeta, two.dbeta));
}

}  // namespace

// At 2 threads a single slice is shared by the threads, in chunks of 16384 elements that end
// inside rows of 20001 and 70001; several slices are taken whole, the next one's sums taken
// in the pass over the one before (rows of 1024 and 20001) or alone (rows of 49). The
// backward's per-channel sums once added whole rows at 1 thread and chunks at 2: double
// showed it in the last bits.
BOOST_AUTO_TEST_CASE(results_are_bit_identical_at_1_and_2_threads) {
    same_bits_at_1_and_2_threads<double>(1, 4, 20001, 1);
    same_bits_at_1_and_2_threads<double>(1, 1, 70001, 1);
    same_bits_at_1_and_2_threads<double>(1, 2, 65536, 2);
    same_bits_at_1_and_2_threads<double>(4, 64, 1024, 32);
    same_bits_at_1_and_2_threads<float>(1, 4, 20001, 1);
    same_bits_at_1_and_2_threads<float>(2, 4, 20001, 2);
    same_bits_at_1_and_2_threads<float>(4, 64, 1024, 32);
    same_bits_at_1_and_2_threads<float>(8, 512, 49, 32);
}
