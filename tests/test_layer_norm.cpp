// LayerNorm: PyTorch golden values (tests/golden/layer_norm.json) through the shared golden
// check, the layer through the shared finite-difference check over a table of shapes, the
// seed doc's equivalence with GroupNorm(1, C), numerical stability, printing, and every bad
// input with PyTorch's message.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>

#include <tapegrad/tapegrad.hpp>
#include "support/golden.hpp"
#include "support/gradcheck.hpp"
#include "support/messages.hpp"
#include "support/tensors.hpp"

using namespace tapegrad;
using namespace tapegrad::testing;

namespace {

// The op of a case of layer_norm.json, from its attributes, in precision T.
template <typename T>
OpFn<T> make_op(const GoldenCase& c) {
    const bool affine = c.attrs.at("elementwise_affine").get<bool>();
    BOOST_TEST(c.inputs.size() == (affine ? 3u : 1u), c.name << ": x, and weight and bias when elementwise_affine");
    const Shape normalized_shape = c.attrs.at("normalized_shape").get<Shape>();
    const double eps = c.attrs.at("eps").get<double>();
    return [normalized_shape, eps](const std::vector<BasicTensor<T>>& in) {
        return in.size() == 3 ? layer_norm(in[0], normalized_shape, in[1], in[2], eps)
                              : layer_norm(in[0], normalized_shape, {}, {}, eps);
    };
}

}  // namespace

BOOST_AUTO_TEST_SUITE(layer_norm_layer)

// Every fixture case, forward and all gradients against PyTorch in float32 and float64, and
// by finite differences in double.
BOOST_AUTO_TEST_CASE(matches_pytorch_golden_values_and_passes_the_gradient_check) {
    const int ran = check_golden_cases("layer_norm.json", "layer_norm", make_op<float>, make_op<double>);
    BOOST_TEST(ran >= 16);
    BOOST_TEST(size_t(ran) == load_golden("layer_norm.json").size(),
               "every case of layer_norm.json is a layer_norm case");
}

struct ShapeCase {
    Shape shape;
    Shape normalized_shape;
    bool affine;
};

// The layer, by finite differences over its input and its parameters (γ and β away from
// their initial ones and zeros, so that no term of the backward vanishes).
BOOST_AUTO_TEST_CASE(gradient_check_over_shapes) {
    const std::vector<ShapeCase> table = {
        {{4, 6}, {6}, true},          {{3, 5}, {5}, false},          {{1, 7}, {7}, true},            // rank 2
        {{2, 3, 5}, {5}, true},       {{2, 3, 5}, {3, 5}, true},     {{3, 4, 3}, {4, 3}, false},     // rank 3
        {{2, 3, 2, 3}, {3}, true},    {{2, 3, 2, 3}, {2, 3}, true},  {{2, 3, 2, 3}, {3, 2, 3}, true}, // rank 4
        {{2, 2, 3, 3}, {2, 3, 3}, false}, {{5}, {5}, true},                                           // one row
    };
    Generator gen(7);
    for (const ShapeCase& s : table) {
        BasicLayerNorm<double> ln(s.normalized_shape, 1e-5, s.affine);
        const DoubleTensor x = randn<double>(s.shape, &gen, true);
        if (s.affine) {
            const int64_t M = shape_numel(s.normalized_shape);
            const DoubleTensor weight = add(ones<double>(s.normalized_shape), randn<double>(s.normalized_shape, &gen));
            const DoubleTensor bias = randn<double>(s.normalized_shape, &gen);
            std::copy_n(weight.data(), M, ln.weight().data());
            std::copy_n(bias.data(), M, ln.bias().data());
        }
        BOOST_TEST(ln.named_parameters().size() == (s.affine ? 2u : 0u));
        check_module_gradients(ln.repr() + " on " + to_string(s.shape), ln, x);
    }
}

// The seed doc: GroupNorm(1, C) is LayerNorm({C, H, W}) with γ = 1, β = 0, forward and every
// gradient (GroupNorm's per-channel dγ, dβ are LayerNorm's per-element ones summed over H·W).
BOOST_AUTO_TEST_CASE(group_norm_with_one_group_equals_layer_norm_over_c_h_w) {
    const int64_t N = 3, C = 4, H = 5, W = 6;
    Generator gen(5);
    const DoubleTensor x0 = randn<double>({N, C, H, W}, &gen);
    const DoubleTensor dy = randn<double>({N, C, H, W}, &gen);
    BasicGroupNorm<double> gn(1, C);
    BasicLayerNorm<double> ln({C, H, W});
    DoubleTensor xg = x0.clone(), xl = x0.clone();
    xg.requires_grad_();
    xl.requires_grad_();
    DoubleTensor yg, yl;
    {
        Tape tape;
        yg = gn(xg);
        tape.backward(yg, dy);
    }
    {
        Tape tape;
        yl = ln(xl);
        tape.backward(yl, dy);
    }
    BOOST_TEST(max_difference(yg, yl) < 1e-12);
    BOOST_TEST(max_difference(xg.grad(), xl.grad()) < 1e-12);
    const double* dwl = ln.weight().grad().data();
    const double* dbl = ln.bias().grad().data();
    for (int64_t c = 0; c < C; ++c) {
        double dw = 0.0, db = 0.0;
        for (int64_t i = 0; i < H * W; ++i) {
            dw += dwl[c * H * W + i];
            db += dbl[c * H * W + i];
        }
        BOOST_TEST(std::abs(gn.weight().grad().data()[c] - dw) < 1e-12);
        BOOST_TEST(std::abs(gn.bias().grad().data()[c] - db) < 1e-12);
    }
}

