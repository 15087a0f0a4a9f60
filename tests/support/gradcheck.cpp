// check_gradients and check_golden; see gradcheck.hpp.
#include "support/gradcheck.hpp"

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <functional>
#include <sstream>

#include "framework/generator.hpp"
#include "framework/tape.hpp"
#include "support/tensors.hpp"

namespace tapegrad::testing {

namespace {

double dot(const DoubleTensor& a, const DoubleTensor& b) {
    double s = 0.0;
    for (int64_t i = 0; i < a.numel(); ++i) s += a.data()[i] * b.data()[i];
    return s;
}

std::vector<DoubleTensor> detached_copies(const std::vector<DoubleTensor>& inputs) {
    std::vector<DoubleTensor> out;
    for (const auto& x : inputs) out.push_back(x.clone().requires_grad_(x.requires_grad()));
    return out;
}

// Compares `analytic` with central differences of loss() over every element of x, which is
// perturbed in place and restored; stops reporting after 5 failures.
void compare_with_finite_differences(const std::string& what, const std::string& label, DoubleTensor& x,
                                     const DoubleTensor& analytic, const std::function<double()>& loss,
                                     const GradcheckTolerance& tol) {
    int failures = 0;
    for (int64_t i = 0; i < x.numel() && failures < 5; ++i) {
        const double saved = x.data()[i];
        x.data()[i] = saved + tol.step;
        const double plus = loss();
        x.data()[i] = saved - tol.step;
        const double minus = loss();
        x.data()[i] = saved;
        const double numeric = (plus - minus) / (2.0 * tol.step);
        const double a = analytic.data()[i];
        const bool ok = std::abs(a - numeric) <= tol.atol + tol.rtol * std::abs(numeric);
        if (!ok) ++failures;
        BOOST_TEST(ok,
                   what << ": d/d " << label << "[" << i << "]: backward " << a << " vs finite difference " << numeric);
    }
}

// Runs forward() on a tape and backpropagates a fixed random seed gradient; returns the seed.
template <typename Forward>
DoubleTensor backward_with_random_seed(Forward&& forward) {
    Tape tape;
    const DoubleTensor out = forward();
    Generator gen(12345);
    DoubleTensor seed = randn<double>(out.shape(), &gen);
    tape.backward(out, seed);
    return seed;
}

}  // namespace

void check_gradients(const std::string& what, const OpFn<double>& f, const std::vector<DoubleTensor>& given,
                     const GradcheckTolerance& tol) {
    std::vector<DoubleTensor> inputs = detached_copies(given);
    const DoubleTensor seed = backward_with_random_seed([&] { return f(inputs); });
    auto loss = [&]() { return dot(f(inputs), seed); };  // no tape: nothing is recorded

    for (size_t k = 0; k < inputs.size(); ++k) {
        DoubleTensor& x = inputs[k];
        if (!x.requires_grad()) continue;
        BOOST_TEST_INFO(what << ": input " << k << " of shape " << to_string(x.shape()));
        BOOST_TEST_REQUIRE(x.grad().defined(), what << ": backward gave no gradient for input " << k);
        compare_with_finite_differences(what, "input" + std::to_string(k), x, x.grad().clone(), loss, tol);
    }
}

void check_module_gradients(const std::string& what, BasicModule<double>& module, const DoubleTensor& given,
                            const GradcheckTolerance& tol) {
    DoubleTensor x = given.clone().requires_grad_(given.requires_grad());
    module.zero_grad();
    const DoubleTensor seed = backward_with_random_seed([&] { return module(x); });
    auto loss = [&]() { return dot(module(x), seed); };  // no tape: nothing is recorded

    if (x.requires_grad()) {
        BOOST_TEST_INFO(what << ": input of shape " << to_string(x.shape()));
        BOOST_TEST_REQUIRE(x.grad().defined(), what << ": backward gave no gradient for the input");
        compare_with_finite_differences(what, "input", x, x.grad().clone(), loss, tol);
    }
    for (auto& [name, p] : module.named_parameters()) {
        BOOST_TEST_INFO(what << ": parameter " << name << " of shape " << to_string(p.shape()));
        BOOST_TEST_REQUIRE(p.grad().defined(), what << ": backward gave no gradient for parameter " << name);
        compare_with_finite_differences(what, name, p, p.grad().clone(), loss, tol);
    }
    module.zero_grad();
}

template <typename T>
std::vector<BasicTensor<T>> golden_inputs(const GoldenCase& c) {
    std::vector<BasicTensor<T>> out;
    for (const auto& [name, arr] : c.inputs) out.push_back(to_tensor<T>(arr, /*requires_grad=*/true));
    return out;
}

template <typename T>
void check_golden(const GoldenCase& c, const OpFn<T>& f, double tol) {
    constexpr bool is_float = std::is_same_v<T, float>;
    std::vector<BasicTensor<T>> inputs = golden_inputs<T>(c);
    Tape tape;
    BasicTensor<T> out = f(inputs);
    BOOST_TEST_REQUIRE(to_string(out.shape()) == to_string(c.dy.shape), c.name << ": output shape");
    tape.backward(out, to_tensor<T>(c.dy));

    auto compare = [&](const std::string& label, const BasicTensor<T>& ours, const std::vector<double>& ref64,
                       const std::vector<double>& ref32) {
        BOOST_TEST_REQUIRE(ours.defined(), c.name << ": no " << label);
        BOOST_TEST_REQUIRE(static_cast<size_t>(ours.numel()) == ref64.size(), c.name << ": size of " << label);
        std::vector<double> v(ours.data(), ours.data() + ours.numel());
        const Distance d = distance(v.data(), ref64);
        BOOST_TEST(d.max_error <= tol * d.scale, c.name << " (" << (is_float ? "float32" : "float64") << "): " << label
                                                        << " differs from PyTorch's float64 by " << d.max_error
                                                        << " at index " << d.worst << " (allowed " << tol * d.scale
                                                        << ")");
        if (is_float) {
            // PyTorch's float32 result carries its own rounding error; we may differ from it by no more than that.
            const Distance torch_err = distance(ref32.data(), ref64);
            const Distance d32 = distance(v.data(), ref32);
            BOOST_TEST(d32.max_error <= tol * d32.scale + torch_err.max_error,
                       c.name << " (float32): " << label << " differs from PyTorch's float32 by " << d32.max_error
                              << " (PyTorch's own float32 error: " << torch_err.max_error << ")");
        }
    };
    compare("output", out, c.float64.out, c.float32.out);
    for (size_t k = 0; k < c.inputs.size(); ++k) {
        const std::string& name = c.inputs[k].first;
        compare("gradient of " + name, inputs[k].grad(), c.float64.grads.at(name), c.float32.grads.at(name));
    }
}

template std::vector<BasicTensor<float>> golden_inputs(const GoldenCase&);
template std::vector<BasicTensor<double>> golden_inputs(const GoldenCase&);
template void check_golden<float>(const GoldenCase&, const OpFn<float>&, double);
template void check_golden<double>(const GoldenCase&, const OpFn<double>&, double);

}  // namespace tapegrad::testing
