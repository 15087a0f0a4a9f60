// GroupNorm: PyTorch golden values (tests/golden/group_norm.json) through the shared golden
// check, the layer through the shared finite-difference check over a table of shapes, the
// seed doc's equivalences, numerical stability, and every bad input.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include <nlohmann/json.hpp>

#include <tapegrad/tapegrad.hpp>
#include "support/golden.hpp"
#include "support/gradcheck.hpp"
#include "support/messages.hpp"
#include "support/tensors.hpp"

using namespace tapegrad;
using namespace tapegrad::testing;

namespace {

template <typename T>
OpFn<T> group_norm_op(int64_t groups, double eps) {
    return [groups, eps](const std::vector<BasicTensor<T>>& in) {
        return in.size() == 3 ? group_norm(in[0], groups, in[1], in[2], eps) : group_norm(in[0], groups, {}, {}, eps);
    };
}

// The op of a case of group_norm.json, from its attributes, in precision T.
template <typename T>
OpFn<T> make_op(const GoldenCase& c) {
    BOOST_TEST(c.inputs.size() == (c.attrs.at("affine").get<bool>() ? 3u : 1u),
               c.name << ": x, and weight and bias when affine");
    return group_norm_op<T>(c.attrs.at("num_groups").get<int64_t>(), c.attrs.at("eps").get<double>());
}

// x with each contiguous slice of `slice` elements normalised by its own mean and biased
// variance (eps = 1e-5), written out plainly: the reference for the equivalences below.
DoubleTensor normalise_each_slice(const DoubleTensor& x, int64_t slice) {
    DoubleTensor out(x.shape());
    for (int64_t start = 0; start < x.numel(); start += slice) {
        const double* v = x.data() + start;
        double mu = 0, var = 0;
        for (int64_t k = 0; k < slice; ++k) mu += v[k] / slice;
        for (int64_t k = 0; k < slice; ++k) var += std::pow(v[k] - mu, 2) / slice;
        for (int64_t k = 0; k < slice; ++k) out.data()[start + k] = (v[k] - mu) / std::sqrt(var + 1e-5);
    }
    return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(group_norm_layer)

// Every fixture case, forward and all gradients against PyTorch in float32 and float64, and
// by finite differences in double.
BOOST_AUTO_TEST_CASE(matches_pytorch_golden_values_and_passes_the_gradient_check) {
    // A constant group has rstd = 1/sqrt(eps): the function is steep, so the step is smaller.
    const int ran = check_golden_cases("group_norm.json", "group_norm", make_op<float>, make_op<double>,
                                       {.step = 1e-7, .atol = 1e-5, .rtol = 1e-5});
    BOOST_TEST(ran >= 20);
    BOOST_TEST(size_t(ran) == load_golden("group_norm.json").size(),
               "every case of group_norm.json is a group_norm case");
}

struct ShapeCase {
    Shape shape;
    int64_t groups;
    bool affine;
};

// The layer, by finite differences over its input and its parameters (γ and β away from
// their initial ones and zeros, so that no term of the backward vanishes).
BOOST_AUTO_TEST_CASE(gradient_check_over_shapes) {
    const std::vector<ShapeCase> table = {
        {{4, 6}, 1, true},           {{4, 6}, 6, true},          {{3, 6}, 3, false},        // rank 2
        {{2, 4, 5}, 2, true},        {{1, 4, 5}, 4, false},      {{2, 6, 7}, 1, true},     // rank 3, N = 1
        {{2, 6, 3, 4}, 3, true},     {{1, 6, 3, 4}, 6, true},    {{2, 4, 3, 3}, 1, false}, // rank 4
        {{2, 4, 2, 3, 2}, 2, true},  {{1, 2, 2, 2, 3}, 1, true}, {{2, 3, 2, 2, 2}, 3, false}, // rank 5
        {{3, 8, 1, 1}, 4, true},                                                                // inner size 1
    };
    Generator gen(7);
    for (const ShapeCase& s : table) {
        const int64_t C = s.shape[1];
        BasicGroupNorm<double> gn(s.groups, C, 1e-5, s.affine);
        const DoubleTensor x = randn<double>(s.shape, &gen, true);
        if (s.affine) {
            const DoubleTensor weight = add(ones<double>({C}), randn<double>({C}, &gen));
            const DoubleTensor bias = randn<double>({C}, &gen);
            std::copy_n(weight.data(), C, gn.weight().data());
            std::copy_n(bias.data(), C, gn.bias().data());
        }
        BOOST_TEST(gn.named_parameters().size() == (s.affine ? 2u : 0u));
        check_module_gradients(gn.repr() + " on " + to_string(s.shape), gn, x);
    }
}

BOOST_AUTO_TEST_CASE(group_per_channel_equals_instance_norm) {
    // GroupNorm(C, C): each (n, c) is normalised over its own H·W elements.
    const DoubleTensor x = randn<double>({3, 4, 5, 6});
    BasicGroupNorm<double> gn(4, 4);
    BOOST_TEST(max_difference(gn(x), normalise_each_slice(x, 5 * 6)) < 1e-12);
}

BOOST_AUTO_TEST_CASE(one_group_equals_normalising_each_sample) {
    // GroupNorm(1, C): each sample is normalised over all of (C, *), as LayerNorm over (C, H, W).
    const DoubleTensor x = randn<double>({3, 4, 5});
    BasicGroupNorm<double> gn(1, 4);
    BOOST_TEST(max_difference(gn(x), normalise_each_slice(x, 4 * 5)) < 1e-12);
}

// Float32 output against float64 (rounded to float), in ulp of the float result, on inputs of
// the kinds a network feeds GroupNorm: zero-mean, offset, after a ReLU, and with mean 1000.
// Measured at 8x256x28x28/32 (rows of 784): the float forward summing each slice's moments
// while it normalises the one before, mean 0.26-0.36 ulp, max 2 (as the two-pass kernel before it). A float-lane mean
// (tried) made it 1.1 ulp on average on zero-mean input and up to 4e5 ulp near 0: the mean's error, 3e-8 of the std, is
// many ulp of the small outputs.
BOOST_AUTO_TEST_CASE(float32_output_is_within_3_ulp_of_float64) {
    auto ordered = [](float f) {  // float bits as an integer that counts ulps across 0
        int32_t i;
        std::memcpy(&i, &f, sizeof i);
        return i < 0 ? -static_cast<int64_t>(i & 0x7fffffff) : static_cast<int64_t>(i);
    };
    Generator gen(5);
    struct Input {
        const char* name;
        float mean, std;
        bool relu;
    };
    for (const Input& in : {Input{"N(0, 1)", 0.0f, 1.0f, false}, Input{"N(3, 1)", 3.0f, 1.0f, false},
                            Input{"relu(N(0, 1))", 0.0f, 1.0f, true}, Input{"N(1000, 1)", 1000.0f, 1.0f, false}}) {
        Tensor x = add(full<float>({8, 256, 28, 28}, in.mean),
                       mul(randn<float>({8, 256, 28, 28}, &gen), scalar_tensor(in.std)));
        if (in.relu) x = relu(x);
        const Tensor y = group_norm(x, 32);
        const DoubleTensor y64 = group_norm(cast<double>(x), 32);
        int64_t worst_ulp = 0, total = 0;
        for (int64_t i = 0; i < y.numel(); ++i) {
            const int64_t d = std::llabs(ordered(y.data()[i]) - ordered(static_cast<float>(y64.data()[i])));
            worst_ulp = std::max(worst_ulp, d);
            total += d;
        }
        const double mean_ulp = static_cast<double>(total) / static_cast<double>(y.numel());
        BOOST_TEST_CONTEXT(in.name) {
            // 2 and 0.36 optimised; unoptimised (the debug build, where GCC contracts no
            // a·b + c into an fma) 3 and 0.38.
            BOOST_TEST(worst_ulp <= 3);
            BOOST_TEST(mean_ulp < 0.45);
        }
        BOOST_TEST_MESSAGE(in.name << ": mean " << mean_ulp << " ulp, max " << worst_ulp);
    }
}

BOOST_AUTO_TEST_CASE(float32_statistics_are_stable_for_a_large_mean) {
    // mean 1e4, std 1e-2: E[x²] − E[x]² would lose every digit of the variance in float32.
    Generator gen(3);
    const Tensor x =
        add(full<float>({4, 8, 16, 16}, 1e4f), mul(randn<float>({4, 8, 16, 16}, &gen), scalar_tensor(1e-2f)));
    const Tensor y = group_norm(x, 4);
    const DoubleTensor y64 = group_norm(cast<double>(x), 4);
    double worst = 0.0;
    for (int64_t i = 0; i < y.numel(); ++i)
        worst = std::max(worst, std::abs(double(y.data()[i]) - y64.data()[i]) / std::max(1.0, std::abs(y64.data()[i])));
    BOOST_TEST(worst < 1e-3, "relative error " << worst);
    BOOST_TEST(worst < 1e-6, "relative error " << worst << " (the kernels accumulate in double)");
}

BOOST_AUTO_TEST_CASE(float64_is_exact_to_1e10_for_a_large_mean) {
    // mean 1e4, std 1e-2 in float64, against a reference computed here in long double (64-bit
    // significand; its own error is ~1e-14 of the output scale): the error may be at most
    // 1e-10 of the output scale (PyTorch 1.13's float64 reaches 7e-11 here). A mean rounded
    // once to double is off by up to half an ulp of 1e4 (9e-13), i.e. 9e-11 of the std: the
    // kernel must not add its summation error to that.
    Generator gen(11);
    const int64_t N = 4, C = 8, G = 4, inner = 16 * 16, M = C / G * inner;
    const DoubleTensor x =
        add(full<double>({N, C, 16, 16}, 1e4), mul(randn<double>({N, C, 16, 16}, &gen), scalar_tensor(1e-2)));
    const DoubleTensor y = group_norm(x, G);
    const double* xv = x.data();
    // The output scale: its root mean square (1 here, up to eps's effect), not its largest value.
    double worst = 0.0, sum_sq = 0.0;
    for (int64_t s = 0; s < N * G; ++s) {
        long double sum = 0.0L;
        for (int64_t i = 0; i < M; ++i) sum += static_cast<long double>(xv[s * M + i]);
        const long double mean = sum / M;
        long double sq = 0.0L;
        for (int64_t i = 0; i < M; ++i) sq += (xv[s * M + i] - mean) * (xv[s * M + i] - mean);
        const long double rstd = 1.0L / std::sqrt(sq / M + 1e-5L);
        for (int64_t i = 0; i < M; ++i) {
            const long double exact = (xv[s * M + i] - mean) * rstd;
            worst =
                std::max(worst, static_cast<double>(std::fabs(static_cast<long double>(y.data()[s * M + i]) - exact)));
            sum_sq += static_cast<double>(exact * exact);
        }
    }
    const double scale = std::sqrt(sum_sq / static_cast<double>(N * G * M));
    BOOST_TEST(worst <= 1e-10 * scale, "max error " << worst << " against an output scale of " << scale << " ("
                                                     << worst / scale << " of it)");
}

// PyTorch's one-value-per-group rule, case by case as F.group_norm answered it
// (tests/golden/group_norm_errors.json): the same message, or no error; the layer too, in
// training and in evaluation (PyTorch raises in both).
BOOST_AUTO_TEST_CASE(one_value_per_group_is_pytorchs_error) {
    const auto doc = load_golden_document("group_norm_errors.json");
    int checked = 0;
    for (const auto& c : doc.at("cases")) {
        const std::string name = c.at("name");
        const Shape shape = c.at("shape").get<Shape>();
        const int64_t groups = c.at("num_groups");
        const Tensor x = randn(shape);
        BOOST_TEST_CHECKPOINT("case " << name);
        if (c.at("error").is_null()) {
            BOOST_CHECK_NO_THROW(group_norm(x, groups));
        } else {
            const std::string expected = c.at("error");
            BOOST_CHECK_EXCEPTION(group_norm(x, groups), std::invalid_argument,
                                  [&](const std::invalid_argument& e) { return message_is(e, expected); });
            if (shape[1] % groups == 0)
                for (bool training : {true, false}) {
                    GroupNorm gn(groups, shape[1]);
                    gn.train(training);
                    BOOST_CHECK_EXCEPTION(gn(x), std::invalid_argument,
                                          [&](const std::invalid_argument& e) { return message_is(e, expected); });
                }
        }
        ++checked;
    }
    BOOST_TEST(checked == 9, "cases in the fixture");
}

BOOST_AUTO_TEST_CASE(constant_group_gives_finite_output_and_gradients) {
    Tensor x = full<float>({2, 4, 3, 3}, 2.5f, true);
    GroupNorm gn(2, 4);
    Tape tape;
    Tensor y = gn(x);
    tape.backward(sum(mul(y, y)));
    for (float v : y.values()) BOOST_TEST(v == 0.0f);
    for (float v : x.grad().to_vector()) BOOST_TEST(std::isfinite(v));
    for (float v : gn.weight().grad().to_vector()) BOOST_TEST(std::isfinite(v));
}

BOOST_AUTO_TEST_CASE(empty_batch_gives_empty_output_and_zero_parameter_gradients) {
    GroupNorm gn(2, 4);
    Tensor x = zeros({0, 4, 3}, true);
    Tape tape;
    Tensor y = gn(x);
    BOOST_TEST(to_string(y.shape()) == "[0, 4, 3]");
    tape.backward(y, zeros(y.shape()));
    BOOST_TEST_REQUIRE(gn.weight().grad().defined());
    for (float v : gn.weight().grad().to_vector()) BOOST_TEST(v == 0.0f);
    for (float v : gn.bias().grad().to_vector()) BOOST_TEST(v == 0.0f);
}

BOOST_AUTO_TEST_CASE(parameters_defaults_and_printing) {
    GroupNorm gn(3, 6);
    const auto named = gn.named_parameters();
    BOOST_TEST_REQUIRE(named.size() == 2u);
    BOOST_TEST(named[0].first == "weight");
    BOOST_TEST(named[1].first == "bias");
    for (float v : gn.weight().to_vector()) BOOST_TEST(v == 1.0f);
    for (float v : gn.bias().to_vector()) BOOST_TEST(v == 0.0f);
    BOOST_TEST(gn.weight().requires_grad());
    BOOST_TEST(gn.repr() == "GroupNorm(3, 6, eps=1e-05, affine=True)");
    GroupNorm plain(GroupNormOptions{.num_groups = 2, .num_channels = 4, .eps = 1e-3, .affine = false});
    BOOST_TEST(plain.parameters().empty());
    BOOST_TEST(!plain.weight().defined());
    BOOST_TEST(plain.repr() == "GroupNorm(2, 4, eps=0.001, affine=False)");
}

BOOST_AUTO_TEST_CASE(same_result_in_train_and_eval) {
    GroupNorm gn(2, 4);
    const Tensor x = randn({2, 4, 5});
    const Tensor a = gn(x);
    gn.eval();
    const Tensor b = gn(x);
    BOOST_TEST(a.to_vector() == b.to_vector(), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(bad_construction_is_rejected_with_the_values) {
    BOOST_CHECK_EXCEPTION(GroupNorm(0, 6), std::invalid_argument,
                          [](const auto& e) { return message_contains(e, "num_groups=0"); });
    BOOST_CHECK_EXCEPTION(GroupNorm(-2, 6), std::invalid_argument,
                          [](const auto& e) { return message_contains(e, "num_groups=-2"); });
    BOOST_CHECK_EXCEPTION(GroupNorm(2, 0), std::invalid_argument,
                          [](const auto& e) { return message_contains(e, "num_channels=0"); });
    BOOST_CHECK_EXCEPTION(GroupNorm(4, 6), std::invalid_argument,
                          [](const auto& e) { return message_contains(e, "num_channels=6 and num_groups=4"); });
}

BOOST_AUTO_TEST_CASE(bad_input_is_rejected_with_the_shapes) {
    GroupNorm gn(3, 6);
    BOOST_CHECK_EXCEPTION(gn(zeros({6})), std::invalid_argument,
                          [](const auto& e) { return message_contains(e, "got input of shape [6]"); });
    BOOST_CHECK_EXCEPTION(gn(zeros({2, 4, 5})), std::invalid_argument, [](const auto& e) {
        return message_contains(e, "expected input with 6 channels") && message_contains(e, "[2, 4, 5]");
    });
    BOOST_CHECK_EXCEPTION(group_norm(zeros({20, 6, 10, 10}), 4), std::invalid_argument, [](const auto& e) {
        return message_contains(
            e,
            "Expected number of channels in input to be divisible by num_groups, but got input of shape "
            "[20, 6, 10, 10] and num_groups=4");
    });
    BOOST_CHECK_THROW(group_norm(zeros({2, 6}), 3, ones({5})), std::invalid_argument);
    BOOST_CHECK_THROW(group_norm(zeros({2, 6}), 0), std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()
