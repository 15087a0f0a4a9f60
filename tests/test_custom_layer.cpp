// The custom layer of examples/custom_layer (Weight Standardization) through the shared
// checks: the op's backward against finite differences, and the whole layer (input, weight
// and bias) the same way; plus the forward's defining property.
#include <boost/test/unit_test.hpp>

#include <cmath>

#include "examples/custom_layer/ws_conv2d.hpp"
#include <tapegrad/tapegrad.hpp>
#include "support/gradcheck.hpp"

using namespace tapegrad;
using namespace tapegrad::testing;

BOOST_AUTO_TEST_CASE(weight_standardize_backward_matches_finite_differences) {
    Generator gen(5);
    check_gradients("weight_standardize", [](const auto& in) { return ws::weight_standardize(in[0]); },
                    {randn<double>({4, 3, 3, 3}, &gen, true)});
    check_gradients("weight_standardize (large offset)", [](const auto& in) { return ws::weight_standardize(in[0]); },
                    {add(randn<double>({2, 5}, &gen), scalar_tensor(3.0)).clone().requires_grad_()});
}

BOOST_AUTO_TEST_CASE(ws_conv2d_layer_passes_the_module_gradient_check) {
    ws::BasicWSConv2d<double> conv(2, 3, 3, 1, 1);
    Generator gen(6);
    check_module_gradients("WSConv2d", conv, randn<double>({2, 2, 5, 5}, &gen));
    BOOST_TEST(conv.repr() == "WSConv2d(2, 3, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))");
}

BOOST_AUTO_TEST_CASE(standardised_rows_have_zero_mean_and_unit_variance) {
    const DoubleTensor w = randn<double>({3, 8});
    const DoubleTensor s = ws::weight_standardize(w, 0.0);
    for (int64_t o = 0; o < 3; ++o) {
        double mean = 0.0, var = 0.0;
        for (int64_t i = 0; i < 8; ++i) mean += s.data()[o * 8 + i] / 8;
        for (int64_t i = 0; i < 8; ++i) var += std::pow(s.data()[o * 8 + i] - mean, 2) / 8;
        BOOST_TEST(std::abs(mean) < 1e-12);
        BOOST_TEST(std::abs(var - 1.0) < 1e-12);
    }
}
