// Broadcasting binary ops, comparisons, where and sum_to_size against PyTorch
// (tests/golden/broadcast.json, float32 and float64) and finite differences in double; the
// broadcast kernels against their scalar references on shapes large enough to run in
// parallel; PyTorch's error messages, with nothing recorded on the tape.
#include <boost/test/unit_test.hpp>

#include <set>
#include <stdexcept>

#include <tapegrad/tapegrad.hpp>
#include "framework/kernels/broadcast.hpp"
#include "support/gradcheck.hpp"
#include "support/messages.hpp"
#include "support/tensors.hpp"

using namespace tapegrad;
using namespace tapegrad::testing;

namespace {

const std::set<std::string> kComparisons = {"eq", "ne", "lt", "le", "gt", "ge"};

template <typename T>
OpFn<T> make_op(const GoldenCase& c) {
    using V = const BasicTensor<T>&;
    const auto& attrs = c.attrs;
    auto binary = [](auto op) -> OpFn<T> { return [op](const auto& in) { return op(in[0], in[1]); }; };
    if (c.op == "add") return binary([](V a, V b) { return a + b; });
    if (c.op == "sub") return binary([](V a, V b) { return a - b; });
    if (c.op == "mul") return binary([](V a, V b) { return a * b; });
    if (c.op == "div") return binary([](V a, V b) { return a / b; });
    if (c.op == "pow") return binary([](V a, V b) { return pow(a, b); });
    if (c.op == "maximum") return binary([](V a, V b) { return maximum(a, b); });
    if (c.op == "minimum") return binary([](V a, V b) { return minimum(a, b); });
    if (c.op == "pow_scalar") {
        const T e = attrs.at("exponent").template get<T>();
        return [e](const auto& in) { return pow(in[0], e); };
    }
    if (c.op == "pow_scalar_base") {
        const T base = attrs.at("base").template get<T>();
        return [base](const auto& in) { return pow(base, in[0]); };
    }
    if (c.op == "where") {
        const BasicTensor<T> mask = to_tensor<T>(golden_array(attrs.at("mask")));
        return [mask](const auto& in) { return where(mask, in[0], in[1]); };
    }
    if (c.op == "sum_to_size") {
        const Shape shape = attrs.at("shape").template get<Shape>();
        return [shape](const auto& in) { return sum_to_size(in[0], shape); };
    }
    throw std::logic_error("test_broadcast: no entry for op '" + c.op + "' in make_op");
}

void run_cases(const std::string& op) {
    const int ran = check_golden_cases("broadcast.json", op, make_op<float>, make_op<double>);
    BOOST_TEST(ran >= 1, "no golden case for op " << op);
}

template <typename T>
BasicTensor<T> compare_op(const std::string& op, const BasicTensor<T>& a, const BasicTensor<T>& b) {
    if (op == "eq") return eq(a, b);
    if (op == "ne") return ne(a, b);
    if (op == "lt") return lt(a, b);
    if (op == "le") return le(a, b);
    if (op == "gt") return gt(a, b);
    return ge(a, b);
}

template <typename T>
void check_comparison(const GoldenCase& c) {
    const BasicTensor<T> a = to_tensor<T>(c.inputs[0].second, true), b = to_tensor<T>(c.inputs[1].second, true);
    Tape tape;
    const BasicTensor<T> out = compare_op(c.op, a, b);
    BOOST_TEST(tape.size() == 0u, c.name << ": a comparison was recorded");
    BOOST_TEST(!out.requires_grad(), c.name);
    BOOST_TEST(to_string(out.shape()) == to_string(c.dy.shape), c.name);
    const std::vector<double> ours(out.data(), out.data() + out.numel());
    BOOST_TEST(ours == (std::is_same_v<T, float> ? c.float32.out : c.float64.out), c.name);
}

// Shapes of a broadcast over `out` whose dims are each kept or stretched by `mask` bits.
Shape stretched(const Shape& out, unsigned mask, size_t drop_leading = 0) {
    Shape s(out.begin() + static_cast<std::ptrdiff_t>(drop_leading), out.end());
    for (size_t d = 0; d < s.size(); ++d)
        if (mask & (1u << d)) s[d] = 1;
    return s;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(broadcast)

BOOST_AUTO_TEST_CASE(binary_ops_against_pytorch) {
    for (const char* op : {"add", "sub", "mul", "div", "pow", "maximum", "minimum"}) run_cases(op);
}
BOOST_AUTO_TEST_CASE(pow_with_a_scalar) {
    for (const char* op : {"pow_scalar", "pow_scalar_base"}) run_cases(op);
}
BOOST_AUTO_TEST_CASE(where_against_pytorch) { run_cases("where"); }
BOOST_AUTO_TEST_CASE(sum_to_size_against_pytorch) { run_cases("sum_to_size"); }

BOOST_AUTO_TEST_CASE(comparisons_against_pytorch_and_unrecorded) {
    int ran = 0;
    for (const GoldenCase& c : load_golden("broadcast.json")) {
        if (!kComparisons.count(c.op)) continue;
        check_comparison<float>(c);
        check_comparison<double>(c);
        ++ran;
    }
    BOOST_TEST(ran >= 6 * 10);
}

BOOST_AUTO_TEST_CASE(every_fixture_case_has_an_op) {
    for (const GoldenCase& c : load_golden("broadcast.json"))
        if (!kComparisons.count(c.op)) BOOST_CHECK_NO_THROW(make_op<double>(c));
}

// Every op's kernel against the index-arithmetic reference, over all 16 ways of stretching
// the dims of a 4-D operand (and with leading dims missing), on shapes past the parallel
// threshold.
BOOST_AUTO_TEST_CASE(kernels_match_their_reference) {
    using kernels::BinaryOp;
    const Shape out_shape = {6, 32, 12, 20};
    Generator gen(7);
    for (unsigned mask = 0; mask < 16; ++mask)
        for (size_t drop = 0; drop < 2; ++drop) {
            const Shape bs = stretched(out_shape, mask, drop);
            const Tensor a = randn<float>(out_shape, &gen), b = randn<float>(bs, &gen);
            for (BinaryOp op :
                 {BinaryOp::add, BinaryOp::sub, BinaryOp::mul, BinaryOp::div, BinaryOp::maximum, BinaryOp::lt}) {
                for (bool b_first : {false, true}) {
                    const Tensor& x = b_first ? b : a;
                    const Tensor& y = b_first ? a : b;
                    Tensor ours = empty<float>(out_shape), ref = empty<float>(out_shape);
                    const std::span<const int64_t> shapes[] = {x.shape(), y.shape()};
                    kernels::binary_forward(ours.data(), x.data(), y.data(), kernels::plan_broadcast(out_shape, shapes),
                                            op, false);
                    kernels::binary_forward_reference(ref.data(), x.data(), y.data(), out_shape, x.shape(), y.shape(),
                                                      op);
                    BOOST_TEST(max_difference(ours, ref) == 0.0,
                               "mask " << mask << " drop " << drop << " op " << int(op));
                }
            }
            // sum_to_shape, 1 and 2 threads: within float rounding of the reference, and the same bits.
            Tensor one = empty<float>(bs), two = empty<float>(bs), ref = empty<float>(bs);
            kernels::sum_to_shape_reference(ref.data(), a.data(), out_shape, bs);
            set_num_threads(1);
            kernels::sum_to_shape(one.data(), a.data(), static_cast<const float*>(nullptr), out_shape, bs, 1.0, false);
            set_num_threads(2);
            kernels::sum_to_shape(two.data(), a.data(), static_cast<const float*>(nullptr), out_shape, bs, 1.0, false);
            BOOST_TEST(max_difference(one, ref) <=
                           1e-6 * std::max(1.0, double(a.numel()) / double(std::max<int64_t>(1, ref.numel()))),
                       "mask " << mask);
            BOOST_TEST(max_difference(one, two) == 0.0, "mask " << mask);
        }
}

// A long kept innermost dim (past one block of columns) and a long reduced one (past one
// piece), in double against the reference, so that the splitting itself is checked.
BOOST_AUTO_TEST_CASE(sum_to_shape_long_rows) {
    Generator gen(3);
    for (const auto& [in, out] : std::vector<std::pair<Shape, Shape>>{{{3, 5000}, {5000}},
                                                                      {{2, 3, 40000}, {3, 1}},
                                                                      {{70000}, {1}},
                                                                      {{2, 70000}, {2, 1}}}) {
        const DoubleTensor x = randn<double>(in, &gen);
        DoubleTensor ours = empty<double>(out), ref = empty<double>(out);
        kernels::sum_to_shape(ours.data(), x.data(), static_cast<const double*>(nullptr), in, out, 1.0, false);
        kernels::sum_to_shape_reference(ref.data(), x.data(), in, out);
        BOOST_TEST(max_difference(ours, ref) <= 1e-10, to_string(in) << " -> " << to_string(out));
    }
}

// The gradients add: an operand used twice, or on both sides, gets both contributions.
BOOST_AUTO_TEST_CASE(gradients_accumulate) {
    DoubleTensor a = from_vector<double>({2, 1}, {1.0, 2.0}, true);
    DoubleTensor b = from_vector<double>({3}, {1.0, 2.0, 3.0}, true);
    {
        Tape tape;
        tape.backward(sum(a * b + a * a + b));
    }
    // d/da Σ_j (a b_j + a²) = Σ b + 6a; d/db_j = Σ_i a_i + 2.
    BOOST_TEST(a.grad().to_vector() == (std::vector<double>{6.0 + 6.0, 6.0 + 12.0}));
    BOOST_TEST(b.grad().to_vector() == (std::vector<double>{5.0, 5.0, 5.0}));
}

BOOST_AUTO_TEST_CASE(errors_are_pytorchs_and_record_nothing) {
    const Tensor a = zeros({2, 3}, true), b = zeros({4}, true);
    Tape tape;
    auto mismatch = [](const std::invalid_argument& e) {
        return message_is(e,
                          "The size of tensor a (3) must match the size of tensor b (4) at non-singleton dimension 1");
    };
    BOOST_CHECK_EXCEPTION(a + b, std::invalid_argument, mismatch);
    BOOST_CHECK_EXCEPTION(mul(a, b), std::invalid_argument, mismatch);
    BOOST_CHECK_EXCEPTION(maximum(a, b), std::invalid_argument, mismatch);
    BOOST_CHECK_EXCEPTION(pow(a, b), std::invalid_argument, mismatch);
    BOOST_CHECK_EXCEPTION(lt(a, b), std::invalid_argument, mismatch);
    BOOST_CHECK_EXCEPTION(where(zeros({2, 3}), zeros({4}), a), std::invalid_argument, mismatch);
    BOOST_CHECK_EXCEPTION(
        where(zeros({2, 3}), a, zeros({5})), std::invalid_argument, [](const std::invalid_argument& e) {
            return message_is(
                e, "The size of tensor a (3) must match the size of tensor b (5) at non-singleton dimension 1");
        });
    BOOST_CHECK_EXCEPTION(
        zeros({2, 3, 4}) - zeros({2, 1, 3}), std::invalid_argument, [](const std::invalid_argument& e) {
            return message_is(
                e, "The size of tensor a (4) must match the size of tensor b (3) at non-singleton dimension 2");
        });
    BOOST_CHECK_EXCEPTION(
        sum_to_size(zeros({2, 4}, true), {3}), std::invalid_argument,
        [](const std::invalid_argument& e) { return message_is(e, "size {[3]} is not expandable to size {[2, 4]}."); });
    BOOST_CHECK_EXCEPTION(sum_to_size(zeros({2, 4}, true), {1, 2, 4}), std::invalid_argument,
                          [](const std::invalid_argument& e) {
                              return message_is(e, "size {[1, 2, 4]} is not expandable to size {[2, 4]}.");
                          });
    BOOST_TEST(tape.size() == 0u);
}

BOOST_AUTO_TEST_CASE(scalar_operators_broadcast) {
    const Tensor x = from_vector<float>({2, 2}, {1.0f, 2.0f, 3.0f, 4.0f});
    BOOST_TEST((x * 2.0f).to_vector() == (std::vector<float>{2.0f, 4.0f, 6.0f, 8.0f}));
    BOOST_TEST((2.0f - x).to_vector() == (std::vector<float>{1.0f, 0.0f, -1.0f, -2.0f}));
    BOOST_TEST((x / 2.0f + 1.0f).to_vector() == (std::vector<float>{1.5f, 2.0f, 2.5f, 3.0f}));
}

BOOST_AUTO_TEST_SUITE_END()
