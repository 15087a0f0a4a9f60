// The CNN ops — conv2d, max_pool2d, avg_pool2d, adaptive_avg_pool2d, dropout — against
// PyTorch (tests/golden/layers.json, and conv_groups.json for conv2d's dilation and groups;
// float32 and float64), finite differences in double, the direct reference convolution at
// training sizes, and every bad input. To add a case: add it to make_golden.py's CONV2D_CASES /
// POOL_CASES / ADAPTIVE_CASES or cases_conv_groups.py's CASES and regenerate.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <stdexcept>

#include "framework/kernels/conv2d.hpp"
#include <tapegrad/tapegrad.hpp>
#include "support/gradcheck.hpp"
#include "support/messages.hpp"
#include "support/tensors.hpp"

using namespace tapegrad;
using namespace tapegrad::testing;

namespace {

Size2 size2_attr(const GoldenCase& c, const char* key) {
    const auto v = c.attrs.at(key).get<std::vector<int64_t>>();
    return {v.at(0), v.at(1)};
}

// The op a golden case of layers.json names, as a function of its inputs, in precision T.
template <typename T>
OpFn<T> make_op(const GoldenCase& c) {
    if (c.op == "conv2d") {
        const Size2 stride = size2_attr(c, "stride"), padding = size2_attr(c, "padding");
        // layers.json's cases have neither: dilation 1, groups 1.
        const Size2 dilation = c.attrs.contains("dilation") ? size2_attr(c, "dilation") : Size2(1);
        const int64_t groups = c.attrs.contains("groups") ? c.attrs.at("groups").get<int64_t>() : 1;
        return [stride, padding, dilation, groups](const auto& in) {
            return conv2d(in[0], in[1], in.size() > 2 ? in[2] : BasicTensor<T>(), stride, padding, dilation, groups);
        };
    }
    if (c.op == "max_pool2d" || c.op == "avg_pool2d") {
        const Size2 k = size2_attr(c, "kernel_size"), s = size2_attr(c, "stride"), p = size2_attr(c, "padding");
        if (c.op == "max_pool2d") return [k, s, p](const auto& in) { return max_pool2d(in[0], k, s, p); };
        return [k, s, p](const auto& in) { return avg_pool2d(in[0], k, s, p); };
    }
    if (c.op == "adaptive_avg_pool2d") {
        const Size2 out = size2_attr(c, "output_size");
        return [out](const auto& in) { return adaptive_avg_pool2d(in[0], out); };
    }
    throw std::logic_error("test_conv: no entry for op '" + c.op + "' in make_op");
}

void run_cases(const std::string& op, const std::string& file = "layers.json") {
    const int ran = check_golden_cases(file, op, make_op<float>, make_op<double>);
    BOOST_TEST(ran >= 4, "too few golden cases for op " << op << " in " << file);
}

double max_abs(const std::vector<double>& v) {
    double m = 0.0;
    for (double e : v) m = std::max(m, std::abs(e));
    return m;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(conv_ops)

BOOST_AUTO_TEST_CASE(conv2d_matches_pytorch) { run_cases("conv2d"); }
// Forward and gradients against PyTorch, and finite differences in double (check_golden_cases).
BOOST_AUTO_TEST_CASE(conv2d_with_dilation_and_groups_matches_pytorch) { run_cases("conv2d", "conv_groups.json"); }
BOOST_AUTO_TEST_CASE(max_pool2d_matches_pytorch) { run_cases("max_pool2d"); }
BOOST_AUTO_TEST_CASE(avg_pool2d_matches_pytorch) { run_cases("avg_pool2d"); }
BOOST_AUTO_TEST_CASE(adaptive_avg_pool2d_matches_pytorch) { run_cases("adaptive_avg_pool2d"); }

BOOST_AUTO_TEST_CASE(every_fixture_case_has_an_op) {
    for (const char* file : {"layers.json", "conv_groups.json"})
        for (const GoldenCase& c : load_golden(file)) BOOST_CHECK_NO_THROW(make_op<double>(c));
}

// Training sizes exercise the parallel im2col/col2im paths and OpenBLAS with several threads;
// the direct loops of conv2d_*_reference are the truth.
BOOST_AUTO_TEST_CASE(conv2d_matches_the_direct_reference_at_training_sizes) {
    struct Case {
        Shape x, w;
        Size2 stride, padding;
        Size2 dilation = 1;
        int64_t groups = 1;
    };
    const std::vector<Case> cases = {
        // A Fashion-MNIST block, and partial tiles with padding 2: 3×3 stride 1 with 8 channels or
        // more runs as Winograd, its weight gradient from the transform of x the forward kept.
        {{8, 16, 28, 28}, {32, 16, 3, 3}, 1, 1},
        {{4, 8, 9, 11}, {8, 8, 3, 3}, 1, 2},
        {{4, 8, 15, 13}, {12, 8, 5, 3}, {2, 1}, {2, 1}},
        {{4, 32, 14, 14}, {16, 32, 1, 1}, 1, 0},  // the direct 1×1 path
        {{2, 3, 32, 32}, {8, 3, 3, 3}, 2, 0},
        // Stride 1 with the output as wide as the input: im2col's one-copy-per-row path, whose
        // copies start and end in padding columns; kernels taller than the input; W = 1.
        {{3, 2, 7, 5}, {4, 2, 5, 5}, 1, 2},
        {{2, 3, 2, 9}, {3, 3, 5, 3}, 1, {2, 1}},
        {{2, 2, 6, 1}, {3, 2, 3, 1}, 1, {1, 0}},
        {{1, 1, 1, 1}, {2, 1, 3, 3}, 1, 1},
        {{2, 2, 4, 6}, {3, 2, 3, 3}, 1, {0, 1}},
        // Dilation and groups: a grouped dilated block, depthwise with a channel multiplier.
        {{8, 16, 28, 28}, {32, 4, 3, 3}, 1, 2, 2, 4},
        {{4, 16, 15, 13}, {32, 1, 3, 3}, {2, 1}, {2, 1}, {2, 1}, 16},
    };
    Generator gen(5);
    for (const Case& k : cases) {
        BOOST_TEST_CONTEXT("x " << to_string(k.x) << " w " << to_string(k.w)) {
            const DoubleTensor x = randn<double>(k.x, &gen, true), w = randn<double>(k.w, &gen, true);
            const DoubleTensor b = randn<double>({k.w[0]}, &gen, true);
            Tape tape;
            const DoubleTensor y = conv2d(x, w, b, k.stride, k.padding, k.dilation, k.groups);
            const DoubleTensor dy = randn<double>(y.shape(), &gen);
            tape.backward(y, dy);

            const kernels::Window2d g{k.x[2],      k.x[3],      k.w[2],    k.w[3],    k.stride.h,   k.stride.w,
                                      k.padding.h, k.padding.w, y.size(2), y.size(3), k.dilation.h, k.dilation.w};
            DoubleTensor y_ref(y.shape()), dx_ref(x.shape()), dw_ref(w.shape()), db_ref(b.shape());
            kernels::conv2d_forward_reference(y_ref.data(), x.data(), w.data(), b.data(), k.x[0], k.x[1], k.w[0],
                                              k.groups, g);
            kernels::conv2d_backward_reference(dx_ref.data(), dw_ref.data(), db_ref.data(), dy.data(), x.data(),
                                               w.data(), k.x[0], k.x[1], k.w[0], k.groups, g);
            BOOST_TEST(max_difference(y, y_ref) < 1e-11);
            BOOST_TEST(max_difference(x.grad(), dx_ref) < 1e-11);
            BOOST_TEST(max_difference(w.grad(), dw_ref) < 1e-10);
            BOOST_TEST(max_difference(b.grad(), db_ref) < 1e-10);

            // float32 through the same code path, against the double reference.
            const Tensor y32 =
                conv2d(cast<float>(x), cast<float>(w), cast<float>(b), k.stride, k.padding, k.dilation, k.groups);
            const std::vector<double> ref(y_ref.data(), y_ref.data() + y_ref.numel());
            BOOST_TEST(max_difference(cast<double>(y32), y_ref) <= 1e-5 * std::max(1.0, max_abs(ref)));
        }
    }
}

BOOST_AUTO_TEST_CASE(gradients_accumulate_into_existing_grads) {
    // Backward closures add: using x twice must double its gradient, and a second backward adds.
    Generator gen(9);
    for (const int64_t k : {3, 1}) {  // im2col and the direct 1×1 path
        BOOST_TEST_CONTEXT("kernel " << k) {
            const DoubleTensor x = randn<double>({2, 3, 6, 6}, &gen, true), w = randn<double>({4, 3, k, k}, &gen, true);
            const DoubleTensor b = randn<double>({4}, &gen, true);
            const int64_t pad = k / 2;
            {
                Tape tape;
                tape.backward(sum(conv2d(x, w, b, 1, pad)));
            }
            const DoubleTensor once = x.grad().clone(), w_once = w.grad().clone(), b_once = b.grad().clone();
            {
                Tape tape;
                tape.backward(sum(conv2d(x, w, b, 1, pad)));
            }
            BOOST_TEST(max_difference(x.grad(), mul(once, scalar_tensor(2.0))) < 1e-12);
            BOOST_TEST(max_difference(w.grad(), mul(w_once, scalar_tensor(2.0))) < 1e-12);
            BOOST_TEST(max_difference(b.grad(), mul(b_once, scalar_tensor(2.0))) < 1e-12);
        }
    }
    for (const char* op : {"max", "avg", "adaptive", "dropout"}) {
        BOOST_TEST_CONTEXT(op) {
            const DoubleTensor z = randn<double>({2, 2, 4, 4}, &gen, true);
            auto f = [&] {
                if (std::string(op) == "max") return max_pool2d(z, 2);
                if (std::string(op) == "avg") return avg_pool2d(z, 2);
                if (std::string(op) == "dropout") {
                    Generator mask_gen(4);
                    return dropout(z, 0.5, true, &mask_gen);
                }
                return adaptive_avg_pool2d(z, 1);
            };
            {
                Tape tape;
                tape.backward(sum(add(f(), f())));
            }
            const DoubleTensor twice = z.grad().clone();
            z.zero_grad();
            {
                Tape tape;
                tape.backward(sum(f()));
            }
            BOOST_TEST(max_difference(twice, mul(z.grad(), scalar_tensor(2.0))) < 1e-12);
        }
    }
}

BOOST_AUTO_TEST_CASE(max_pool2d_sends_ties_to_the_first_maximum) {
    // All equal: every window's gradient goes to its top-left element, as in PyTorch.
    DoubleTensor x = full<double>({1, 1, 4, 4}, 1.5, true);
    Tape tape;
    const DoubleTensor y = max_pool2d(x, 2);
    tape.backward(y, ones<double>(y.shape()));
    const std::vector<double> expected = {1, 0, 1, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0};
    BOOST_TEST(x.grad().to_vector() == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(max_pool2d_padding_never_wins) {
    const DoubleTensor x = full<double>({1, 1, 2, 2}, -3.0);
    const DoubleTensor y = max_pool2d(x, 2, 1, 1);  // (1, 1, 3, 3), every window holds padding
    for (double v : y.values()) BOOST_TEST(v == -3.0);
}

BOOST_AUTO_TEST_CASE(adaptive_avg_pool2d_to_one_is_the_global_mean) {
    Generator gen(2);
    const Tensor x = randn<float>({3, 5, 7, 9}, &gen);
    const Tensor y = adaptive_avg_pool2d(x, 1);
    BOOST_TEST(to_string(y.shape()) == "[3, 5, 1, 1]");
    for (int64_t nc = 0; nc < 15; ++nc) {
        double s = 0.0;
        for (int64_t k = 0; k < 63; ++k) s += x.data()[nc * 63 + k];
        BOOST_TEST(std::abs(y.data()[nc] - s / 63.0) < 1e-6);
    }
}

BOOST_AUTO_TEST_CASE(dropout_gradient_check_with_a_fixed_mask) {
    // A fresh generator per call gives the same mask each time, so the op is a fixed function.
    const OpFn<double> f = [](const auto& in) {
        Generator gen(77);
        return dropout(in[0], 0.3, true, &gen);
    };
    Generator gen(1);
    check_gradients("dropout p=0.3", f, {randn<double>({3, 4, 5}, &gen, true)});
}

BOOST_AUTO_TEST_CASE(dropout_mask_follows_the_generator_exactly) {
    const double p = 0.4;
    Generator data_gen(3);
    const Tensor x = randn<float>({4, 50}, &data_gen);
    Generator a(42), b(42), expected_gen(42);
    const Tensor ya = dropout(x, p, true, &a), yb = dropout(x, p, true, &b);
    BOOST_TEST(ya.to_vector() == yb.to_vector(), boost::test_tools::per_element());
    const float scale = static_cast<float>(1.0 / (1.0 - p));
    for (int64_t i = 0; i < x.numel(); ++i) {
        const bool kept = expected_gen.uniform() >= p;
        BOOST_TEST(ya.data()[i] == (kept ? x.data()[i] * scale : 0.0f), "element " << i);
    }
    Generator other(43);
    BOOST_TEST(dropout(x, p, true, &other).to_vector() != ya.to_vector());
}

BOOST_AUTO_TEST_CASE(dropout_preserves_the_mean) {
    Generator gen(11);
    const int64_t n = 400000;
    const DoubleTensor x = ones<double>({n});
    for (double p : {0.1, 0.5, 0.8}) {
        const DoubleTensor y = dropout(x, p, true, &gen);
        int64_t zeros_seen = 0;
        double total = 0.0;
        for (double v : y.values()) {
            zeros_seen += v == 0.0;
            total += v;
        }
        // Binomial(n, p): the zero fraction and the mean are within 5 standard deviations.
        const double sd_fraction = std::sqrt(p * (1 - p) / n);
        BOOST_TEST(std::abs(double(zeros_seen) / n - p) < 5 * sd_fraction, "p=" << p);
        BOOST_TEST(std::abs(total / n - 1.0) < 5 * sd_fraction / (1 - p), "p=" << p);
    }
}

BOOST_AUTO_TEST_CASE(dropout_is_the_identity_in_eval_or_with_p_zero) {
    const Tensor x = randn({3, 7}, nullptr, true);
    BOOST_TEST(dropout(x, 0.5, false).id() == x.id());
    BOOST_TEST(dropout(x, 0.0, true).id() == x.id());
    Tape tape;
    tape.backward(sum(dropout(x, 0.5, false)));
    for (float g : x.grad().to_vector()) BOOST_TEST(g == 1.0f);
}

BOOST_AUTO_TEST_CASE(bad_inputs_name_what_was_expected_and_given) {
    const Tensor x = zeros({2, 3, 8, 8});
    const Tensor w = zeros({4, 3, 3, 3});
    check_message([&] { conv2d(zeros({3, 8, 8}), w); }, {"conv2d", "4-D input", "[3, 8, 8]"});
    check_message([&] { conv2d(x, zeros({4, 3, 3})); }, {"conv2d", "4-D weight", "[4, 3, 3]"});
    check_message([&] { conv2d(zeros({2, 5, 8, 8}), w); }, {"conv2d", "[4, 3, 3, 3]", "3 channels", "[2, 5, 8, 8]"});
    check_message([&] { conv2d(x, w, zeros({3})); }, {"conv2d", "bias", "[4]", "[3]"});
    check_message(
        [&] {
            conv2d(zeros({1, 3, 2, 2}), w);
        },
        {"conv2d", "kernel size (3 x 3)", "(2 x 2)", "[1, 3, 2, 2]"});
    BOOST_CHECK_NO_THROW(conv2d(zeros({1, 3, 2, 2}), w, {}, 1, 1));  // padded to 4 × 4
    check_message([&] { conv2d(x, w, {}, 0); }, {"conv2d", "stride=(0, 0)"});
    check_message([&] { conv2d(x, w, {}, 1, -1); }, {"conv2d", "padding=(-1, -1)"});
}

// Each of PyTorch's checks on dilation and groups, in its order (groups first), with what was
// expected and what was given.
BOOST_AUTO_TEST_CASE(bad_dilation_and_groups_name_what_was_expected_and_given) {
    const Tensor x = zeros({2, 4, 8, 8});
    const Tensor w = zeros({4, 2, 3, 3});  // groups = 2
    BOOST_CHECK_NO_THROW(conv2d(x, w, {}, 1, 0, 1, 2));
    for (const int64_t groups : {0, -1})
        check_message([&] { conv2d(x, w, {}, 1, 0, 1, groups); },
                      {"conv2d", "non-positive groups is not supported", "groups=" + std::to_string(groups)});
    // groups is checked before the window, as PyTorch does.
    check_message([&] { conv2d(x, w, {}, 0, 0, 1, 0); }, {"non-positive groups"});
    check_message([&] { conv2d(x, w, {}, 1, 0, 0, 2); }, {"conv2d", "dilation >= 1", "dilation=(0, 0)"});
    check_message([&] { conv2d(x, w, {}, 1, 0, Size2{1, -1}, 2); }, {"conv2d", "dilation=(1, -1)"});
    check_message(
        [&] {
            conv2d(x, zeros({6, 1, 3, 3}), {}, 1, 0, 1, 4);
        },
        {"conv2d", "groups=4", "[6, 1, 3, 3]", "divisible by 4"});
    check_message(
        [&] {
            conv2d(x, zeros({4, 1, 3, 3}), {}, 1, 0, 1, 2);
        },
        {"conv2d", "groups=2", "[4, 1, 3, 3]", "input with 2 channels", "[2, 4, 8, 8]", "(4 channels)"});
    check_message([&] { conv2d(x, w, {}, 1, 0, 1, 1); },
                  {"conv2d", "groups=1", "[4, 2, 3, 3]", "input with 2 channels", "(4 channels)"});
    // C = 4 is weight.size(1)·groups = 2·3 = 6 only if 3 divides 4: it does not.
    check_message(
        [&] {
            conv2d(x, zeros({6, 2, 3, 3}), {}, 1, 0, 1, 3);
        },
        {"conv2d", "groups=3", "input with 6 channels", "(4 channels)"});
    check_message([&] { conv2d(x, w, zeros({2}), 1, 0, 1, 2); }, {"conv2d", "bias", "[4]", "[2]"});

    // The dilated kernel d·(k − 1) + 1 must fit the padded input: 3 dilated by 4 spans 9.
    check_message([&] { conv2d(x, w, {}, 1, 0, 4, 2); },
                  {"conv2d", "kernel size (3 x 3) dilated by (4, 4) to (9 x 9)", "padded input size (8 x 8)"});
    BOOST_CHECK_NO_THROW(conv2d(x, w, {}, 1, 1, 4, 2));  // padded to 10 × 10
    BOOST_TEST(to_string(conv2d(x, w, {}, 1, 1, 4, 2).shape()) == "[2, 4, 2, 2]");
    check_message([&] { conv2d(x, w, {}, 1, 1, Size2{5, 1}, 2); }, {"conv2d", "(11 x 3)", "(10 x 10)"});
    // A dilation whose span does not fit in int64 is a size error naming the call, not a wrapped extent.
    BOOST_CHECK_EXCEPTION(
        conv2d(x, w, {}, 1, 0, Size2{int64_t{1} << 62, 1}, 2), std::length_error,
        [](const std::length_error& e) { return message_contains(e, "conv2d: dilated kernel size"); });

    check_message([&] { max_pool2d(zeros({3, 8, 8}), 2); }, {"max_pool2d", "4-D input", "[3, 8, 8]"});
    check_message([&] { max_pool2d(x, 3, 1, 2); }, {"max_pool2d", "half of the kernel size", "padding=(2, 2)"});
    check_message(
        [&] {
            max_pool2d(zeros({1, 1, 2, 2}), 3);
        },
        {"max_pool2d", "too small", "[1, 1, 2, 2]", "kernel_size=(3, 3)"});
    check_message([&] { avg_pool2d(x, 0); }, {"avg_pool2d", "kernel_size=(0, 0)"});
    check_message([&] { avg_pool2d(x, 2, Size2(0)); }, {"avg_pool2d", "stride=(0, 0)"});
    check_message([&] { adaptive_avg_pool2d(zeros({8, 8}), 1); }, {"adaptive_avg_pool2d", "4-D input", "[8, 8]"});
    check_message([&] { adaptive_avg_pool2d(x, 0); }, {"adaptive_avg_pool2d", "output_size=(0, 0)"});
    check_message([&] { dropout(x, 1.0); }, {"dropout", "[0, 1)", "p=1"});
    check_message([&] { dropout(x, -0.1); }, {"dropout", "[0, 1)"});
}

BOOST_AUTO_TEST_CASE(stride_defaults_to_the_kernel_size) {
    const Tensor x = randn({2, 3, 9, 8});
    BOOST_TEST(to_string(max_pool2d(x, 3).shape()) == "[2, 3, 3, 2]");
    BOOST_TEST(to_string(avg_pool2d(x, {2, 4}).shape()) == "[2, 3, 4, 2]");
    BOOST_TEST(max_difference(max_pool2d(x, 3), max_pool2d(x, 3, 3)) == 0.0);
}

BOOST_AUTO_TEST_CASE(empty_batch_gives_empty_output_and_zero_weight_gradients) {
    const Tensor x = zeros({0, 3, 5, 5}, true), w = randn({4, 3, 3, 3}, nullptr, true), b = zeros({4}, true);
    Tape tape;
    const Tensor y = conv2d(x, w, b, 1, 1);
    BOOST_TEST(to_string(y.shape()) == "[0, 4, 5, 5]");
    tape.backward(y, zeros(y.shape()));
    for (float g : w.grad().to_vector()) BOOST_TEST(g == 0.0f);
    for (float g : b.grad().to_vector()) BOOST_TEST(g == 0.0f);
}

BOOST_AUTO_TEST_SUITE_END()
