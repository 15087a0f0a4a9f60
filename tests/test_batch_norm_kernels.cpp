// The fast BatchNorm kernels against the scalar reference kernels, at 1 and 2 threads, in
// float and double: both ways over memory (rows of 1, 3 and 15 elements go the columns way,
// 16 and more the planes way), training and given statistics, affine on and off, dx assigned
// and accumulated; and the same bits at 1 and 2 threads. Also the ghost batches' update of the
// running statistics.
#include <boost/test/unit_test.hpp>
#include <boost/test/data/test_case.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "framework/generator.hpp"
#include "framework/kernels/batch_norm.hpp"
#include "framework/threading.hpp"
#include "support/tensors.hpp"

using namespace tapegrad;
using tapegrad::testing::same_bits;
using tapegrad::testing::worst;
namespace bdata = boost::unit_test::data;

namespace {

struct Sizes {
    int64_t N, C, inner;
};

template <typename T>
std::vector<T> random_vector(size_t n, Generator& gen, double offset = 0.0, double scale = 1.0) {
    std::vector<T> v(n);
    for (T& e : v) e = static_cast<T>(offset + scale * gen.normal());
    return v;
}

template <typename T>
struct Inputs {
    std::vector<T> x, dy, gamma, beta;
    std::vector<double> running_mean, running_rstd;  // the statistics given in evaluation
};

template <typename T>
Inputs<T> make_inputs(const Sizes& s, uint64_t seed) {
    Generator gen(seed);
    const size_t numel = static_cast<size_t>(s.N * s.C * s.inner), C = static_cast<size_t>(s.C);
    Inputs<T> in{random_vector<T>(numel, gen, 3.0, 2.0), random_vector<T>(numel, gen), random_vector<T>(C, gen, 1.0),
                 random_vector<T>(C, gen), random_vector<double>(C, gen, 3.0), random_vector<double>(C, gen, 1.0, 0.1)};
    return in;
}

// Everything a kernel writes, for one mode (training or given statistics).
template <typename T>
struct Results {
    std::vector<T> y, dx, dx_fresh, dgamma, dbeta;
    std::vector<double> mean, var, rstd;
};

// The fast kernels (fast = true) or the reference ones, on the same inputs; dx starts at 0.5
// (accumulated into), dx_fresh at NaN (assigned), dγ and dβ at 1 (accumulated into).
template <typename T>
Results<T> run(bool fast, const Sizes& s, const Inputs<T>& in, bool training, bool affine) {
    const size_t numel = static_cast<size_t>(s.N * s.C * s.inner), C = static_cast<size_t>(s.C);
    Results<T> r{std::vector<T>(numel),
                 std::vector<T>(numel, T(0.5)),
                 std::vector<T>(numel, std::numeric_limits<T>::quiet_NaN()),
                 std::vector<T>(C, T(1)),
                 std::vector<T>(C, T(1)),
                 std::vector<double>(C),
                 std::vector<double>(C),
                 std::vector<double>(C)};
    const T* g = affine ? in.gamma.data() : nullptr;
    const T* b = affine ? in.beta.data() : nullptr;
    if (training) {
        (fast ? kernels::batch_norm_forward<T> : kernels::batch_norm_forward_reference<T>)(
            r.y.data(), r.mean.data(), r.var.data(), r.rstd.data(), in.x.data(), g, b, s.N, s.C, s.inner, 1e-5);
    } else {
        r.mean = in.running_mean;
        r.rstd = in.running_rstd;
        (fast ? kernels::batch_norm_forward_eval<T> : kernels::batch_norm_forward_eval_reference<T>)(
            r.y.data(), in.x.data(), r.mean.data(), r.rstd.data(), g, b, s.N, s.C, s.inner);
    }
    auto backward = fast ? kernels::batch_norm_backward<T> : kernels::batch_norm_backward_reference<T>;
    backward(r.dx.data(), affine ? r.dgamma.data() : nullptr, affine ? r.dbeta.data() : nullptr, in.dy.data(),
             in.x.data(), r.mean.data(), r.rstd.data(), g, s.N, s.C, s.inner, training, true);
    backward(r.dx_fresh.data(), nullptr, nullptr, in.dy.data(), in.x.data(), r.mean.data(), r.rstd.data(), g, s.N, s.C,
             s.inner, training, false);
    return r;
}

template <typename T>
void compare_with_reference(const Sizes& s, double tol) {
    const Inputs<T> in = make_inputs<T>(s, static_cast<uint64_t>(s.N * 10007 + s.C * 101 + s.inner));
    for (bool training : {true, false})
        for (bool affine : {true, false}) {
            BOOST_TEST_CONTEXT("N=" << s.N << " C=" << s.C << " inner=" << s.inner << (training ? " training" : " eval")
                                    << (affine ? " affine" : "")) {
                const Results<T> fast = run(true, s, in, training, affine), ref = run(false, s, in, training, affine);
                BOOST_TEST(worst(fast.y, ref.y, tol) <= 1.0);
                if (training) {
                    BOOST_TEST(worst(fast.mean, ref.mean, 1e-13) <= 1.0);
                    // For float the variance is summed in float blocks (sum_squared_from): ~1e-7.
                    BOOST_TEST(worst(fast.var, ref.var, std::is_same_v<T, float> ? 1e-6 : 1e-12) <= 1.0);
                    BOOST_TEST(worst(fast.rstd, ref.rstd, std::is_same_v<T, float> ? 1e-6 : 1e-12) <= 1.0);
                }
                BOOST_TEST(worst(fast.dx, ref.dx, tol) <= 1.0);
                BOOST_TEST(worst(fast.dx_fresh, ref.dx_fresh, tol) <= 1.0);  // no NaN left from before
                BOOST_TEST(worst(fast.dgamma, ref.dgamma, tol * 10) <= 1.0);
                BOOST_TEST(worst(fast.dbeta, ref.dbeta, tol * 10) <= 1.0);
            }
        }
}

const std::vector<Sizes> small_sizes{
    {4, 3, 1}, {2, 5, 1}, {7, 2, 3}, {3, 4, 15},   // columns
    {2, 3, 16}, {3, 2, 17}, {1, 3, 49}, {5, 2, 100}  // planes
};

}  // namespace

