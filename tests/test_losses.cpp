// The losses against PyTorch (tests/golden/losses.json, from cases_losses.py: float32 and
// float64, every reduction, gradients of every float input) and finite differences in double;
// then what fixtures cannot hold: NaN means of nothing, PyTorch's error messages (and nothing
// left on the tape), the overloads agreeing, and the pointwise kernels against their twins.
// To add a case: add it to cases_losses.py, regenerate losses.json, and if it is a new op, an
// entry to make_op.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

#include <tapegrad/tapegrad.hpp>
#include "framework/kernels/loss.hpp"
#include "support/gradcheck.hpp"
#include "support/messages.hpp"

using namespace tapegrad;
using namespace tapegrad::testing;

namespace {

const char* const kFixture = "losses.json";

// A constant tensor of the case's attrs ({shape, data}), or undefined for null.
template <typename T>
BasicTensor<T> attr_tensor(const GoldenCase& c, const char* key) {
    if (!c.attrs.contains(key) || c.attrs.at(key).is_null()) return {};
    return to_tensor<T>(golden_array(c.attrs.at(key)));
}

// The op a golden case names, as a function of its inputs, in precision T.
template <typename T>
OpFn<T> make_op(const GoldenCase& c) {
    const auto& attrs = c.attrs;
    const Reduction r = parse_reduction(attrs.at("reduction").template get<std::string>());
    if (c.op == "mse_loss") return [r](const auto& in) { return mse_loss(in[0], in[1], r); };
    if (c.op == "l1_loss") return [r](const auto& in) { return l1_loss(in[0], in[1], r); };
    if (c.op == "smooth_l1_loss") {
        const double beta = attrs.at("beta").template get<double>();
        return [r, beta](const auto& in) { return smooth_l1_loss(in[0], in[1], r, beta); };
    }
    if (c.op == "huber_loss") {
        const double delta = attrs.at("delta").template get<double>();
        return [r, delta](const auto& in) { return huber_loss(in[0], in[1], r, delta); };
    }
    const BasicTensor<T> weight = attr_tensor<T>(c, "weight");
    if (c.op == "nll_loss" || c.op == "cross_entropy") {
        const std::vector<int64_t> target = attrs.at("target").template get<std::vector<int64_t>>();
        const LongTensor target_tensor = from_vector<int64_t>(attrs.at("target_shape").template get<Shape>(), target);
        const bool as_tensor = attrs.at("target_tensor").template get<bool>();
        const int64_t ignore = attrs.at("ignore_index").template get<int64_t>();
        if (c.op == "nll_loss")
            return [=](const auto& in) {
                return as_tensor ? nll_loss(in[0], target_tensor, weight, r, ignore)
                                 : nll_loss(in[0], target, weight, r, ignore);
            };
        const CrossEntropyOptions<T> options{.weight = weight,
                                             .reduction = r,
                                             .ignore_index = ignore,
                                             .label_smoothing = attrs.at("label_smoothing").template get<double>()};
        return [=](const auto& in) {
            return as_tensor ? cross_entropy(in[0], target_tensor, options) : cross_entropy(in[0], target, options);
        };
    }
    if (c.op == "cross_entropy_probs") {
        const CrossEntropyOptions<T> options{
            .weight = weight, .reduction = r, .label_smoothing = attrs.at("label_smoothing").template get<double>()};
        return [=](const auto& in) { return cross_entropy(in[0], in[1], options); };
    }
    if (c.op == "binary_cross_entropy")
        return [=](const auto& in) { return binary_cross_entropy(in[0], in[1], weight, r); };
    if (c.op == "binary_cross_entropy_with_logits") {
        const BasicTensor<T> pos_weight = attr_tensor<T>(c, "pos_weight");
        return [=](const auto& in) { return binary_cross_entropy_with_logits(in[0], in[1], weight, r, pos_weight); };
    }
    throw std::logic_error("test_losses: no entry for op '" + c.op + "' in make_op");
}

void run_cases(const std::string& op, int at_least) {
    const int ran = check_golden_cases(kFixture, op, make_op<float>, make_op<double>);
    BOOST_TEST(ran >= at_least, ran << " golden cases for " << op);
}

// f() throws std::invalid_argument whose message is exactly `message`, and the tape it ran
// under gains no record.
template <typename F>
void check_error_on_tape(F&& f, const std::string& message) {
    Tape tape;
    const size_t before = tape.size();
    BOOST_CHECK_EXCEPTION(f(), std::invalid_argument,
                          [&](const std::invalid_argument& e) { return message_is(e, message); });
    BOOST_TEST(tape.size() == before);
}

// max_i |a_i − b_i| / max(1, |b_i|), for kernels held to their reference twins.
double max_relative_difference(const std::vector<double>& a, const std::vector<double>& b) {
    double worst = 0.0;
    for (size_t i = 0; i < a.size(); ++i)
        worst = std::max(worst, std::abs(a[i] - b[i]) / std::max(1.0, std::abs(b[i])));
    return worst;
}

Tensor with_grad(const Shape& shape, uint64_t seed) {
    Generator gen(seed);
    return randn(shape, &gen, /*requires_grad=*/true);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(losses)

BOOST_AUTO_TEST_CASE(regression_losses_match_pytorch) {
    for (const char* op : {"mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss"}) run_cases(op, 8);
}

BOOST_AUTO_TEST_CASE(nll_loss_matches_pytorch) { run_cases("nll_loss", 20); }

BOOST_AUTO_TEST_CASE(cross_entropy_matches_pytorch) { run_cases("cross_entropy", 40); }

BOOST_AUTO_TEST_CASE(cross_entropy_with_probabilities_matches_pytorch) { run_cases("cross_entropy_probs", 10); }

BOOST_AUTO_TEST_CASE(binary_cross_entropy_matches_pytorch) {
    run_cases("binary_cross_entropy", 10);
    run_cases("binary_cross_entropy_with_logits", 15);
}

BOOST_AUTO_TEST_CASE(every_fixture_case_has_an_op) {
    for (const GoldenCase& c : load_golden(kFixture)) BOOST_CHECK_NO_THROW(make_op<double>(c));
}

BOOST_AUTO_TEST_CASE(reduction_names) {
    for (const Reduction r : {Reduction::none, Reduction::mean, Reduction::sum})
        BOOST_TEST((parse_reduction(to_string(r)) == r));
    BOOST_CHECK_EXCEPTION(parse_reduction("avg"), std::invalid_argument,
                          [](const auto& e) { return message_is(e, "avg is not a valid value for reduction"); });
}

// PyTorch: the mean of no elements is NaN (0/0), and so is a mean whose targets are all ignored.
BOOST_AUTO_TEST_CASE(mean_of_nothing_is_nan) {
    const Tensor empty_x = zeros({0, 3}), empty_logits = zeros({0, 4});
    BOOST_TEST(std::isnan(mse_loss(empty_x, empty_x).item()));
    BOOST_TEST(std::isnan(l1_loss(empty_x, empty_x).item()));
    BOOST_TEST(std::isnan(binary_cross_entropy(empty_x, empty_x).item()));
    BOOST_TEST(std::isnan(binary_cross_entropy_with_logits(empty_x, empty_x).item()));
    BOOST_TEST(std::isnan(cross_entropy(empty_logits, std::vector<int64_t>{}).item()));
    BOOST_TEST(std::isnan(nll_loss(empty_logits, std::vector<int64_t>{}).item()));
    BOOST_TEST(std::isnan(cross_entropy(empty_logits, std::vector<int64_t>{}, {.label_smoothing = 0.1}).item()));
    BOOST_TEST(std::isnan(cross_entropy(empty_logits, empty_logits).item()));
    const std::vector<int64_t> all_ignored{-100, -100, -100};
    BOOST_TEST(std::isnan(cross_entropy(randn({3, 4}), all_ignored).item()));
    BOOST_TEST(std::isnan(nll_loss(randn({3, 4}), all_ignored).item()));
    // With sum they are 0.
    BOOST_TEST(mse_loss(empty_x, empty_x, Reduction::sum).item() == 0.0f);
    BOOST_TEST(cross_entropy(randn({3, 4}), all_ignored, {.reduction = Reduction::sum}).item() == 0.0f);
}

// The two-argument cross_entropy of the examples is the options form with PyTorch's defaults,
// and spans, vectors and LongTensors of targets give the same loss and gradient.
BOOST_AUTO_TEST_CASE(target_forms_agree) {
    const std::vector<int64_t> target{2, 0, 3, 1, 1, 0};
    const LongTensor target_tensor = from_vector<int64_t>({2, 3}, target);
    const Tensor logits = with_grad({2, 4, 3}, 7);
    auto loss_and_grad = [&](auto&& f) {
        Tensor x = logits.clone().requires_grad_();
        Tape tape;
        const Tensor loss = f(x);
        tape.backward(loss);
        std::vector<float> v = x.grad().to_vector();
        v.push_back(loss.item());
        return v;
    };
    const auto by_span =
        loss_and_grad([&](const Tensor& x) { return cross_entropy(x, std::span<const int64_t>(target)); });
    const auto by_vector = loss_and_grad([&](const Tensor& x) { return cross_entropy(x, target); });
    const auto by_tensor = loss_and_grad([&](const Tensor& x) { return cross_entropy(x, target_tensor); });
    const auto by_options =
        loss_and_grad([&](const Tensor& x) { return cross_entropy(x, target, CrossEntropyOptions<>{}); });
    BOOST_TEST(by_span == by_vector, boost::test_tools::per_element());
    BOOST_TEST(by_span == by_tensor, boost::test_tools::per_element());
    BOOST_TEST(by_span == by_options, boost::test_tools::per_element());
    // nll_loss of log_softmax is cross_entropy (on (N, C), where log_softmax applies).
    const Tensor flat = with_grad({5, 4}, 8);
    const std::vector<int64_t> t5{3, 1, 0, 2, 1};
    BOOST_TEST(nll_loss(log_softmax(flat, 1), t5).item() == cross_entropy(flat, t5).item(),
               boost::test_tools::tolerance(1e-6f));
}

// The float cross-entropy backward takes its probabilities from a float-lane exp: on wide rows
// (whole batches of lanes and a tail; logits 20·N(0, 1) − 20, the same floats in both
// precisions) its gradient is the double one to within 2e-7 of the largest, with and without
// smoothing and weights.
BOOST_AUTO_TEST_CASE(float_cross_entropy_gradient_on_wide_rows) {
    Generator gen(11);
    const DoubleTensor logits64 = randn<double>({16, 1003}, &gen);
    DoubleTensor scaled = logits64.clone();
    for (double& v : scaled.values()) v = static_cast<float>(20.0 * v - 20.0);  // the same logits in both precisions
    std::vector<int64_t> target(16);
    for (int64_t i = 0; i < 16; ++i) target[static_cast<size_t>(i)] = (i * 131) % 1003;
    const DoubleTensor weight64 = rand<double>({1003}, &gen, 0.5, 2.0);
    for (const double smoothing : {0.0, 0.1}) {
        for (const bool weighted : {false, true}) {
            BOOST_TEST_CONTEXT("label_smoothing " << smoothing << ", weighted " << weighted) {
                DoubleTensor x64 = scaled.clone().requires_grad_();
                Tensor x32 = cast<float>(scaled).requires_grad_();
                {
                    Tape tape;
                    tape.backward(cross_entropy(
                        x64, target, {.weight = weighted ? weight64 : DoubleTensor{}, .label_smoothing = smoothing}));
                }
                {
                    Tape tape;
                    tape.backward(cross_entropy(
                        x32, target,
                        {.weight = weighted ? cast<float>(weight64) : Tensor{}, .label_smoothing = smoothing}));
                }
                const std::vector<double> g64 = x64.grad().to_vector();
                const std::vector<float> g32 = x32.grad().to_vector();
                double scale = 0.0, worst = 0.0;
                for (size_t i = 0; i < g64.size(); ++i) {
                    scale = std::max(scale, std::abs(g64[i]));
                    worst = std::max(worst, std::abs(static_cast<double>(g32[i]) - g64[i]));
                }
                BOOST_TEST(worst <= 2e-7 * scale, "max |float − double| " << worst << " for max |gradient| " << scale);
            }
        }
    }
}

// PyTorch clamps BCE's logs at −100: a probability of exactly 0 or 1 gives a finite loss.
BOOST_AUTO_TEST_CASE(binary_cross_entropy_clamps_its_logs) {
    const Tensor p = from_vector<float>({4}, {0.0f, 1.0f, 0.0f, 1.0f});
    const Tensor t = from_vector<float>({4}, {1.0f, 0.0f, 0.0f, 1.0f});
    const std::vector<float> loss = binary_cross_entropy(p, t, {}, Reduction::none).to_vector();
    BOOST_TEST(loss == (std::vector<float>{100.0f, 100.0f, 0.0f, 0.0f}), boost::test_tools::per_element());
    // And the logits form stays finite and exact far out: softplus(50) = 50 + log1p(e^-50).
    const DoubleTensor x = from_vector<double>({2}, {800.0, -800.0});
    const DoubleTensor y = from_vector<double>({2}, {0.0, 1.0});
    const std::vector<double> l = binary_cross_entropy_with_logits(x, y, {}, Reduction::none).to_vector();
    BOOST_TEST(l == (std::vector<double>{800.0, 800.0}), boost::test_tools::per_element());
}

// mse_loss(x, x): the input and the target are one tensor; its gradient is the sum of both
// terms, 0.
BOOST_AUTO_TEST_CASE(input_that_is_its_own_target) {
    Tensor x = with_grad({3, 7}, 9);
    Tape tape;
    tape.backward(mse_loss(x, x, Reduction::sum));
    for (const float g : x.grad().to_vector()) BOOST_TEST(g == 0.0f);
}

BOOST_AUTO_TEST_CASE(errors_carry_pytorch_messages_and_leave_no_record) {
    const Tensor x = with_grad({3, 4}, 1);
    const Tensor p = rand({3, 4}, nullptr, 0.0f, 1.0f, true);
    const Tensor twos = full({3, 4}, 2.0f);
    check_error_on_tape([&] { return cross_entropy(x, std::vector<int64_t>{0, 1, 7}); }, "Target 7 is out of bounds.");
    check_error_on_tape([&] { return nll_loss(x, std::vector<int64_t>{0, -1, 2}); }, "Target -1 is out of bounds.");
    check_error_on_tape([&] { return cross_entropy(x, std::vector<int64_t>{0, 1}); },
                        "Expected input batch_size (3) to match target batch_size (2).");
    check_error_on_tape([&] { return nll_loss(x, from_vector<int64_t>({2}, {0, 1})); },
                        "Expected input batch_size (3) to match target batch_size (2).");
    check_error_on_tape([&] { return cross_entropy(with_grad({2, 3, 4, 4}, 2), zeros<int64_t>({2, 4, 5})); },
                        "Expected target size [2, 4, 4], got [2, 4, 5]");
    check_error_on_tape([&] { return cross_entropy(x, p, {.ignore_index = 1}); },
                        "ignore_index is not supported for floating point target");
    check_error_on_tape([&] { return cross_entropy(x, rand({2, 4})); },
                        "Expected input batch_size (3) to match target batch_size (2).");
    check_error_on_tape([&] { return cross_entropy(x, rand({3, 5})); },
                        "cross_entropy: expected probability targets of the input's shape [3, 4], but got [3, 5]");
    check_error_on_tape([&] { return cross_entropy(x, p, {.weight = ones({3})}); },
                        "cross_entropy: weight tensor should be defined either for all 4 classes or no classes but got "
                        "weight tensor of shape: [3]");
    check_error_on_tape(
        [&] {
            return cross_entropy(x, std::vector<int64_t>{0, 1, 2}, {.weight = ones({3})});
        },
        "weight tensor should be defined either for all 4 classes or no classes but got weight tensor of "
        "shape: [3]");
    check_error_on_tape([&] { return cross_entropy(x, std::vector<int64_t>{0, 1, 2}, {.label_smoothing = 1.5}); },
                        "label_smoothing must be between 0.0 and 1.0. Got: 1.5");
    check_error_on_tape([&] { return nll_loss(x, std::vector<int64_t>{0, 1, 2}, ones({4}, /*requires_grad=*/true)); },
                        "The function 'nll_loss' is not differentiable with respect to argument 'weight'. This input "
                        "cannot have requires_grad True.");
    check_error_on_tape([&] { return mse_loss(x, with_grad({4}, 3)); },
                        "mse_loss: Using a target size ([4]) that is different to the input size ([3, 4]) is not "
                        "supported (PyTorch broadcasts them with a warning). Please ensure they have the same size.");
    check_error_on_tape([&] { return smooth_l1_loss(x, x, Reduction::mean, -1.0); },
                        "smooth_l1_loss does not support negative values for beta.");
    check_error_on_tape([&] { return huber_loss(x, x, Reduction::mean, 0.0); },
                        "huber_loss does not support non-positive values for delta.");
    check_error_on_tape(
        [&] {
            return binary_cross_entropy(p, rand({3, 1}));
        },
        "Using a target size ([3, 1]) that is different to the input size ([3, 4]) is deprecated. Please "
        "ensure they have the same size.");
    check_error_on_tape([&] { return binary_cross_entropy(twos, p); },
                        "all elements of input should be between 0 and 1");
    check_error_on_tape([&] { return binary_cross_entropy_with_logits(x, rand({3, 1})); },
                        "Target size ([3, 1]) must be the same as input size ([3, 4])");
    check_error_on_tape(
        [&] { return binary_cross_entropy(p, p, ones({2})); },
        "binary_cross_entropy: weight of shape [2] cannot be broadcast to the input's shape [3, 4]: The "
        "size of tensor a (4) must match the size of tensor b (2) at non-singleton dimension 1");
    check_error_on_tape(
        [&] { return binary_cross_entropy_with_logits(x, p, {}, Reduction::mean, ones({4}, true)); },
        "The function 'binary_cross_entropy_with_logits' is not differentiable with respect to argument "
        "'pos_weight'. This input cannot have requires_grad True.");
}

// The vectorised pointwise kernels against their scalar twins, over a tensor large enough to
// run in parallel, with a tail that is not a whole batch.
BOOST_AUTO_TEST_CASE(pointwise_kernels_match_their_references) {
    using kernels::PointwiseLoss;
    const int64_t n = (int64_t{1} << 17) + 13;
    Generator gen(5);
    const DoubleTensor x = randn<double>({n}, &gen), t = randn<double>({n}, &gen), dy = randn<double>({n}, &gen);
    for (const auto& [kind, param] : {std::pair{PointwiseLoss::mse, 0.0}, std::pair{PointwiseLoss::l1, 0.0},
                                      std::pair{PointwiseLoss::smooth_l1, 0.7}, std::pair{PointwiseLoss::huber, 1.3}}) {
        BOOST_TEST_CONTEXT("kind " << static_cast<int>(kind)) {
            std::vector<double> out(n), ref(n);
            kernels::pointwise_loss_forward(out.data(), x.data(), t.data(), n, kind, param);
            kernels::pointwise_loss_forward_reference(ref.data(), x.data(), t.data(), n, kind, param);
            BOOST_TEST(max_relative_difference(out, ref) <= 1e-15);
            double ref_sum = 0.0;
            for (const double v : ref) ref_sum += v;
            const double sum = kernels::pointwise_loss_sum(x.data(), t.data(), n, kind, param);
            BOOST_TEST(std::abs(sum - ref_sum) <= 1e-12 * std::abs(ref_sum));
            std::vector<double> dx(n, 0.5), dt(n), dx_ref(n, 0.5), dt_ref(n);
            kernels::pointwise_loss_backward(dx.data(), dt.data(), dy.data(), 0.25, x.data(), t.data(), n, kind, param,
                                             true, false);
            kernels::pointwise_loss_backward_reference(dx_ref.data(), dt_ref.data(), dy.data(), 0.25, x.data(),
                                                       t.data(), n, kind, param, true, false);
            BOOST_TEST(max_relative_difference(dx, dx_ref) <= 1e-15);
            BOOST_TEST(max_relative_difference(dt, dt_ref) <= 1e-15);
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()
