// The vectorised ReLU kernels against their scalar reference twins, bit for bit: sizes whose
// tails do not fill a register, sizes large enough to run on several threads, both modes of
// the backward, and the awkward values (±0, ±inf, NaN), in float and double.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "framework/generator.hpp"
#include "framework/kernels/activation.hpp"
#include "framework/threading.hpp"
#include "support/tensors.hpp"

using namespace tapegrad;
using tapegrad::testing::same_bits;

namespace {

template <typename T>
std::vector<T> values(size_t n, Generator& gen) {
    std::vector<T> v(n);
    for (T& e : v) e = static_cast<T>(gen.normal());
    const T specials[] = {T(0), -T(0), std::numeric_limits<T>::infinity(), -std::numeric_limits<T>::infinity(),
                          std::numeric_limits<T>::quiet_NaN(), std::numeric_limits<T>::denorm_min()};
    for (size_t i = 0; i < n; i += 7) v[i] = specials[(i / 7) % std::size(specials)];
    return v;
}

template <typename T>
void check(size_t n, int threads) {
    set_num_threads(threads);
    Generator gen(n + 17);
    const auto x = values<T>(n, gen), dy = values<T>(n, gen), start = values<T>(n, gen);
    std::vector<T> y(n), y_ref(n);
    kernels::relu_forward(y.data(), x.data(), static_cast<int64_t>(n));
    kernels::relu_forward_reference(y_ref.data(), x.data(), static_cast<int64_t>(n));
    BOOST_TEST(same_bits(y, y_ref), "relu forward, n=" << n << ", threads=" << threads);
    for (bool accumulate : {false, true}) {
        std::vector<T> dx = start, dx_ref = start;
        kernels::relu_backward(dx.data(), dy.data(), x.data(), static_cast<int64_t>(n), accumulate);
        kernels::relu_backward_reference(dx_ref.data(), dy.data(), x.data(), static_cast<int64_t>(n), accumulate);
        BOOST_TEST(same_bits(dx, dx_ref),
                   "relu backward, n=" << n << ", threads=" << threads << ", accumulate=" << accumulate);
    }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(activation_kernels)

BOOST_AUTO_TEST_CASE(relu_matches_reference) {
    const int saved = get_num_threads();
    for (int threads : {1, 2})
        for (size_t n : {size_t{0}, size_t{1}, size_t{15}, size_t{16}, size_t{17}, size_t{1023}, size_t{65537},
                         size_t{70001}, size_t{1} << 17}) {
            check<float>(n, threads);
            check<double>(n, threads);
        }
    set_num_threads(saved);
}

// The reference itself: PyTorch's rule, with the gradient at exactly 0 equal to 0.
BOOST_AUTO_TEST_CASE(reference_is_relu) {
    const float x[] = {-1.0f, 0.0f, -0.0f, 2.5f};
    const float dy[] = {1.0f, 1.0f, 1.0f, 3.0f};
    float y[4], dx[4];
    kernels::relu_forward_reference(y, x, 4);
    kernels::relu_backward_reference(dx, dy, x, 4, false);
    BOOST_TEST(y[0] == 0.0f);
    BOOST_TEST(y[3] == 2.5f);
    BOOST_TEST(dx[0] == 0.0f);
    BOOST_TEST(dx[1] == 0.0f);
    BOOST_TEST(dx[2] == 0.0f);
    BOOST_TEST(dx[3] == 3.0f);
}

BOOST_AUTO_TEST_SUITE_END()