BOOST_DATA_TEST_CASE(fast_kernels_match_reference, bdata::make({1, 2}), threads) {
    set_num_threads(threads);
    for (const Sizes& s : small_sizes) {
        compare_with_reference<float>(s, 1e-5);
        compare_with_reference<double>(s, 1e-12);
    }
}

// Large enough to run in parallel, both ways: BatchNorm1d features, and images.
BOOST_DATA_TEST_CASE(large_inputs_match_reference, bdata::make({1, 2}), threads) {
    set_num_threads(threads);
    compare_with_reference<float>({512, 257, 1}, 1e-5);
    compare_with_reference<float>({8, 5, 3136}, 1e-5);
    compare_with_reference<double>({64, 67, 3}, 1e-12);
    compare_with_reference<double>({4, 3, 7001}, 1e-12);
}

// A large mean and a small spread: the statistics must not be E[x²] − E[x]².
BOOST_AUTO_TEST_CASE(statistics_are_stable_under_a_large_mean) {
    for (const Sizes& s : {Sizes{6, 2, 1}, Sizes{6, 2, 64}}) {
        Generator gen(3);
        const size_t numel = static_cast<size_t>(s.N * s.C * s.inner);
        const auto x = random_vector<double>(numel, gen, 1e4, 1e-2);
        std::vector<double> y(numel), mean(2), var(2), rstd(2), y_ref(numel), mean_ref(2), var_ref(2), rstd_ref(2);
        kernels::batch_norm_forward<double>(y.data(), mean.data(), var.data(), rstd.data(), x.data(), nullptr, nullptr,
                                            s.N, s.C, s.inner, 0.0);
        kernels::batch_norm_forward_reference<double>(y_ref.data(), mean_ref.data(), var_ref.data(), rstd_ref.data(),
                                                      x.data(), nullptr, nullptr, s.N, s.C, s.inner, 0.0);
        // E[x²] − E[x]² would be off by ~1e-4 of the variance here, and y by ~5e-5.
        BOOST_TEST(worst(var, var_ref, 1e-8) <= 1.0);
        BOOST_TEST(worst(y, y_ref, 1e-8) <= 1.0);
        const auto xf = random_vector<float>(numel, gen, 1e3, 1e-1);
        std::vector<float> yf(numel), yf_ref(numel);
        kernels::batch_norm_forward<float>(yf.data(), mean.data(), var.data(), rstd.data(), xf.data(), nullptr, nullptr,
                                           s.N, s.C, s.inner, 0.0);
        kernels::batch_norm_forward_reference<float>(yf_ref.data(), mean_ref.data(), var_ref.data(), rstd_ref.data(),
                                                     xf.data(), nullptr, nullptr, s.N, s.C, s.inner, 0.0);
        BOOST_TEST(worst(var, var_ref, 1e-5) <= 1.0);
        BOOST_TEST(worst(yf, yf_ref, 1e-5) <= 1.0);
    }
}

