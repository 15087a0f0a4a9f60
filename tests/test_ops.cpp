// Every op against PyTorch (tests/golden/ops.json, float32 and float64) and against finite
// differences in double. To add an op: add cases to make_golden.py and an entry to make_op.
#include <boost/test/unit_test.hpp>

#include <set>
#include <stdexcept>

#include <tapegrad/tapegrad.hpp>
#include "support/gradcheck.hpp"

using namespace tapegrad;
using namespace tapegrad::testing;

namespace {

// The op a golden case names, as a function of its inputs, in precision T.
template <typename T>
OpFn<T> make_op(const GoldenCase& c) {
    const auto& attrs = c.attrs;
    auto binary = [&](auto op) -> OpFn<T> {
        if (attrs.at("mode") == "same") return [op](const auto& in) { return op(in[0], in[1]); };
        // "channel": b is a (C) vector that PyTorch sees as b.view(1, -1, 1, ...) of a's rank.
        if (attrs.at("mode") == "channel")
            return [op](const auto& in) {
                Shape view(static_cast<size_t>(in[0].dim()), 1);
                view[1] = in[1].numel();
                return op(in[0], reshape(in[1], view));
            };
        const T s = attrs.at("scalar").template get<T>();
        if (attrs.at("scalar_first").template get<bool>())
            return [op, s](const auto& in) { return op(scalar_tensor<T>(s), in[0]); };
        return [op, s](const auto& in) { return op(in[0], scalar_tensor<T>(s)); };
    };
    using V = const BasicTensor<T>&;
    if (c.op == "add") return binary([](V a, V b) { return a + b; });
    if (c.op == "sub") return binary([](V a, V b) { return a - b; });
    if (c.op == "mul") return binary([](V a, V b) { return a * b; });
    if (c.op == "div") return binary([](V a, V b) { return a / b; });
    if (c.op == "relu") return [](const auto& in) { return relu(in[0]); };
    if (c.op == "exp") return [](const auto& in) { return tapegrad::exp(in[0]); };
    if (c.op == "log") return [](const auto& in) { return tapegrad::log(in[0]); };
    if (c.op == "sum") return [](const auto& in) { return sum(in[0]); };
    if (c.op == "mean") return [](const auto& in) { return mean(in[0]); };
    if (c.op == "reshape") {
        const Shape shape = attrs.at("shape").template get<Shape>();
        return [shape](const auto& in) { return reshape(in[0], shape); };
    }
    if (c.op == "flatten") {
        const int64_t start = attrs.at("start_dim").template get<int64_t>();
        return [start](const auto& in) { return flatten(in[0], start); };
    }
    if (c.op == "matmul") return [](const auto& in) { return matmul(in[0], in[1]); };
    if (c.op == "linear") return [](const auto& in) { return linear(in[0], in[1], in[2]); };
    if (c.op == "log_softmax") {
        const int64_t dim = attrs.at("dim").template get<int64_t>();
        return [dim](const auto& in) { return log_softmax(in[0], dim); };
    }
    if (c.op == "cross_entropy") {
        const std::vector<int64_t> target = attrs.at("target").template get<std::vector<int64_t>>();
        return [target](const auto& in) { return cross_entropy(in[0], target); };
    }
    throw std::logic_error("test_ops: no entry for op '" + c.op + "' in make_op");
}

void run_cases(const std::string& op) {
    const int ran = check_golden_cases("ops.json", op, make_op<float>, make_op<double>);
    BOOST_TEST(ran >= 1, "no golden case for op " << op);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(ops)

BOOST_AUTO_TEST_CASE(add_sub_mul_div) {
    for (const char* op : {"add", "sub", "mul", "div"}) run_cases(op);
}
BOOST_AUTO_TEST_CASE(relu_exp_log) {
    for (const char* op : {"relu", "exp", "log"}) run_cases(op);
}
BOOST_AUTO_TEST_CASE(sum_mean) {
    for (const char* op : {"sum", "mean"}) run_cases(op);
}
BOOST_AUTO_TEST_CASE(reshape_flatten) {
    for (const char* op : {"reshape", "flatten"}) run_cases(op);
}
BOOST_AUTO_TEST_CASE(matmul_linear) {
    for (const char* op : {"matmul", "linear"}) run_cases(op);
}
BOOST_AUTO_TEST_CASE(log_softmax_cross_entropy) {
    for (const char* op : {"log_softmax", "cross_entropy"}) run_cases(op);
}

BOOST_AUTO_TEST_CASE(every_fixture_case_has_an_op) {
    for (const GoldenCase& c : load_golden("ops.json")) BOOST_CHECK_NO_THROW(make_op<double>(c));
}

BOOST_AUTO_TEST_CASE(shape_errors_are_invalid_argument) {
    const Tensor a = zeros({2, 3, 4}), b = zeros({3});
    BOOST_CHECK_EXCEPTION(a + b, std::invalid_argument, [](const std::invalid_argument& e) {
        return std::string(e.what()) ==
               "The size of tensor a (4) must match the size of tensor b (3) at non-singleton dimension 2";
    });
    BOOST_CHECK_THROW(matmul(zeros({2, 3}), zeros({4, 5})), std::invalid_argument);
    BOOST_CHECK_THROW(linear(zeros({2, 3}), zeros({5, 4})), std::invalid_argument);
    BOOST_CHECK_THROW(reshape(zeros({2, 3}), {4, -1}), std::invalid_argument);
    BOOST_CHECK_THROW(reshape(zeros({2, 3}), {-1, -1}), std::invalid_argument);
    BOOST_CHECK_THROW(cross_entropy(zeros({2, 3}), std::vector<int64_t>{0, 3}), std::invalid_argument);
    BOOST_CHECK_THROW(cross_entropy(zeros({2, 3}), std::vector<int64_t>{0}), std::invalid_argument);
    BOOST_CHECK_THROW(log_softmax(zeros({2, 3}), 2), std::out_of_range);  // dims are checked as everywhere
}

BOOST_AUTO_TEST_CASE(ops_without_a_tape_record_nothing) {
    Tensor x = randn({3, 4}, nullptr, /*requires_grad=*/true);
    Tensor y = relu(x * 2.0f);
    BOOST_TEST(!y.requires_grad());
    BOOST_TEST(y.is_leaf());
}

BOOST_AUTO_TEST_SUITE_END()
