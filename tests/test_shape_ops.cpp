// The shape ops and upsampling against PyTorch (tests/golden/shape.json, float32 and float64)
// and against finite differences in double; their errors against PyTorch's exception class and
// message (tests/golden/shape_errors.json), with nothing left on the tape; and the Upsample
// layer; which ops return views sharing their input's values (and how their backward hands
// the gradient buffer on) and which return copies. A fixture case is a list of steps (see
// tests/golden/cases_shape.py); to add an op, add a step there and to apply_step here.
#include <boost/test/unit_test.hpp>

#include <functional>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <tapegrad/tapegrad.hpp>
#include "support/gradcheck.hpp"
#include "support/messages.hpp"
#include "support/tensors.hpp"

using namespace tapegrad;
using namespace tapegrad::testing;

namespace {

using Json = nlohmann::ordered_json;

// One step of a fixture case on `xs` (every input for the first step, else the one result).
template <typename T>
BasicTensor<T> apply_step(const Json& s, const std::vector<BasicTensor<T>>& xs) {
    const std::string op = s.at("op");
    auto i64 = [&](const char* key) { return s.at(key).get<int64_t>(); };
    auto list = [&](const char* key) { return s.at(key).get<std::vector<int64_t>>(); };
    if (op == "cat") return cat(xs, i64("dim"));
    if (op == "stack") return stack(xs, i64("dim"));
    BOOST_TEST_REQUIRE(xs.size() == 1u);
    const BasicTensor<T>& x = xs.front();
    if (op == "view") return view(x, list("shape"));
    if (op == "reshape") return reshape(x, list("shape"));
    if (op == "flatten") return flatten(x, i64("start_dim"), i64("end_dim"));
    if (op == "unflatten") return unflatten(x, i64("dim"), list("sizes"));
    if (op == "transpose") return transpose(x, i64("dim0"), i64("dim1"));
    if (op == "permute") return permute(x, list("dims"));
    if (op == "unsqueeze") return unsqueeze(x, i64("dim"));
    if (op == "squeeze") return s.contains("dim") ? squeeze(x, i64("dim")) : squeeze(x);
    if (op == "expand") return expand(x, list("shape"));
    if (op == "repeat") return repeat(x, list("repeats"));
    if (op == "narrow") return narrow(x, i64("dim"), i64("start"), i64("length"));
    if (op == "slice") return slice(x, i64("dim"), i64("start"), i64("end"), i64("step"));
    if (op == "select") return select(x, i64("dim"), i64("index"));
    if (op == "index_select") return index_select(x, i64("dim"), list("indices"));
    if (op == "contiguous") return contiguous(x);
    if (op == "upsample_nearest2d") return upsample_nearest2d(x, i64("scale"));
    throw std::logic_error("test_shape_ops: no step '" + op + "' in apply_step");
}

template <typename T>
BasicTensor<T> run_steps(const Json& steps, const std::vector<BasicTensor<T>>& inputs) {
    BasicTensor<T> out = apply_step<T>(steps.at(0), inputs);
    for (size_t i = 1; i < steps.size(); ++i) out = apply_step<T>(steps.at(i), {out});
    return out;
}

template <typename T>
OpFn<T> make_op(const GoldenCase& c) {
    const Json steps = c.attrs.at("steps");
    return [steps](const std::vector<BasicTensor<T>>& in) { return run_steps<T>(steps, in); };
}

void run_cases(const std::string& op) {
    const int ran = check_golden_cases("shape.json", op, make_op<float>, make_op<double>);
    BOOST_TEST(ran >= 1, "no golden case for op " << op);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(shape_ops)

BOOST_AUTO_TEST_CASE(view_reshape_flatten_unflatten) {
    for (const char* op : {"view", "reshape", "flatten", "unflatten"}) run_cases(op);
}
BOOST_AUTO_TEST_CASE(transpose_permute) {
    for (const char* op : {"transpose", "permute"}) run_cases(op);
}
BOOST_AUTO_TEST_CASE(squeeze_unsqueeze_expand_repeat) {
    for (const char* op : {"squeeze", "unsqueeze", "expand", "repeat"}) run_cases(op);
}
BOOST_AUTO_TEST_CASE(narrow_slice_select) {
    for (const char* op : {"narrow", "slice", "select"}) run_cases(op);
}
BOOST_AUTO_TEST_CASE(index_select_with_repeats) { run_cases("index_select"); }
BOOST_AUTO_TEST_CASE(cat_stack) {
    for (const char* op : {"cat", "stack"}) run_cases(op);
}
BOOST_AUTO_TEST_CASE(upsample_nearest2d_scales) { run_cases("upsample_nearest2d"); }
BOOST_AUTO_TEST_CASE(chains_and_non_contiguous_inputs) { run_cases("chain"); }

BOOST_AUTO_TEST_CASE(every_fixture_case_runs_here) {
    const std::set<std::string> ops = {"view", "reshape", "flatten", "unflatten", "transpose", "permute",
                                       "squeeze", "unsqueeze", "expand", "repeat", "narrow", "slice", "select",
                                       "index_select", "cat", "stack", "upsample_nearest2d", "chain"};
    for (const GoldenCase& c : load_golden("shape.json")) {
        BOOST_TEST_CONTEXT("case " << c.name) {
            BOOST_TEST(ops.count(c.op) == 1u);
            BOOST_CHECK_NO_THROW(make_op<double>(c)(golden_inputs<double>(c)));
        }
    }
}

// Each misuse raises PyTorch's exception (IndexError as std::out_of_range, RuntimeError and
// ValueError as std::invalid_argument) with its message, before anything is recorded.
BOOST_AUTO_TEST_CASE(errors_are_pytorchs_and_leave_no_record) {
    const Json doc = load_golden_document("shape_errors.json");
    int checked = 0;
    for (const Json& c : doc.at("cases")) {
        const std::string name = c.at("name");
        const std::string type = c.at("error").at("type"), expected = c.at("error").at("message");
        std::vector<Tensor> inputs;
        for (const Json& s : c.at("shapes")) inputs.push_back(zeros(s.get<Shape>(), /*requires_grad=*/true));
        BOOST_TEST_CONTEXT("case " << name) {
            Tape tape;
            const Tensor warm = inputs.empty() ? Tensor() : inputs.front() * 2.0f;  // one record before
            const size_t before = tape.size();
            auto call = [&] { run_steps<float>(c.at("steps"), inputs); };
            if (type == "IndexError")
                BOOST_CHECK_EXCEPTION(call(), std::out_of_range,
                                      [&](const std::out_of_range& e) { return message_is(e, expected); });
            else
                BOOST_CHECK_EXCEPTION(call(), std::invalid_argument,
                                      [&](const std::invalid_argument& e) { return message_is(e, expected); });
            BOOST_TEST(tape.size() == before);
        }
        ++checked;
    }
    BOOST_TEST(checked >= 40);
}

BOOST_AUTO_TEST_CASE(errors_without_a_pytorch_counterpart) {
    Tape tape;
    const Tensor x = zeros({2, 3, 4}, true);
    check_message([&] { upsample_nearest2d(x, 2); }, {"upsample_nearest2d", "4-D", "[2, 3, 4]"});
    check_message([&] { expand(zeros({1, 3}, true), {-2, 3}); }, {"expand", "-2"});
    BOOST_CHECK_EXCEPTION(index_select(x, 1, from_vector<int64_t>({1, 2}, {0, 1})), std::out_of_range,
                          [](const std::out_of_range& e) {
                              return message_is(e, "index_select(): Index is supposed to be a vector");
                          });
    check_message([] { index_select(full<float>({}, 1.0f), 0, std::vector<int64_t>{0, 0}); },
                  {"Index to scalar can have only 1 value, got 2 value(s)"});
    BOOST_TEST(tape.size() == 0u);
}

BOOST_AUTO_TEST_CASE(index_select_takes_a_long_tensor_too) {
    Generator gen(3);
    const DoubleTensor x = randn<double>({3, 5, 2}, &gen);
    const std::vector<int64_t> idx = {4, 0, 4};
    const DoubleTensor a = index_select(x, -2, idx);
    const DoubleTensor b = index_select(x, -2, from_vector<int64_t>({3}, idx));
    BOOST_TEST(a.to_vector() == b.to_vector(), boost::test_tools::per_element());
    // A 0-d index keeps the dimension, with size 1.
    BOOST_TEST((index_select(x, 1, full<int64_t>({}, 2)).shape() == Shape{3, 1, 2}));
    // A 0-d input takes one index, 0, and stays 0-d.
    BOOST_TEST((index_select(full<double>({}, 1.5), 0, std::vector<int64_t>{0}).shape() == Shape{}));
}

// The library's layout decision: the shape-only ops return views that share the input's
// values (a write through either is seen by the other, as PyTorch's view), each a node of its
// own; every other shape op returns a copy, even when its result has x's shape and order.
BOOST_AUTO_TEST_CASE(shape_only_ops_return_views_sharing_values_both_ways) {
    const std::vector<float> values{0, 1, 2, 3, 4, 5};
    Tensor x = from_vector<float>({2, 1, 3}, values);
    const std::vector<std::pair<std::string, std::function<Tensor()>>> views = {
        {"reshape", [&] { return reshape(x, {3, -1}); }},
        {"view", [&] { return view(x, {6}); }},
        {"flatten", [&] { return flatten(x, 0, -1); }},
        {"unflatten", [&] { return unflatten(x, 2, {3, 1}); }},
        {"squeeze", [&] { return squeeze(x); }},
        {"squeeze(dim)", [&] { return squeeze(x, -2); }},
        {"squeeze(dim) of size 3", [&] { return squeeze(x, 2); }},
        {"unsqueeze", [&] { return unsqueeze(x, 0); }},
        {"view of a view", [&] { return flatten(unsqueeze(reshape(x, {6}), 1)); }},
    };
    for (const auto& [name, make] : views) {
        BOOST_TEST_CONTEXT(name) {
            std::copy(values.begin(), values.end(), x.data());
            Tensor y = make();
            BOOST_TEST(y.numel() == x.numel());
            BOOST_TEST(y.id() != x.id());  // its own node
            BOOST_TEST(y.to_vector() == values, boost::test_tools::per_element());
            y.data()[4] = 100.0f;  // through the view ...
            BOOST_TEST(x.data()[4] == 100.0f);
            x.data()[1] = -7.0f;  // ... and through the input
            BOOST_TEST(y.data()[1] == -7.0f);
        }
    }
    // A 0-d tensor flattens to a view of shape (1).
    Tensor s = full<float>({}, 2.0f);
    Tensor f = flatten(s, 0);
    BOOST_TEST((f.shape() == Shape{1}));
    f.data()[0] = 3.0f;
    BOOST_TEST(s.item() == 3.0f);
    // Empty tensors have views too.
    const Tensor e = reshape(zeros({0, 4}), {4, 0, 1});
    BOOST_TEST((e.shape() == Shape{4, 0, 1}));
}

BOOST_AUTO_TEST_CASE(other_shape_ops_return_copies_and_contiguous_returns_the_tensor) {
    const std::vector<float> values{0, 1, 2, 3, 4, 5};
    Tensor x = from_vector<float>({2, 3}, values);
    // Each keeps x's shape or at least x's first values in x's order, so a shared storage would show.
    const std::vector<std::pair<std::string, std::function<Tensor()>>> copies = {
        {"transpose", [&] { return transpose(x, 0, 1); }},
        {"transpose(d, d)", [&] { return transpose(x, 1, 1); }},
        {"permute (identity)", [&] { return permute(x, {0, 1}); }},
        {"narrow (whole)", [&] { return narrow(x, 1, 0, 3); }},
        {"slice (whole)", [&] { return slice(x, 0); }},
        {"select", [&] { return select(x, 0, 0); }},
        {"expand (same shape)", [&] { return expand(x, {2, 3}); }},
        {"expand", [&] { return expand(unsqueeze(x, 0), {2, 2, 3}); }},
        {"repeat (once)", [&] { return repeat(x, {1, 1}); }},
        {"index_select (identity)", [&] { return index_select(x, 0, std::vector<int64_t>{0, 1}); }},
        {"cat (one tensor)", [&] { return cat(std::vector<Tensor>{x}, 0); }},
        {"stack (one tensor)", [&] { return stack(std::vector<Tensor>{x}, 0); }},
    };
    for (const auto& [name, make] : copies) {
        BOOST_TEST_CONTEXT(name) {
            std::copy(values.begin(), values.end(), x.data());
            Tensor y = make();
            BOOST_TEST(y.data()[0] == 0.0f);
            y.data()[0] = 100.0f;
            BOOST_TEST(x.data()[0] == 0.0f);
            x.data()[0] = -7.0f;
            BOOST_TEST(y.data()[0] == 100.0f);
        }
    }

    x.requires_grad_();
    Tape tape;
    const Tensor c = contiguous(x);
    BOOST_TEST(c.id() == x.id());
    BOOST_TEST(tape.size() == 0u);
}

// A view is a node of its own on the tape: it requires grad when x does, has its own
// gradient, and x gets dy back in its own shape.
BOOST_AUTO_TEST_CASE(a_view_is_a_new_autograd_node) {
    DoubleTensor x = from_vector<double>({2, 3}, {1, 2, 3, 4, 5, 6}, true);
    const DoubleTensor plain = reshape(x, {3, 2});  // no tape: a leaf that does not require grad
    BOOST_TEST(plain.is_leaf());
    BOOST_TEST(!plain.requires_grad());
    BOOST_TEST(!plain.grad().defined());
    Tape tape;
    const DoubleTensor y = reshape(x, {3, 2});
    BOOST_TEST(tape.size() == 1u);
    BOOST_TEST(y.requires_grad());
    BOOST_TEST(!y.is_leaf());
    BOOST_TEST(x.is_leaf());
    tape.backward(sum(y * y));
    BOOST_TEST(!y.grad().defined());  // released by the walk, as any non-leaf's
    BOOST_TEST((x.grad().shape() == Shape{2, 3}));
    BOOST_TEST(x.grad().to_vector() == (std::vector<double>{2, 4, 6, 8, 10, 12}), boost::test_tools::per_element());
}

namespace {

// y = 3·a with a backward that reports where it wrote a's gradient.
template <typename T>
BasicTensor<T> triple_reporting(const BasicTensor<T>& a, const T** wrote_to) {
    BasicTensor<T> out = empty<T>(a.shape());
    for (int64_t i = 0; i < a.numel(); ++i) out.data()[i] = 3 * a.data()[i];
    record_op("triple_reporting", out, any_requires_grad(a), [a, wrote_to](const T* dy) {
        const GradBuffer<T> ga = a.grad_buffer();
        for (int64_t i = 0; i < a.numel(); ++i) ga.data[i] = (ga.accumulate ? ga.data[i] : T(0)) + 3 * dy[i];
        *wrote_to = ga.data;
    });
    return out;
}

}  // namespace

// When x has no gradient yet, the view's backward makes dy's buffer x's gradient (no copy):
// through a chain of views, the leaf ends up with the very buffer the op after them wrote.
BOOST_AUTO_TEST_CASE(view_backward_reuses_the_gradient_buffer) {
    DoubleTensor x = from_vector<double>({2, 3}, {1, 2, 3, 4, 5, 6}, true);
    const double* wrote_to = nullptr;
    {
        Tape tape;
        const DoubleTensor y = unsqueeze(flatten(reshape(x, {3, 2}), 0), -1);  // (6, 1)
        tape.backward(sum(triple_reporting(y, &wrote_to)));
    }
    BOOST_TEST_REQUIRE(wrote_to != nullptr);
    BOOST_TEST(x.grad().data() == wrote_to);
    BOOST_TEST((x.grad().shape() == Shape{2, 3}));
    for (double g : x.grad().to_vector()) BOOST_TEST(g == 3.0);

    // A second backward adds into that same gradient.
    {
        Tape tape;
        tape.backward(sum(triple_reporting(view(x, {6}), &wrote_to)));
    }
    BOOST_TEST(x.grad().data() != wrote_to);  // the new dy was added, not adopted
    for (double g : x.grad().to_vector()) BOOST_TEST(g == 6.0);
}

// When x already has a gradient (x read twice, or an earlier backward), the view's backward adds.
BOOST_AUTO_TEST_CASE(view_backward_accumulates_into_an_existing_gradient) {
    Generator gen(3);
    DoubleTensor x = randn<double>({2, 3, 4}, &gen, true);
    const DoubleTensor w = randn<double>({2, 3, 4}, &gen);
    {
        Tape tape;
        // d/dx: w (through the product) + 2 (through reshape) + 1 (through squeeze(unsqueeze)).
        const DoubleTensor loss =
            sum(x * w) + sum(reshape(x, {4, 6}) * 2.0) + sum(squeeze(unsqueeze(x, 1), 1));
        tape.backward(loss);
    }
    for (int64_t i = 0; i < x.numel(); ++i)
        BOOST_TEST(x.grad().data()[i] == w.data()[i] + 3.0, boost::test_tools::tolerance(1e-12));
}

// A gradient someone else holds (the seed given to backward) is copied, never adopted: later
// additions into x's gradient must not write into the caller's seed.
BOOST_AUTO_TEST_CASE(a_seed_held_by_the_caller_is_not_adopted) {
    DoubleTensor x = zeros<double>({2, 3}, true);
    const DoubleTensor seed = from_vector<double>({6}, {1, 2, 3, 4, 5, 6});
    for (int k = 0; k < 2; ++k) {
        Tape tape;
        tape.backward(flatten(x, 0), seed);
    }
    BOOST_TEST(x.grad().data() != seed.data());
    BOOST_TEST(seed.to_vector() == (std::vector<double>{1, 2, 3, 4, 5, 6}), boost::test_tools::per_element());
    BOOST_TEST(x.grad().to_vector() == (std::vector<double>{2, 4, 6, 8, 10, 12}), boost::test_tools::per_element());
}

// Parameters are updated in place, so a view of one made before a step shows the new values.
BOOST_AUTO_TEST_CASE(a_view_of_a_parameter_sees_an_optimizer_step) {
    Tensor w = from_vector<float>({2, 2}, {1, 2, 3, 4}, true);
    const Tensor flat = flatten(w, 0);
    SGD opt({w}, SGDOptions{.lr = 0.5});
    {
        Tape tape;
        tape.backward(sum(w * w));  // dw = 2w
    }
    opt.step();  // w -= 0.5 · 2w: all zeros
    BOOST_TEST(w.to_vector() == (std::vector<float>{0, 0, 0, 0}), boost::test_tools::per_element());
    BOOST_TEST(flat.to_vector() == w.to_vector(), boost::test_tools::per_element());
}

// A tensor used twice (here: cat of x with itself, and transpose + permute into one sum) gets
// both gradients added, whether the first one was assigned or added.
BOOST_AUTO_TEST_CASE(gradients_accumulate_over_uses) {
    Generator gen(5);
    DoubleTensor x = randn<double>({2, 3, 4}, &gen, true);
    const DoubleTensor seed = randn<double>({4, 3, 2}, &gen);
    {
        Tape tape;
        const DoubleTensor y = transpose(x, 0, 2) + permute(x, {2, 1, 0});
        tape.backward(y, seed);
    }
    const DoubleTensor expected = permute(seed, {2, 1, 0});
    for (int64_t i = 0; i < x.numel(); ++i) BOOST_TEST(x.grad().data()[i] == 2.0 * expected.data()[i]);

    DoubleTensor a = randn<double>({2, 3}, &gen, true);
    {
        Tape tape;
        tape.backward(sum(cat(std::vector<DoubleTensor>{a, a, a}, 1)));
    }
    for (double g : a.grad().to_vector()) BOOST_TEST(g == 3.0);
}

BOOST_AUTO_TEST_CASE(upsample_layer) {
    BOOST_TEST(Upsample(2).repr() == "Upsample(scale_factor=2.0, mode=nearest)");
    BOOST_TEST(BasicUpsample<double>(3.0, "nearest").repr() == "Upsample(scale_factor=3.0, mode=nearest)");
    check_message([] { Upsample(2.5); }, {"Upsample", "scale_factor=2.5"});
    check_message([] { Upsample(0); }, {"Upsample", "scale_factor=0.0"});
    check_message([] { Upsample(2, "bilinear"); }, {"Upsample", "nearest", "bilinear"});

    Generator gen(7);
    BasicUpsample<double> up(2);
    const DoubleTensor x = randn<double>({2, 2, 3, 3}, &gen, true);
    const DoubleTensor y = up(x);
    BOOST_TEST((y.shape() == Shape{2, 2, 6, 6}));
    BOOST_TEST(y.to_vector() == upsample_nearest2d(x, 2).to_vector(), boost::test_tools::per_element());
    check_module_gradients("Upsample(2)", up, x);
    BOOST_TEST(up.parameters().empty());
}

BOOST_AUTO_TEST_SUITE_END()
