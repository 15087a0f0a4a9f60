// The optimizer kernels against their scalar reference twins: the Adam/AdamW update with each
// of its variants (amsgrad, L2 or decoupled decay, maximize) over several steps, and the
// gradient-norm pieces, at sizes whose tails do not fill a register and sizes large enough to
// run on several threads, in float and double. The update's operations are the same on both
// sides; the compiler may fuse a multiply and an add differently in a loop and in a batch,
// so values agree to a few units in the last place, not always bit for bit.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <limits>
#include <vector>

#include "framework/generator.hpp"
#include "framework/kernels/adam.hpp"
#include "framework/kernels/grad_norm.hpp"
#include "framework/threading.hpp"
#include "support/tensors.hpp"

using namespace tapegrad;
using tapegrad::testing::same_bits;
using tapegrad::testing::worst;

namespace {

const std::vector<size_t> sizes{0, 1, 7, 16, 33, 1000, (size_t{1} << 17) + 3};

template <typename T>
std::vector<T> normal(size_t n, Generator& gen, double scale = 1.0) {
    std::vector<T> v(n);
    for (T& e : v) e = static_cast<T>(scale * gen.normal());
    return v;
}

template <typename T>
void check_adam(size_t n, int threads, const kernels::AdamStep& options) {
    set_num_threads(threads);
    Generator gen(n + 3);
    std::vector<T> p = normal<T>(n, gen), m(n, T(0)), v(n, T(0)), v_max(n, T(0));
    std::vector<T> p_ref = p, m_ref = m, v_ref = v, v_max_ref = v_max;
    const double tol = 16 * std::numeric_limits<T>::epsilon();
    for (int64_t step = 1; step <= 4; ++step) {
        std::vector<T> g = normal<T>(n, gen, step == 3 ? 1e-3 : 1.0);  // a small step: the max must hold
        if (n > 0) g[0] = T(0);
        kernels::AdamStep s = options;
        s.step = step;
        T* max_ptr = s.amsgrad ? v_max.data() : nullptr;
        T* max_ref_ptr = s.amsgrad ? v_max_ref.data() : nullptr;
        kernels::adam_update(p.data(), m.data(), v.data(), max_ptr, g.data(), int64_t(n), s);
        kernels::adam_update_reference(p_ref.data(), m_ref.data(), v_ref.data(), max_ref_ptr, g.data(), int64_t(n), s);
        BOOST_TEST_CONTEXT("n=" << n << " threads=" << threads << " step " << step << " amsgrad=" << s.amsgrad
                                << " decoupled=" << s.decoupled << " maximize=" << s.maximize
                                << " weight_decay=" << s.weight_decay) {
            BOOST_TEST(worst(p, p_ref, tol) <= 1.0);
            BOOST_TEST(worst(m, m_ref, tol) <= 1.0);
            BOOST_TEST(worst(v, v_ref, tol) <= 1.0);
            if (s.amsgrad) BOOST_TEST(worst(v_max, v_max_ref, tol) <= 1.0);
            if (!s.amsgrad) BOOST_TEST(same_bits(v_max, v_max_ref));  // untouched without amsgrad
        }
    }
}

template <typename T>
void check_norms(size_t n, int threads) {
    set_num_threads(threads);
    Generator gen(n + 11);
    std::vector<T> x = normal<T>(n, gen);
    for (double p : {1.0, 2.0, 3.0, 0.5}) {
        const double ours = kernels::norm_power_sum(x.data(), int64_t(n), p);
        const double ref = kernels::norm_power_sum_reference(x.data(), int64_t(n), p);
        BOOST_TEST(std::abs(ours - ref) <= 1e-12 * std::max(1.0, ref),
                   "norm_power_sum n=" << n << " p=" << p << ": " << ours << " vs " << ref);
    }
    BOOST_TEST(kernels::max_abs(x.data(), int64_t(n)) == kernels::max_abs_reference(x.data(), int64_t(n)),
               "max_abs n=" << n);
    std::vector<T> y = x, y_ref = x;
    kernels::scale_in_place(y.data(), int64_t(n), T(0.375));
    kernels::scale_in_place_reference(y_ref.data(), int64_t(n), T(0.375));
    BOOST_TEST(same_bits(y, y_ref), "scale_in_place n=" << n);
    if (n > 0) {
        x[n / 2] = std::numeric_limits<T>::quiet_NaN();  // as PyTorch's abs().max(): NaN wins
        BOOST_TEST(std::isnan(kernels::max_abs(x.data(), int64_t(n))));
        BOOST_TEST(std::isnan(kernels::norm_power_sum(x.data(), int64_t(n), 2.0)));
        x[n / 2] = -std::numeric_limits<T>::infinity();
        BOOST_TEST(kernels::max_abs(x.data(), int64_t(n)) == INFINITY);
    }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(optim_kernels)

BOOST_AUTO_TEST_CASE(adam_update_matches_reference) {
    const std::vector<kernels::AdamStep> variants{
        {.lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8},
        {.lr = 0.01, .beta1 = 0.8, .beta2 = 0.99, .eps = 1e-6, .weight_decay = 0.1},
        {.lr = 0.01, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.05, .amsgrad = true},
        {.lr = 0.02, .beta1 = 0.5, .beta2 = 0.9, .eps = 1e-8, .weight_decay = 0.1, .decoupled = true},
        {.lr = 0.02, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-3, .weight_decay = 0.01, .amsgrad = true, .maximize = true,
         .decoupled = true},
    };
    for (const auto& v : variants)
        for (size_t n : sizes)
            for (int threads : {1, 2}) {
                check_adam<float>(n, threads, v);
                check_adam<double>(n, threads, v);
            }
}

BOOST_AUTO_TEST_CASE(adam_first_step_is_a_signed_lr) {
    // From zero state, m̂ = g and v̂ = g², so the first step moves each element by lr·g/(|g| + eps).
    std::vector<double> p{1.0, 1.0, 1.0}, m(3, 0.0), v(3, 0.0);
    const std::vector<double> g{2.0, -0.5, 0.0};
    kernels::adam_update<double>(p.data(), m.data(), v.data(), nullptr, g.data(), 3,
                                 {.lr = 0.1, .beta1 = 0.9, .beta2 = 0.999, .eps = 0.0});
    BOOST_TEST(std::abs(p[0] - 0.9) <= 1e-15);
    BOOST_TEST(std::abs(p[1] - 1.1) <= 1e-15);
    BOOST_TEST(std::isnan(p[2]));  // 0/0 with eps = 0, as PyTorch
}

BOOST_AUTO_TEST_CASE(grad_norm_pieces_match_reference) {
    for (size_t n : sizes)
        for (int threads : {1, 2}) {
            check_norms<float>(n, threads);
            check_norms<double>(n, threads);
        }
}

BOOST_AUTO_TEST_SUITE_END()
