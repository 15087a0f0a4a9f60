// The unary math ops and the activation modules against PyTorch (tests/golden/math.json,
// float32 and float64) and finite differences in double; the SIMD loops against the scalar
// formula; the numerics PyTorch promises at the edges (sigmoid and softplus of large |x|,
// abs'(0), clamp at its bounds); the modules' printing; errors with nothing recorded.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <limits>
#include <stdexcept>

#include <tapegrad/tapegrad.hpp>
#include "framework/kernels/unary.hpp"
#include "support/gradcheck.hpp"
#include "support/messages.hpp"

using namespace tapegrad;
using namespace tapegrad::testing;

namespace {

template <typename T>
OpFn<T> make_op(const GoldenCase& c) {
    const auto& a = c.attrs;
    auto number = [&](const char* key, double fallback) {
        return a.contains(key) ? a.at(key).template get<double>() : fallback;
    };
    auto unary = [](auto f) -> OpFn<T> { return [f](const auto& in) { return f(in[0]); }; };
    using V = const BasicTensor<T>&;
    if (c.op == "exp") return unary([](V x) { return tapegrad::exp(x); });
    if (c.op == "log") return unary([](V x) { return tapegrad::log(x); });
    if (c.op == "neg") return unary([](V x) { return -x; });
    if (c.op == "sqrt") return unary([](V x) { return tapegrad::sqrt(x); });
    if (c.op == "rsqrt") return unary([](V x) { return rsqrt(x); });
    if (c.op == "abs") return unary([](V x) { return tapegrad::abs(x); });
    if (c.op == "sigmoid") return unary([](V x) { return sigmoid(x); });
    if (c.op == "tanh") return unary([](V x) { return tapegrad::tanh(x); });
    if (c.op == "silu") return unary([](V x) { return silu(x); });
    if (c.op == "gelu") {
        const std::string approximate = a.at("approximate").template get<std::string>();
        return unary([approximate](V x) { return gelu(x, approximate); });
    }
    if (c.op == "softplus") {
        const double beta = number("beta", 1.0), threshold = number("threshold", 20.0);
        return unary([beta, threshold](V x) { return softplus(x, beta, threshold); });
    }
    if (c.op == "leaky_relu") {
        const double slope = number("negative_slope", 0.01);
        return unary([slope](V x) { return leaky_relu(x, slope); });
    }
    if (c.op == "elu") {
        const double alpha = number("alpha", 1.0);
        return unary([alpha](V x) { return elu(x, alpha); });
    }
    if (c.op == "clamp") {
        const std::optional<double> lo = a.contains("min") ? std::optional<double>(number("min", 0)) : std::nullopt;
        const std::optional<double> hi = a.contains("max") ? std::optional<double>(number("max", 0)) : std::nullopt;
        return unary([lo, hi](V x) { return clamp(x, lo, hi); });
    }
    throw std::logic_error("test_math: no entry for op '" + c.op + "' in make_op");
}

void run_cases(const std::string& op) {
    const int ran = check_golden_cases("math.json", op, make_op<float>, make_op<double>);
    BOOST_TEST(ran >= 3, "too few golden cases for op " << op);
}

// The module of a golden case of its functional op, as an OpFn.
template <typename T, typename M>
OpFn<T> module_op(std::shared_ptr<M> m) {
    return [m](const auto& in) { return (*m)(in[0]); };
}

// Every case of `op` in math.json whose attrs `accept` goes through the module made by `make`:
// golden in float32 and float64, and check_module_gradients in double.
template <template <typename> class M, typename Accept, typename... Args>
int check_module(const std::string& op, Accept accept, Args... args) {
    int ran = 0;
    for (const GoldenCase& c : load_golden("math.json")) {
        if (c.op != op || !accept(c.attrs)) continue;
        BOOST_TEST_CONTEXT("module case " << c.name) {
            check_golden<float>(c, module_op<float>(std::make_shared<M<float>>(args...)), 1e-5);
            check_golden<double>(c, module_op<double>(std::make_shared<M<double>>(args...)), 1e-10);
            M<double> m(args...);
            const DoubleTensor x = golden_inputs<double>(c)[0];
            check_module_gradients(c.name, m, x);
        }
        ++ran;
    }
    return ran;
}

template <typename T>
std::vector<T> grad_of(const char* what, const std::vector<T>& values,
                       const std::function<BasicTensor<T>(const BasicTensor<T>&)>& f) {
    BasicTensor<T> x = from_vector<T>({static_cast<int64_t>(values.size())}, values, true);
    Tape tape;
    tape.backward(sum(f(x)));
    BOOST_TEST_REQUIRE(x.grad().defined(), what);
    return x.grad().to_vector();
}

}  // namespace

