// Reductions along dims, max/min with indices, logsumexp, softmax and log_softmax: every op
// against PyTorch (tests/golden/reductions.json, from cases_reductions.py) in float32 and
// float64 and against finite differences in double; PyTorch's errors and special values;
// results bit for bit the same at 1 and 2 threads; the kernels against their references.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "framework/kernels/reduce.hpp"
#include "framework/kernels/softmax.hpp"
#include <tapegrad/tapegrad.hpp>
#include "support/gradcheck.hpp"
#include "support/messages.hpp"
#include "support/tensors.hpp"

using namespace tapegrad;
using namespace tapegrad::testing;

namespace {

constexpr const char* kFixture = "reductions.json";

template <typename T>
OpFn<T> make_op(const GoldenCase& c) {
    const auto& a = c.attrs;
    auto dims = [&] { return Dims(a.at("dims").get<std::vector<int64_t>>()); };
    auto keepdim = [&] { return a.at("keepdim").get<bool>(); };
    using In = const std::vector<BasicTensor<T>>&;
    if (c.op == "sum") return [d = dims(), k = keepdim()](In in) { return sum(in[0], d, k); };
    if (c.op == "mean") return [d = dims(), k = keepdim()](In in) { return mean(in[0], d, k); };
    if (c.op == "var" || c.op == "std") {
        const double corr = a.at("correction").get<double>();
        if (c.op == "var") return [d = dims(), k = keepdim(), corr](In in) { return var(in[0], d, corr, k); };
        return [d = dims(), k = keepdim(), corr](In in) { return tapegrad::std(in[0], d, corr, k); };
    }
    if (c.op == "amax") return [d = dims(), k = keepdim()](In in) { return amax(in[0], d, k); };
    if (c.op == "amin") return [d = dims(), k = keepdim()](In in) { return amin(in[0], d, k); };
    if (c.op == "logsumexp") return [d = dims(), k = keepdim()](In in) { return logsumexp(in[0], d, k); };
    if (c.op == "max") return [](In in) { return tapegrad::max(in[0]); };
    if (c.op == "min") return [](In in) { return tapegrad::min(in[0]); };
    if (c.op == "max_dim" || c.op == "min_dim") {
        const int64_t dim = a.at("dim").get<int64_t>();
        if (c.op == "max_dim") return [dim, k = keepdim()](In in) { return tapegrad::max(in[0], dim, k).values; };
        return [dim, k = keepdim()](In in) { return tapegrad::min(in[0], dim, k).values; };
    }
    if (c.op == "softmax") return [dim = a.at("dim").get<int64_t>()](In in) { return softmax(in[0], dim); };
    if (c.op == "log_softmax") return [dim = a.at("dim").get<int64_t>()](In in) { return log_softmax(in[0], dim); };
    throw std::logic_error("test_reductions: no entry for op '" + c.op + "' in make_op");
}

bool has_ties(const GoldenCase& c) { return c.attrs.contains("ties") && c.attrs.at("ties").get<bool>(); }

// check_golden_cases, except that cases with tied extrema skip the finite differences: there
// the gradient is a subgradient (split among ties, or given to the first), not a derivative.
int run_cases(const std::string& op) {
    int ran = 0;
    for (const GoldenCase& c : load_golden(kFixture)) {
        if (c.op != op) continue;
        BOOST_TEST_CONTEXT("case " << c.name) {
            check_golden<float>(c, make_op<float>(c), 1e-5);
            check_golden<double>(c, make_op<double>(c), 1e-10);
            if (!has_ties(c)) check_gradients(c.name, make_op<double>(c), golden_inputs<double>(c));
        }
        ++ran;
    }
    BOOST_TEST(ran >= 1, "no golden case for op " << op);
    return ran;
}

struct RestoreThreads {
    int saved = get_num_threads();
    ~RestoreThreads() { set_num_threads(saved); }
};

// f() must throw E with exactly PyTorch's message and leave the tape as it was.
template <typename E, typename F>
void check_error(F&& f, const std::string& message) {
    Tape tape;
    const size_t before = tape.size();
    BOOST_CHECK_EXCEPTION(f(), E, [&](const E& e) { return message_is(e, message); });
    BOOST_TEST(tape.size() == before);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(reductions)

BOOST_AUTO_TEST_CASE(sum_mean_against_pytorch) {
    for (const char* op : {"sum", "mean"}) run_cases(op);
}
BOOST_AUTO_TEST_CASE(var_std_against_pytorch) {
    for (const char* op : {"var", "std"}) run_cases(op);
}
BOOST_AUTO_TEST_CASE(amax_amin_against_pytorch) {
    for (const char* op : {"amax", "amin"}) run_cases(op);
}
BOOST_AUTO_TEST_CASE(whole_max_min_split_ties_evenly_as_pytorch) {
    for (const char* op : {"max", "min"}) run_cases(op);
}
BOOST_AUTO_TEST_CASE(max_min_along_a_dim_against_pytorch) {
    for (const char* op : {"max_dim", "min_dim"}) run_cases(op);
}
BOOST_AUTO_TEST_CASE(logsumexp_against_pytorch) { run_cases("logsumexp"); }
BOOST_AUTO_TEST_CASE(softmax_log_softmax_against_pytorch) {
    for (const char* op : {"softmax", "log_softmax"}) run_cases(op);
}

BOOST_AUTO_TEST_CASE(every_fixture_case_has_an_op) {
    for (const GoldenCase& c : load_golden(kFixture)) BOOST_CHECK_NO_THROW(make_op<double>(c));
}

// torch.max(x, dim).indices (the first extremum), which argmax/argmin return too.
BOOST_AUTO_TEST_CASE(indices_and_argmax_argmin_match_pytorch) {
    int ran = 0;
    for (const GoldenCase& c : load_golden(kFixture)) {
        if (c.op != "max_dim" && c.op != "min_dim") continue;
        const bool is_max = c.op == "max_dim";
        const Tensor x = to_tensor<float>(c.inputs[0].second);
        const int64_t dim = c.attrs.at("dim").get<int64_t>();
        const bool keepdim = c.attrs.at("keepdim").get<bool>();
        const std::vector<int64_t> expected = c.attrs.at("indices").get<std::vector<int64_t>>();
        const ValuesAndIndices<float> r = is_max ? tapegrad::max(x, dim, keepdim) : tapegrad::min(x, dim, keepdim);
        const LongTensor arg = is_max ? argmax(x, dim, keepdim) : argmin(x, dim, keepdim);
        BOOST_TEST(r.indices.to_vector() == expected, boost::test_tools::per_element());
        BOOST_TEST(arg.to_vector() == expected, boost::test_tools::per_element());
        BOOST_TEST(to_string(arg.shape()) == to_string(r.values.shape()), c.name);
        BOOST_TEST(!arg.requires_grad());
        ++ran;
    }
    BOOST_TEST(ran >= 10);
}

BOOST_AUTO_TEST_CASE(argmax_without_dim_indexes_the_flattened_tensor) {
    const Tensor x = from_vector<float>({2, 3}, {1, 7, 3, 7, 0, -1});
    BOOST_TEST(argmax(x).item() == 1);  // the first of the two 7s
    BOOST_TEST(argmin(x).item() == 5);
    BOOST_TEST(argmax(x).dim() == 0);
}

BOOST_AUTO_TEST_CASE(int_and_list_overloads_agree) {
    manual_seed(1);
    const Tensor x = randn({3, 4, 5});
    BOOST_TEST(same_bits(sum(x, 1), sum(x, {1})));
    BOOST_TEST(same_bits(sum(x, -2, true), sum(x, std::vector<int64_t>{1}, true)));
    BOOST_TEST(same_bits(mean(x, {0, 1, 2}), mean(x)));
    BOOST_TEST(same_bits(sum(x, {}), sum(x)));
    BOOST_TEST(same_bits(amax(x), tapegrad::max(x)));
    BOOST_TEST(to_string(sum(x, {0, 2}, true).shape()) == "[1, 4, 1]");
    BOOST_TEST(to_string(var(x, {-1, 0}).shape()) == "[4]");
}

// log_softmax is the log of softmax, along either dim.
BOOST_AUTO_TEST_CASE(log_softmax_is_the_log_of_softmax) {
    manual_seed(2);
    const DoubleTensor x = randn<double>({5, 11});
    BOOST_TEST(max_difference(log_softmax(x, 0), tapegrad::log(softmax(x, 0))) < 1e-14);
    BOOST_TEST(max_difference(log_softmax(x, -1), tapegrad::log(softmax(x, -1))) < 1e-14);
}

BOOST_AUTO_TEST_CASE(errors_use_pytorchs_words_and_record_nothing) {
    const Tensor x = zeros({2, 3}, true), e = zeros({2, 0, 3}, true);
    const std::string range = "Dimension out of range (expected to be in range of [-2, 1], but got ";
    check_error<std::out_of_range>([&] { sum(x, 2); }, range + "2)");
    check_error<std::out_of_range>([&] { mean(x, {0, -3}); }, range + "-3)");
    check_error<std::out_of_range>([&] { var(x, 5); }, range + "5)");
    check_error<std::out_of_range>([&] { amax(x, {2}); }, range + "2)");
    check_error<std::out_of_range>([&] { tapegrad::max(x, -3); }, range + "-3)");
    check_error<std::out_of_range>([&] { argmin(x, 2); }, range + "2)");
    check_error<std::out_of_range>([&] { logsumexp(x, 2); }, range + "2)");
    check_error<std::out_of_range>([&] { softmax(x, 2); }, range + "2)");
    check_error<std::out_of_range>([&] { log_softmax(x, -3); }, range + "-3)");
    check_error<std::out_of_range>([&] { sum(scalar_tensor(1.0f), 1); },
                                   "Dimension out of range (expected to be in range of [-1, 0], but got 1)");
    check_error<std::invalid_argument>([&] { sum(x, {1, 1}); }, "dim 1 appears multiple times in the list of dims");
    check_error<std::invalid_argument>([&] { sum(x, {1, -1}); }, "dim 1 appears multiple times in the list of dims");
    check_error<std::invalid_argument>([&] { amax(x, {0, 0}); }, "dim 0 appears multiple times in the list of dims");
    check_error<std::invalid_argument>(
        [&] {
            tapegrad::std(x, {-1, 1});
        },
        "dim 1 appears multiple times in the list of dims");
    check_error<std::out_of_range>([&] { amax(e, 1); }, "amax(): Expected reduction dim 1 to have non-zero size.");
    check_error<std::out_of_range>([&] { amin(e, {0, 1}); }, "amin(): Expected reduction dim 1 to have non-zero size.");
    check_error<std::out_of_range>([&] { tapegrad::max(e, 1); },
                                   "max(): Expected reduction dim 1 to have non-zero size.");
    check_error<std::out_of_range>([&] { tapegrad::min(e, -2); },
                                   "min(): Expected reduction dim 1 to have non-zero size.");
    check_error<std::out_of_range>([&] { argmax(e, 1); }, "argmax(): Expected reduction dim 1 to have non-zero size.");
    check_error<std::out_of_range>([&] { argmax(e); },
                                   "argmax(): Expected reduction dim to be specified for input.numel() == 0.");
    check_error<std::invalid_argument>(
        [&] { tapegrad::max(e); },
        "max(): Expected reduction dim to be specified for input.numel() == 0. Specify the "
        "reduction dim with the 'dim' argument.");
}

BOOST_AUTO_TEST_CASE(special_values_as_pytorch) {
    const float inf = std::numeric_limits<float>::infinity();
    // logsumexp: a row of -inf is -inf, a row with +inf is +inf, an empty row -inf.
    const Tensor rows = from_vector<float>({3, 2}, {-inf, -inf, inf, 1.0f, -inf, 2.0f});
    const std::vector<float> lse = logsumexp(rows, 1).to_vector();
    BOOST_TEST(lse[0] == -inf);
    BOOST_TEST(lse[1] == inf);
    BOOST_TEST(lse[2] == 2.0f);
    BOOST_TEST(logsumexp(rows, 0).to_vector()[0] == inf);  // columns too (the column-block path)
    BOOST_TEST(logsumexp(zeros({2, 0}), 1).to_vector() == std::vector<float>(2, -inf),
               boost::test_tools::per_element());
    // A sum over an empty dimension is 0, a mean NaN.
    BOOST_TEST(sum(zeros({2, 0, 3}), 1).to_vector() == std::vector<float>(6, 0.0f), boost::test_tools::per_element());
    BOOST_TEST(std::isnan(mean(zeros({2, 0}), 1).to_vector()[0]));
    // var with N − correction <= 0: inf over 0 degrees of freedom of distinct values, NaN for one element.
    BOOST_TEST(std::isinf(var(from_vector<float>({2}, {1, 2}), 0, 3.0).item()));
    BOOST_TEST(std::isnan(var(from_vector<float>({1}, {1})).item()));
    // NaN propagates through amax and max (whose index is the NaN's).
    const Tensor with_nan = from_vector<float>({1, 4}, {1, std::nanf(""), 5, 2});
    BOOST_TEST(std::isnan(amax(with_nan, 1).item()));
    BOOST_TEST(std::isnan(amin(with_nan).item()));
    BOOST_TEST(tapegrad::max(with_nan, 1).indices.item() == 1);
}

// PyTorch: the gradient of std where std is 0 is 0 (not NaN).
BOOST_AUTO_TEST_CASE(std_of_constant_data_has_zero_gradient) {
    for (const Shape& shape : {Shape{4}, Shape{3, 4, 2}}) {
        DoubleTensor x = full<double>(shape, 2.5, true);
        Tape tape;
        DoubleTensor s = tapegrad::std(x, shape.size() == 1 ? Dims{0} : Dims{1});
        tape.backward(s, ones<double>(s.shape()));
        for (double g : x.grad().to_vector()) BOOST_TEST(g == 0.0);
    }
}

// Accuracy against long double references: sums within 2 ulp of float (column blocks add
// groups of 8 rows in float lanes before double), the two-pass variance within 1e-6.
BOOST_AUTO_TEST_CASE(kernels_match_long_double_references) {
    manual_seed(5);
    struct Case {
        int64_t outer, R, inner;
    };
    for (const Case& c : {Case{3, 100003, 1}, Case{2, 40000, 3}, Case{5, 17, 1}, Case{4, 9, 600}}) {
        // Values near 1e4 with small spread: a naive Σx² − (Σx)² would lose every digit.
        Tensor x = randn({c.outer * c.R * c.inner});
        for (float& v : x.values()) v = 1e4f + v;
        std::vector<float> y(c.outer * c.inner), ref(y.size()), v(y.size()), vref(y.size());
        std::vector<double> mean(y.size());
        kernels::sum_dim_forward(y.data(), x.data(), c.outer, c.R, c.inner, 1.0);
        kernels::sum_dim_forward_reference(ref.data(), x.data(), c.outer, c.R, c.inner, 1.0);
        BOOST_TEST_INFO("outer " << c.outer << ", R " << c.R << ", inner " << c.inner);
        BOOST_TEST(worst(y, ref, 2.4e-7) <= 1.0);
        kernels::variance_dim_forward(v.data(), mean.data(), x.data(), c.outer, c.R, c.inner, 1.0, false);
        kernels::variance_dim_forward_reference(vref.data(), x.data(), c.outer, c.R, c.inner, 1.0);
        BOOST_TEST_INFO("outer " << c.outer << ", R " << c.R << ", inner " << c.inner);
        BOOST_TEST(worst(v, vref, 1e-6) <= 1.0);
    }
}

BOOST_AUTO_TEST_CASE(softmax_kernels_match_the_reference) {
    manual_seed(6);
    struct Case {
        int64_t outer, C, inner;
    };
    for (const Case& c : {Case{3, 1, 1}, Case{4, 17, 1}, Case{2, 9, 5}, Case{2, 3, 700}}) {
        const DoubleTensor x = randn<double>({c.outer * c.C * c.inner});
        for (bool log : {false, true}) {
            std::vector<double> y(x.numel()), ref(y.size());
            if (log)
                kernels::log_softmax_forward(y.data(), x.data(), c.outer, c.C, c.inner);
            else
                kernels::softmax_forward(y.data(), x.data(), c.outer, c.C, c.inner);
            kernels::softmax_forward_reference(ref.data(), x.data(), c.outer, c.C, c.inner, log);
            BOOST_TEST(worst(y, ref, 1e-14) <= 1.0, "log=" << log);
        }
    }
}

// Each output element is reduced by one thread, in an order fixed by the shape; long rows are
// split in fixed chunks whose sums are added in order. So 1 and 2 threads agree bit for bit,
// forward and backward, on both paths (rows, column blocks) and on a gathered block.
BOOST_AUTO_TEST_CASE(results_are_bitwise_the_same_at_1_and_2_threads) {
    RestoreThreads restore;
    manual_seed(7);
    struct Case {
        Shape shape;
        Dims dims;
    };
    const std::vector<Case> cases = {{{1, 300000}, {1}}, {{64, 256, 49}, {1}}, {{64, 256, 49}, {-1}},
                                     {{8, 64, 40, 4}, {0, 2}}, {{300000}, {}}};
    using Op = std::function<Tensor(const Tensor&, const Dims&)>;
    const std::vector<std::pair<const char*, Op>> ops = {
        {"sum", [](const Tensor& x, const Dims& d) { return sum(x, d); }},
        {"mean", [](const Tensor& x, const Dims& d) { return mean(x, d, true); }},
        {"var", [](const Tensor& x, const Dims& d) { return var(x, d); }},
        {"std", [](const Tensor& x, const Dims& d) { return tapegrad::std(x, d, 0.0); }},
        {"amax", [](const Tensor& x, const Dims& d) { return amax(x, d); }},
        {"logsumexp", [](const Tensor& x, const Dims& d) { return logsumexp(x, d); }},
        {"softmax", [](const Tensor& x, const Dims& d) { return softmax(x, d.values.empty() ? 0 : d.values[0]); }},
        {"log_softmax",
         [](const Tensor& x, const Dims& d) { return log_softmax(x, d.values.empty() ? 0 : d.values[0]); }},
    };
    for (const Case& c : cases) {
        const Tensor x_values = randn(c.shape);
        for (const auto& [name, op] : ops) {
            std::vector<std::vector<float>> results[2];
            for (int threads : {1, 2}) {
                set_num_threads(threads);
                Tensor x = x_values.clone();
                x.requires_grad_();
                Tape tape;
                const Tensor y = op(x, c.dims);
                Generator gen(11);
                tape.backward(y, randn(y.shape(), &gen));
                results[threads - 1] = {y.to_vector(), x.grad().to_vector()};
            }
            BOOST_TEST_CONTEXT(name << " over " << to_string(c.shape)) {
                BOOST_TEST(same_bits(results[0][0], results[1][0]), "forward");
                BOOST_TEST(same_bits(results[0][1], results[1][1]), "backward");
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(softmax_module_against_pytorch_and_finite_differences) {
    BOOST_TEST(Softmax(1).repr() == "Softmax(dim=1)");
    BOOST_TEST(Softmax(-1).repr() == "Softmax(dim=-1)");
    int ran = 0;
    for (const GoldenCase& c : load_golden(kFixture)) {
        if (c.op != "softmax") continue;
        const int64_t dim = c.attrs.at("dim").get<int64_t>();
        BOOST_TEST_CONTEXT("case " << c.name) {
            BasicSoftmax<float> f(dim);
            BasicSoftmax<double> d(dim);
            check_golden<float>(c, [&](const auto& in) { return f(in[0]); }, 1e-5);
            check_golden<double>(c, [&](const auto& in) { return d(in[0]); }, 1e-10);
            check_module_gradients(c.name, d, golden_inputs<double>(c)[0]);
        }
        ++ran;
    }
    BOOST_TEST(ran >= 5);
}

BOOST_AUTO_TEST_SUITE_END()
