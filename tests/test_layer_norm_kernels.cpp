// The fast LayerNorm kernels against the scalar reference kernels, over odd row lengths
// (1, 3, 17, 1023) and rows large enough to go parallel, at 1 and 2 threads, in float and
// double; and the same bits at 1 and 2 threads.
#include <boost/test/unit_test.hpp>
#include <boost/test/data/test_case.hpp>

#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "framework/generator.hpp"
#include "framework/kernels/layer_norm.hpp"
#include "framework/threading.hpp"
#include "support/tensors.hpp"

using namespace tapegrad;
using tapegrad::testing::same_bits;
using tapegrad::testing::worst;
namespace bdata = boost::unit_test::data;

namespace {

template <typename T>
std::vector<T> random_vector(size_t n, Generator& gen, double offset = 0.0) {
    std::vector<T> v(n);
    for (T& e : v) e = static_cast<T>(offset + gen.normal());
    return v;
}

template <typename T>
struct Results {
    std::vector<T> y, dx, dx_fresh, dgamma, dbeta;
    std::vector<double> mean, rstd;
};

template <typename T>
Results<T> run_fast(int64_t rows, int64_t M, bool affine, const std::vector<T>& x, const std::vector<T>& dy,
                    const std::vector<T>& gamma, const std::vector<T>& beta) {
    const T* g = affine ? gamma.data() : nullptr;
    const T* b = affine ? beta.data() : nullptr;
    const size_t numel = static_cast<size_t>(rows * M);
    Results<T> r{std::vector<T>(numel),
                 std::vector<T>(numel, T(0.5)),
                 std::vector<T>(numel, std::numeric_limits<T>::quiet_NaN()),
                 std::vector<T>(static_cast<size_t>(M), T(1)),
                 std::vector<T>(static_cast<size_t>(M), T(1)),
                 std::vector<double>(static_cast<size_t>(rows)),
                 std::vector<double>(static_cast<size_t>(rows))};
    kernels::layer_norm_forward<T>(r.y.data(), r.mean.data(), r.rstd.data(), x.data(), g, b, rows, M, 1e-5);
    kernels::layer_norm_backward<T>(r.dx.data(), affine ? r.dgamma.data() : nullptr, affine ? r.dbeta.data() : nullptr,
                                    dy.data(), x.data(), r.mean.data(), r.rstd.data(), g, rows, M);
    kernels::layer_norm_backward<T>(r.dx_fresh.data(), nullptr, nullptr, dy.data(), x.data(), r.mean.data(),
                                    r.rstd.data(), g, rows, M, /*accumulate_dx=*/false);
    return r;
}

template <typename T>
void compare_with_reference(int64_t rows, int64_t M, bool affine, double tol) {
    Generator gen(static_cast<uint64_t>(rows * 1000 + M));
    const size_t numel = static_cast<size_t>(rows * M);
    const auto x = random_vector<T>(numel, gen, 3.0), dy = random_vector<T>(numel, gen);
    const auto gamma = random_vector<T>(static_cast<size_t>(M), gen, 1.0),
               beta = random_vector<T>(static_cast<size_t>(M), gen);
    const T* g = affine ? gamma.data() : nullptr;
    const T* b = affine ? beta.data() : nullptr;

    const Results<T> fast = run_fast(rows, M, affine, x, dy, gamma, beta);
    std::vector<T> y_ref(numel);
    std::vector<double> mean_ref(static_cast<size_t>(rows)), rstd_ref(static_cast<size_t>(rows));
    kernels::layer_norm_forward_reference<T>(y_ref.data(), mean_ref.data(), rstd_ref.data(), x.data(), g, b, rows, M,
                                             1e-5);
    BOOST_TEST(worst(fast.y, y_ref, tol) <= 1.0);
    BOOST_TEST(worst(fast.mean, mean_ref, 1e-12) <= 1.0);
    // For float the variance is summed in float blocks (sum_squared_deviation): ~1e-7.
    BOOST_TEST(worst(fast.rstd, rstd_ref, std::is_same_v<T, float> ? 1e-6 : 1e-12) <= 1.0);

    std::vector<T> dx_ref(numel, T(0.5)), dgamma_ref(static_cast<size_t>(M), T(1)), dbeta_ref = dgamma_ref;
    kernels::layer_norm_backward_reference<T>(dx_ref.data(), affine ? dgamma_ref.data() : nullptr,
                                              affine ? dbeta_ref.data() : nullptr, dy.data(), x.data(), mean_ref.data(),
                                              rstd_ref.data(), g, rows, M);
    BOOST_TEST(worst(fast.dx, dx_ref, tol) <= 1.0);
    BOOST_TEST(worst(fast.dgamma, dgamma_ref, tol * 10) <= 1.0);
    BOOST_TEST(worst(fast.dbeta, dbeta_ref, tol * 10) <= 1.0);
    // Without accumulation, dx is assigned whatever it held before (here NaN).
    std::vector<T> dx_ref_fresh(numel, T(0));
    kernels::layer_norm_backward_reference<T>(dx_ref_fresh.data(), nullptr, nullptr, dy.data(), x.data(),
                                              mean_ref.data(), rstd_ref.data(), g, rows, M);
    BOOST_TEST(worst(fast.dx_fresh, dx_ref_fresh, tol) <= 1.0);
}

// Every output the same bits at 1 and 2 threads (parallel: rows·M >= 2^16).
template <typename T>
void same_bits_at_1_and_2_threads(int64_t rows, int64_t M, bool affine) {
    Generator gen(static_cast<uint64_t>(rows + M));
    const size_t numel = static_cast<size_t>(rows * M);
    const auto x = random_vector<T>(numel, gen, 3.0), dy = random_vector<T>(numel, gen);
    const auto gamma = random_vector<T>(static_cast<size_t>(M), gen, 1.0),
               beta = random_vector<T>(static_cast<size_t>(M), gen);
    set_num_threads(1);
    const Results<T> one = run_fast(rows, M, affine, x, dy, gamma, beta);
    set_num_threads(2);
    const Results<T> two = run_fast(rows, M, affine, x, dy, gamma, beta);
    BOOST_TEST(same_bits(one.y, two.y));
    BOOST_TEST(same_bits(one.mean, two.mean));
    BOOST_TEST(same_bits(one.rstd, two.rstd));
    BOOST_TEST(same_bits(one.dx, two.dx));
    BOOST_TEST(same_bits(one.dx_fresh, two.dx_fresh));
    BOOST_TEST(same_bits(one.dgamma, two.dgamma));
    BOOST_TEST(same_bits(one.dbeta, two.dbeta));
}

const std::vector<int64_t> row_lengths{1, 3, 17, 1023};

}  // namespace