BOOST_AUTO_TEST_CASE(float32_statistics_are_stable_for_a_large_mean) {
    // mean 1e4, std 1e-2: E[x²] − E[x]² would lose every digit of the variance in float32.
    Generator gen(3);
    const Tensor x = add(full<float>({16, 8, 32}, 1e4f), mul(randn<float>({16, 8, 32}, &gen), scalar_tensor(1e-2f)));
    const Tensor y = layer_norm(x, {8, 32});
    const DoubleTensor y64 = layer_norm(cast<double>(x), {8, 32});
    double worst = 0.0;
    for (int64_t i = 0; i < y.numel(); ++i)
        worst = std::max(worst, std::abs(double(y.data()[i]) - y64.data()[i]) / std::max(1.0, std::abs(y64.data()[i])));
    BOOST_TEST(worst < 1e-6, "relative error " << worst << " (the kernels accumulate in double)");
}

BOOST_AUTO_TEST_CASE(parameters_defaults_and_printing) {
    LayerNorm ln({4, 5});
    const auto named = ln.named_parameters();
    BOOST_TEST_REQUIRE(named.size() == 2u);
    BOOST_TEST(named[0].first == "weight");
    BOOST_TEST(named[1].first == "bias");
    BOOST_TEST(to_string(ln.weight().shape()) == "[4, 5]");
    for (float v : ln.weight().to_vector()) BOOST_TEST(v == 1.0f);
    for (float v : ln.bias().to_vector()) BOOST_TEST(v == 0.0f);
    BOOST_TEST(ln.weight().requires_grad());
    BOOST_TEST(ln.repr() == "LayerNorm((4, 5), eps=1e-05, elementwise_affine=True)");
    LayerNorm plain(LayerNormOptions{.normalized_shape = {4}, .eps = 1e-3, .elementwise_affine = false});
    BOOST_TEST(plain.parameters().empty());
    BOOST_TEST(!plain.weight().defined());
    BOOST_TEST(plain.repr() == "LayerNorm((4,), eps=0.001, elementwise_affine=False)");
    BOOST_TEST(ln.state_dict().size() == 2u);
}

BOOST_AUTO_TEST_CASE(same_result_in_train_and_eval) {
    LayerNorm ln({5});
    const Tensor x = randn({2, 4, 5});
    const Tensor a = ln(x);
    ln.eval();
    const Tensor b = ln(x);
    BOOST_TEST(a.to_vector() == b.to_vector(), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(constant_row_gives_finite_output_and_gradients) {
    Tensor x = full<float>({2, 3, 4}, 2.5f, true);
    LayerNorm ln({3, 4});
    Tape tape;
    Tensor y = ln(x);
    tape.backward(sum(mul(y, y)));
    for (float v : y.values()) BOOST_TEST(v == 0.0f);
    for (float v : x.grad().to_vector()) BOOST_TEST(std::isfinite(v));
    for (float v : ln.weight().grad().to_vector()) BOOST_TEST(std::isfinite(v));
}

// PyTorch 1.13's messages, word for word (F.layer_norm and nn.LayerNorm).
BOOST_AUTO_TEST_CASE(bad_input_is_pytorchs_error) {
    auto expect = [](auto&& f, const std::string& text) {
        BOOST_CHECK_EXCEPTION(f(), std::invalid_argument,
                              [&](const std::invalid_argument& e) { return message_is(e, text); });
    };
    LayerNorm ln({3, 5});
    expect([&] { return ln(zeros({2, 3, 4})); },
           "Given normalized_shape=[3, 5], expected input with shape [*, 3, 5], but got input of size[2, 3, 4]");
    expect([&] { return layer_norm(zeros({4}), {3, 4}); },
           "Given normalized_shape=[3, 4], expected input with shape [*, 3, 4], but got input of size[4]");
    expect([&] { return layer_norm(zeros({2, 3, 4}), {}); },
           "Expected normalized_shape to be at least 1-dimensional, i.e., containing at least one element, but got "
           "normalized_shape = []");
    expect(
        [&] {
            return layer_norm(zeros({2, 3, 4}), {4}, ones({3}));
        },
        "Expected weight to be of same shape as normalized_shape, but got weight of shape [3] and normalized_shape = "
        "[4]");
    expect(
        [&] {
            return layer_norm(zeros({2, 3, 4}), {4}, {}, ones({3}));
        },
        "Expected bias to be of same shape as normalized_shape, but got bias of shape [3] and normalized_shape = [4]");
    BOOST_CHECK_THROW(LayerNorm({-1}), std::invalid_argument);
    BOOST_CHECK_THROW(LayerNorm({4}, -1.0), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(empty_batch_gives_empty_output_and_zero_parameter_gradients) {
    LayerNorm ln({3});
    Tensor x = zeros({0, 3}, true);
    Tape tape;
    Tensor y = ln(x);
    BOOST_TEST(to_string(y.shape()) == "[0, 3]");
    tape.backward(y, zeros(y.shape()));
    BOOST_TEST_REQUIRE(ln.weight().grad().defined());
    for (float v : ln.weight().grad().to_vector()) BOOST_TEST(v == 0.0f);
}

BOOST_AUTO_TEST_SUITE_END()
