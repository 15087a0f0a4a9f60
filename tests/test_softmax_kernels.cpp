// The log_softmax forward kernel (double lanes, converted in registers) against its scalar
// reference twin, bit for bit: row lengths around the lane counts, large and infinite logits,
// float and double. Its backward is checked by finite differences in test_ops.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "framework/generator.hpp"
#include "framework/kernels/softmax.hpp"
#include "support/tensors.hpp"

using namespace tapegrad;

namespace {

template <typename T>
void check(int64_t N, int64_t C) {
    Generator gen(static_cast<uint64_t>(N * 131 + C));
    std::vector<T> x(static_cast<size_t>(N * C));
    for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<T>(gen.normal() * (i % 5 == 0 ? 1e3 : 3.0));
    if (C > 1) x[0] = -std::numeric_limits<T>::infinity();  // a row of only -inf is NaN, as in PyTorch
    std::vector<T> y(x.size()), y_ref(x.size());
    kernels::log_softmax_forward(y.data(), x.data(), N, C);
    kernels::log_softmax_forward_reference(y_ref.data(), x.data(), N, C);
    BOOST_TEST(testing::same_bits(y, y_ref), "N=" << N << " C=" << C);
    // And the reference is log_softmax: each row's probabilities sum to 1.
    for (int64_t n = 0; n < N; ++n) {
        double s = 0.0;
        for (int64_t j = 0; j < C; ++j) s += std::exp(static_cast<double>(y_ref[static_cast<size_t>(n * C + j)]));
        BOOST_TEST(std::abs(s - 1.0) < 1e-5, "row " << n << " sums to " << s);
    }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(softmax_kernels)

BOOST_AUTO_TEST_CASE(forward_matches_reference) {
    for (int64_t C : {1, 2, 3, 7, 8, 9, 10, 16, 17, 100})
        for (int64_t N : {1, 4}) {
            check<float>(N, C);
            check<double>(N, C);
        }
}

BOOST_AUTO_TEST_SUITE_END()
