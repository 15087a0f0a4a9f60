// The shared checks every op and layer goes through (the way tinygrad's helper_test_op does):
//   check_gradients — backward against central finite differences, in double;
//   check_golden    — forward and every gradient against PyTorch's values from a fixture.
// To test a new op: add its cases to tests/golden/make_golden.py, regenerate the fixtures,
// and add one entry to the op table of tests/test_ops.cpp (or a layer test).
#pragma once

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <functional>
#include <string>
#include <vector>

#include "framework/generator.hpp"
#include "framework/tensor.hpp"
#include "layers/module.hpp"
#include "support/golden.hpp"

namespace tapegrad::testing {

template <typename T> using OpFn = std::function<BasicTensor<T>(const std::vector<BasicTensor<T>>&)>;

struct GradcheckTolerance {
    double step = 1e-6;  // finite-difference step h
    double atol = 1e-6;
    double rtol = 1e-5;
};

// For L = Σ seed · f(inputs) with a fixed random seed gradient, compares dL/d(input) from the
// tape with (L(x + h) − L(x − h)) / 2h for every element of every input that requires grad.
// Failures are reported through Boost.Test with the input's name, index and both values.
void check_gradients(const std::string& what, const OpFn<double>& f, const std::vector<DoubleTensor>& inputs,
                     const GradcheckTolerance& tol = {});

// The same check for a layer, over its input x (if it requires grad) and every parameter of
// `module`, which are perturbed in place and restored. The module must be deterministic
// (no dropout in training mode); its gradients are cleared before and after.
void check_module_gradients(const std::string& what, BasicModule<double>& module, const DoubleTensor& x,
                            const GradcheckTolerance& tol = {});

// Runs f on the case's inputs in precision T with the case's seed gradient dy, and requires
// max |ours − PyTorch| <= tol · max(1, max |PyTorch|) for the output and each gradient.
// In float32 the reference is PyTorch's float64 result (the more exact truth), and the
// distance to PyTorch's own float32 result may exceed tol only by PyTorch's float32 error.
template <typename T>
void check_golden(const GoldenCase& c, const OpFn<T>& f, double tol);

// Inputs of a golden case as tensors that require grad.
template <typename T> std::vector<BasicTensor<T>> golden_inputs(const GoldenCase& c);

// The whole check of one op against a fixture file: every case of `file` whose op is `op`
// goes through check_golden (float32 at 1e-5, float64 at 1e-10) and check_gradients with
// `grad_tol` (an op whose fixtures are steep, such as GroupNorm's constant groups, needs a
// smaller step); `make_op<T>(case)` builds the op from the case's attributes. Returns how
// many cases ran.
template <typename MakeFloat, typename MakeDouble>
int check_golden_cases(const std::string& file, const std::string& op, MakeFloat&& make_float, MakeDouble&& make_double,
                       const GradcheckTolerance& grad_tol = {}) {
    int ran = 0;
    for (const GoldenCase& c : load_golden(file)) {
        if (c.op != op) continue;
        BOOST_TEST_CONTEXT("case " << c.name) {
            check_golden<float>(c, make_float(c), 1e-5);
            check_golden<double>(c, make_double(c), 1e-10);
            check_gradients(c.name, make_double(c), golden_inputs<double>(c), grad_tol);
        }
        ++ran;
    }
    return ran;
}

// γ = 1 + N(0, 1) and β = N(0, 1), drawn from gen, for a norm layer with per-channel
// weight() and bias() (BatchNorm, InstanceNorm, GroupNorm): away from their initial ones and
// zeros, so that no term of the backward vanishes in a gradient check.
template <typename M>
void randomize_affine(M& m, Generator& gen) {
    using T = typename decltype(m.weight())::value_type;
    const int64_t C = m.weight().numel();
    std::vector<T> w(static_cast<size_t>(C)), b(static_cast<size_t>(C));
    for (int64_t c = 0; c < C; ++c) {
        w[c] = static_cast<T>(1.0 + gen.normal());
        b[c] = static_cast<T>(gen.normal());
    }
    std::copy(w.begin(), w.end(), m.weight().data());
    std::copy(b.begin(), b.end(), m.bias().data());
}

}  // namespace tapegrad::testing