BOOST_DATA_TEST_CASE(fast_kernels_match_reference, bdata::make(row_lengths) * bdata::make({1, 2}), M, threads) {
    set_num_threads(threads);
    for (bool affine : {true, false}) {
        compare_with_reference<float>(6, M, affine, 1e-5);
        compare_with_reference<float>(1, M, affine, 1e-5);  // fewer rows than threads
        compare_with_reference<double>(6, M, affine, 1e-12);
        compare_with_reference<double>(2, M, affine, 1e-12);
    }
}

// Large enough to run in parallel: many short rows, and few long ones with odd lengths.
BOOST_DATA_TEST_CASE(large_inputs_match_reference, bdata::make({1, 2}), threads) {
    set_num_threads(threads);
    compare_with_reference<float>(4097, 33, true, 1e-5);
    compare_with_reference<float>(3, 30001, false, 1e-5);
    compare_with_reference<double>(257, 517, true, 1e-12);
}

BOOST_AUTO_TEST_CASE(results_are_bit_identical_at_1_and_2_threads) {
    for (bool affine : {true, false}) {
        same_bits_at_1_and_2_threads<float>(4097, 33, affine);
        same_bits_at_1_and_2_threads<float>(3, 30001, affine);
        same_bits_at_1_and_2_threads<double>(257, 517, affine);
        same_bits_at_1_and_2_threads<double>(1, 70001, affine);
    }
}