BOOST_AUTO_TEST_SUITE(math)

BOOST_AUTO_TEST_CASE(exp_log_neg) {
    for (const char* op : {"exp", "log", "neg"}) run_cases(op);
}
BOOST_AUTO_TEST_CASE(sqrt_rsqrt_abs) {
    for (const char* op : {"sqrt", "rsqrt", "abs"}) run_cases(op);
}
BOOST_AUTO_TEST_CASE(sigmoid_tanh_silu_gelu) {
    for (const char* op : {"sigmoid", "tanh", "silu", "gelu"}) run_cases(op);
}
BOOST_AUTO_TEST_CASE(softplus_leaky_relu_elu) {
    for (const char* op : {"softplus", "leaky_relu", "elu"}) run_cases(op);
}
BOOST_AUTO_TEST_CASE(clamp_against_pytorch) { run_cases("clamp"); }

BOOST_AUTO_TEST_CASE(every_fixture_case_has_an_op) {
    for (const GoldenCase& c : load_golden("math.json")) BOOST_CHECK_NO_THROW(make_op<double>(c));
}

// The batch loop and the scalar tail compute the same formula: each of 203 elements (a batch
// part and a tail) against the kernel run on that element alone (tail only).
BOOST_AUTO_TEST_CASE(simd_loop_matches_scalar_tail) {
    using kernels::UnaryOp;
    const std::vector<std::pair<UnaryOp, kernels::UnaryParams>> ops = {
        {UnaryOp::exp, {}}, {UnaryOp::sqrt, {}}, {UnaryOp::rsqrt, {}}, {UnaryOp::abs, {}}, {UnaryOp::sigmoid, {}},
        {UnaryOp::tanh, {}}, {UnaryOp::silu, {}}, {UnaryOp::gelu, {}}, {UnaryOp::gelu_tanh, {}},
        {UnaryOp::softplus, {1.0, 20.0}}, {UnaryOp::leaky_relu, {0.1}}, {UnaryOp::elu, {1.0}},
        {UnaryOp::clamp, {-0.5, 0.5, true, true}}};
    Generator gen(11);
    const Tensor x = tapegrad::abs(randn<float>({203}, &gen)) * 3.0f;  // >= 0: sqrt and rsqrt defined
    const Tensor signed_x = randn<float>({203}, &gen) * 3.0f;
    for (const auto& [op, params] : ops) {
        const Tensor& in = op == UnaryOp::sqrt || op == UnaryOp::rsqrt ? x : signed_x;
        std::vector<float> all(203), one(1);
        kernels::unary_forward(all.data(), in.data(), 203, op, params);
        for (int64_t i = 0; i < 203; ++i) {
            kernels::unary_forward(one.data(), in.data() + i, 1, op, params);
            const double ref = one[0];
            BOOST_TEST(std::abs(all[i] - ref) <= 4e-7 * std::max(1.0, std::abs(ref)),
                       "op " << int(op) << " at " << i << ": " << all[i] << " vs " << ref);
        }
    }
}

BOOST_AUTO_TEST_CASE(numerics_at_the_edges) {
    // No NaN from sigmoid of large |x| (e^−x overflows to inf: 1/(1 + inf) = 0).
    const Tensor s = sigmoid(from_vector<float>({4}, {-1000.0f, -90.0f, 90.0f, 1000.0f}));
    BOOST_TEST(s.to_vector() == (std::vector<float>{0.0f, 0.0f, 1.0f, 1.0f}));
    // softplus above its threshold is x itself, for x past exp's range too.
    BOOST_TEST(softplus(from_vector<float>({2}, {100.0f, 1e30f})).to_vector() == (std::vector<float>{100.0f, 1e30f}));
    BOOST_TEST(softplus(from_vector<double>({1}, {3.0}), 2.0, 5.0).item() == 3.0);
    // abs'(0) = 0; sqrt'(0) = inf; leaky_relu'(0) = slope; elu'(0) = alpha (PyTorch's choices).
    BOOST_TEST(grad_of<double>("abs", {-2.0, 0.0, 3.0}, [](const DoubleTensor& x) { return tapegrad::abs(x); }) ==
               (std::vector<double>{-1.0, 0.0, 1.0}));
    BOOST_TEST(std::isinf(grad_of<double>("sqrt", {0.0}, [](const DoubleTensor& x) { return tapegrad::sqrt(x); })[0]));
    BOOST_TEST(grad_of<double>("leaky_relu", {0.0}, [](const DoubleTensor& x) { return leaky_relu(x, 0.2); })[0] ==
               0.2);
    BOOST_TEST(grad_of<double>("elu", {0.0}, [](const DoubleTensor& x) { return elu(x, 0.5); })[0] == 0.5);
    // clamp: gradient 1 on [min, max], bounds included; 0 outside; NaN passes through.
    BOOST_TEST(grad_of<double>("clamp", {-2.0, -1.0, 0.0, 1.0, 2.0}, [](const DoubleTensor& x) {
                   return clamp(x, -1.0, 1.0);
               }) == (std::vector<double>{0.0, 1.0, 1.0, 1.0, 0.0}));
    BOOST_TEST(grad_of<double>("clamp min", {-1.0, 0.0}, [](const DoubleTensor& x) {
                   return clamp(x, 0.0, std::nullopt);
               }) == (std::vector<double>{0.0, 1.0}));
    const float nan = std::numeric_limits<float>::quiet_NaN();
    BOOST_TEST(std::isnan(clamp(from_vector<float>({1}, {nan}), -1.0, 1.0).item()));
    BOOST_TEST(
        std::isnan(maximum(from_vector<float>({2}, {nan, 1.0f}), from_vector<float>({2}, {0.0f, nan})).to_vector()[0]));
    BOOST_TEST(
        std::isnan(maximum(from_vector<float>({2}, {nan, 1.0f}), from_vector<float>({2}, {0.0f, nan})).to_vector()[1]));
}