BOOST_AUTO_TEST_CASE(results_are_bit_identical_at_1_and_2_threads) {
    for (const Sizes& s : {Sizes{512, 257, 1}, Sizes{8, 5, 3136}, Sizes{64, 67, 3}})
        for (bool training : {true, false}) {
            const Inputs<float> f = make_inputs<float>(s, 11);
            const Inputs<double> d = make_inputs<double>(s, 12);
            set_num_threads(1);
            const Results<float> f1 = run(true, s, f, training, true);
            const Results<double> d1 = run(true, s, d, training, true);
            set_num_threads(2);
            const Results<float> f2 = run(true, s, f, training, true);
            const Results<double> d2 = run(true, s, d, training, true);
            BOOST_TEST(same_bits(f1.y, f2.y));
            BOOST_TEST(same_bits(f1.rstd, f2.rstd));
            BOOST_TEST(same_bits(f1.dx, f2.dx));
            BOOST_TEST(same_bits(f1.dgamma, f2.dgamma));
            BOOST_TEST(same_bits(f1.dbeta, f2.dbeta));
            BOOST_TEST(same_bits(d1.y, d2.y));
            BOOST_TEST(same_bits(d1.dx_fresh, d2.dx_fresh));
            BOOST_TEST(same_bits(d1.dgamma, d2.dgamma));
        }
}

// Ghost batches' update of the running statistics: one group is the plain update, to the bit;
// several are one update with their statistics averaged; none change nothing.
BOOST_AUTO_TEST_CASE(grouped_running_statistics_update_averages_the_groups) {
    Generator gen(7);
    const int64_t C = 11, groups = 3, n = 12;  // 11 channels: the double lanes and a tail
    const std::vector<double> mean = random_vector<double>(size_t(groups * C), gen);
    const std::vector<double> var = random_vector<double>(size_t(groups * C), gen, 2.0, 0.5);
    const std::vector<float> rm0 = random_vector<float>(size_t(C), gen);
    const std::vector<float> rv0 = random_vector<float>(size_t(C), gen, 1.0, 0.2);
    std::vector<float> rm = rm0, rv = rv0, want_m = rm0, want_v = rv0;
    kernels::batch_norm_update_running_stats_grouped<float>(rm.data(), rv.data(), mean.data(), var.data(), 1, C, 0.1,
                                                            n);
    kernels::batch_norm_update_running_stats<float>(want_m.data(), want_v.data(), mean.data(), var.data(), C, 0.1, n);
    BOOST_TEST(same_bits(rm, want_m));
    BOOST_TEST(same_bits(rv, want_v));
    rm = rm0, rv = rv0;
    kernels::batch_norm_update_running_stats_grouped<float>(rm.data(), rv.data(), mean.data(), var.data(), groups, C,
                                                            0.25, n);
    for (int64_t c = 0; c < C; ++c) {
        double m = 0.0, v = 0.0;
        for (int64_t g = 0; g < groups; ++g) {
            m += mean[size_t(g * C + c)] / double(groups);
            v += var[size_t(g * C + c)] / double(groups);
        }
        const double want_mean = 0.75 * rm0[size_t(c)] + 0.25 * m;
        const double want_var = 0.75 * rv0[size_t(c)] + 0.25 * v * double(n) / double(n - 1);
        BOOST_TEST(std::abs(rm[size_t(c)] - want_mean) <= 1e-6 * std::max(1.0, std::abs(want_mean)));
        BOOST_TEST(std::abs(rv[size_t(c)] - want_var) <= 1e-6 * want_var);
    }
    rm = rm0, rv = rv0;
    kernels::batch_norm_update_running_stats_grouped<float>(rm.data(), rv.data(), mean.data(), var.data(), 0, C, 0.1,
                                                            n);
    BOOST_TEST(same_bits(rm, rm0));
    BOOST_TEST(same_bits(rv, rv0));
}