BOOST_AUTO_TEST_CASE(errors_record_nothing) {
    const Tensor x = randn({3}, nullptr, true);
    Tape tape;
    BOOST_CHECK_EXCEPTION(clamp(x, std::nullopt, std::nullopt), std::invalid_argument,
                          [](const std::invalid_argument& e) {
                              return message_is(e, "At least one of 'min' or 'max' must not be None");
                          });
    BOOST_CHECK_EXCEPTION(gelu(x, "exact"), std::invalid_argument, [](const std::invalid_argument& e) {
        return message_is(e, "approximate argument must be either none or tanh.");
    });
    BOOST_CHECK_EXCEPTION(GELU("erf"), std::invalid_argument, [](const std::invalid_argument& e) {
        return message_is(e, "approximate argument must be either none or tanh.");
    });
    BOOST_TEST(tape.size() == 0u);
}

BOOST_AUTO_TEST_CASE(modules_against_pytorch_and_finite_differences) {
    auto any = [](const auto&) { return true; };
    auto approx = [](std::string a) { return [a](const auto& attrs) { return attrs.at("approximate") == a; }; };
    auto slope = [](double s) {
        return [s](const auto& attrs) { return attrs.at("negative_slope").template get<double>() == s; };
    };
    BOOST_TEST(check_module<BasicSiLU>("silu", any) >= 3);
    BOOST_TEST(check_module<BasicSigmoid>("sigmoid", any) >= 3);
    BOOST_TEST(check_module<BasicTanh>("tanh", any) >= 3);
    BOOST_TEST(check_module<BasicGELU>("gelu", approx("none")) == 3);
    BOOST_TEST(check_module<BasicGELU>("gelu", approx("tanh"), std::string("tanh")) == 3);
    BOOST_TEST(check_module<BasicLeakyReLU>("leaky_relu", slope(0.01)) == 3);
    BOOST_TEST(check_module<BasicLeakyReLU>("leaky_relu", slope(0.2), 0.2) == 3);
}

BOOST_AUTO_TEST_CASE(identity_returns_its_input) {
    Identity id;
    Tensor x = randn({2, 3}, nullptr, true);
    Tape tape;
    const Tensor y = id(x);
    BOOST_TEST(y.id() == x.id());
    BOOST_TEST(tape.size() == 0u);
}

BOOST_AUTO_TEST_CASE(modules_print_as_pytorch) {
    BOOST_TEST(SiLU().repr() == "SiLU()");
    BOOST_TEST(GELU().repr() == "GELU(approximate='none')");
    BOOST_TEST(GELU("tanh").repr() == "GELU(approximate='tanh')");
    BOOST_TEST(Sigmoid().repr() == "Sigmoid()");
    BOOST_TEST(Tanh().repr() == "Tanh()");
    BOOST_TEST(LeakyReLU().repr() == "LeakyReLU(negative_slope=0.01)");
    BOOST_TEST(LeakyReLU(0.2).repr() == "LeakyReLU(negative_slope=0.2)");
    BOOST_TEST(Identity().repr() == "Identity()");
    Sequential net(Linear(4, 3), GELU(), Linear(3, 2), Identity());
    BOOST_TEST(net.repr() ==
               "Sequential(\n  (0): Linear(in_features=4, out_features=3, bias=True)\n  (1): GELU(approximate='none')\n"
               "  (2): Linear(in_features=3, out_features=2, bias=True)\n  (3): Identity()\n)");
}

BOOST_AUTO_TEST_SUITE_END()
