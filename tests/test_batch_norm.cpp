// BatchNorm1d / BatchNorm2d: PyTorch golden values (tests/golden/batch_norm.json) for
// F.batch_norm in training and evaluation, the modules' running statistics step by step
// (momentum, cumulative average, untracked), PyTorch's errors; the layers by finite
// differences in both modes; an empty batch; the state dict with its int64 counter through
// JSON and CBOR; printing and defaults. With virtual_batch_size (ghost batches): PyTorch
// golden values computed by splitting the batch (batch_norm_virtual*.json), finite
// differences, the same bits as BatchNorm on each chunk alone, and the errors.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include <tapegrad/tapegrad.hpp>
#include "support/golden.hpp"
#include "support/gradcheck.hpp"
#include "support/messages.hpp"
#include "support/temp_dir.hpp"
#include "support/tensors.hpp"

using namespace tapegrad;
using namespace tapegrad::testing;

namespace {

// The op of a "batch_norm" case of batch_norm.json, in precision T.
template <typename T>
OpFn<T> make_op(const GoldenCase& c) {
    const bool training = c.attrs.at("training").get<bool>();
    const double eps = c.attrs.at("eps").get<double>();
    BasicTensor<T> rm, rv;
    if (!training) {
        const auto m = c.attrs.at("running_mean").get<std::vector<double>>();
        const auto v = c.attrs.at("running_var").get<std::vector<double>>();
        const int64_t C = static_cast<int64_t>(m.size());
        rm = from_vector<T>({C}, std::vector<T>(m.begin(), m.end()));
        rv = from_vector<T>({C}, std::vector<T>(v.begin(), v.end()));
    }
    return [training, eps, rm, rv](const std::vector<BasicTensor<T>>& in) {
        const BasicTensor<T> w = in.size() == 3 ? in[1] : BasicTensor<T>{};
        const BasicTensor<T> b = in.size() == 3 ? in[2] : BasicTensor<T>{};
        return batch_norm(in[0], rm, rv, w, b, training, 0.1, eps);
    };
}

std::shared_ptr<BasicBatchNorm<float>> make_module(const std::string& kind, const BatchNormOptions& o) {
    if (kind == "BatchNorm1d") return std::make_shared<BatchNorm1d>(o);
    BOOST_TEST_REQUIRE(kind == "BatchNorm2d");
    return std::make_shared<BatchNorm2d>(o);
}

// The op of a "batch_norm_virtual" case: training with ghost batches.
template <typename T>
OpFn<T> make_virtual_op(const GoldenCase& c) {
    const int64_t group = c.attrs.at("virtual_batch_size").get<int64_t>();
    const double eps = c.attrs.at("eps").get<double>();
    return [group, eps](const std::vector<BasicTensor<T>>& in) {
        const BasicTensor<T> w = in.size() == 3 ? in[1] : BasicTensor<T>{};
        const BasicTensor<T> b = in.size() == 3 ? in[2] : BasicTensor<T>{};
        return batch_norm(in[0], BasicTensor<T>{}, BasicTensor<T>{}, w, b, true, 0.1, eps, group);
    };
}

// Rows [first, first + count) of x (N, ...), as a tensor of its own.
template <typename T>
BasicTensor<T> rows(const BasicTensor<T>& x, int64_t first, int64_t count, bool requires_grad = false) {
    Shape shape = x.shape();
    const int64_t row = shape[0] > 0 ? x.numel() / shape[0] : 0;
    shape[0] = count;
    const std::vector<T> all = x.to_vector();
    return from_vector<T>(shape, std::vector<T>(all.begin() + first * row, all.begin() + (first + count) * row),
                          requires_grad);
}

// A module case's options: num_features, eps, momentum (null: the cumulative average), affine,
// track_running_stats.
BatchNormOptions golden_options(const nlohmann::ordered_json& a) {
    BatchNormOptions o{.num_features = a.at("num_features").get<int64_t>(), .eps = a.at("eps").get<double>()};
    o.momentum = a.at("momentum").is_null() ? std::nullopt : std::optional<double>(a.at("momentum").get<double>());
    o.affine = a.at("affine").get<bool>();
    o.track_running_stats = a.at("track_running_stats").get<bool>();
    return o;
}

// After a module case's training steps: evaluation mode on eval_x gives eval_out.
void check_golden_eval(BasicBatchNorm<float>& bn, const nlohmann::ordered_json& c) {
    bn.eval();
    const Tensor y = bn(to_tensor<float>(golden_array(c.at("eval_x"))));
    BOOST_TEST(worst(y.to_vector(), c.at("eval_out").get<std::vector<float>>(), 1e-5) <= 1.0);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(batch_norm_layer)

// Every "batch_norm" case: forward and all gradients against PyTorch in float32 and float64,
// and by finite differences in double.
BOOST_AUTO_TEST_CASE(matches_pytorch_golden_values_and_passes_the_gradient_check) {
    const int ran = check_golden_cases("batch_norm.json", "batch_norm", make_op<float>, make_op<double>);
    BOOST_TEST(ran >= 16);
}

// The modules through the fixture's training steps: weight, bias, running_mean, running_var
// and num_batches_tracked after every step, then the evaluation output.
BOOST_AUTO_TEST_CASE(running_statistics_follow_pytorch_step_by_step) {
    int ran = 0;
    const nlohmann::ordered_json doc = load_golden_document("batch_norm_modules.json");  // held, not a temporary
    for (const auto& c : doc.at("cases")) {
        if (c.at("op") != "batch_norm_module") continue;
        BOOST_TEST_CONTEXT("case " << c.at("name").get<std::string>()) {
            const auto& a = c.at("attrs");
            const BatchNormOptions o = golden_options(a);
            auto bn = make_module(a.at("kind").get<std::string>(), o);
            bn->load_state_dict(golden_state(c.at("initial_state")));
            for (size_t k = 0; k < c.at("steps").size(); ++k) {
                const GoldenArray x = golden_array(c.at("steps")[k]);
                (*bn)(to_tensor<float>(x));
                BOOST_TEST_CONTEXT("after step " << k + 1) {
                    check_golden_state(bn->state_dict(), c.at("states")[k], 1e-6);
                }
            }
            check_golden_eval(*bn, c);
        }
        ++ran;
    }
    BOOST_TEST(ran >= 6);
}

// PyTorch 1.13's messages, word for word, or no error where PyTorch raises none.
BOOST_AUTO_TEST_CASE(bad_input_is_pytorchs_error) {
    int ran = 0;
    const nlohmann::ordered_json doc = load_golden_document("batch_norm_modules.json");  // held, not a temporary
    for (const auto& c : doc.at("cases")) {
        if (c.at("op") != "batch_norm_error") continue;
        BOOST_TEST_CONTEXT("case " << c.at("name").get<std::string>()) {
            auto bn = make_module(c.at("kind").get<std::string>(), {.num_features = 3});
            bn->train(c.at("training").get<bool>());
            const Tensor x = ones(c.at("shape").get<Shape>());
            if (c.at("error").is_null()) {
                BOOST_CHECK_NO_THROW((*bn)(x));
            } else {
                const std::string text = c.at("error").get<std::string>();
                BOOST_CHECK_EXCEPTION((*bn)(x), std::invalid_argument,
                                      [&](const auto& e) { return message_is(e, text); });
                BOOST_TEST(bn->num_batches_tracked().data()[0] == 0, "a rejected batch is not counted");
            }
        }
        ++ran;
    }
    BOOST_TEST(ran >= 9);
    BOOST_CHECK_THROW(BatchNorm2d(0), std::invalid_argument);
    BOOST_CHECK_THROW(BatchNorm2d(3, -1.0), std::invalid_argument);
    BOOST_CHECK_THROW(BatchNorm2d(3, 1e-5, 1.5), std::invalid_argument);
    BOOST_CHECK_EXCEPTION(batch_norm(ones({2, 3}), Tensor{}, Tensor{}, {}, {}, /*training=*/false),
                          std::invalid_argument,
                          [](const auto& e) { return message_contains(e, "must be defined when not training"); });
}

// The layers by finite differences over x, γ and β: in training (batch statistics), in
// evaluation (running statistics, after a few training steps moved them), and untracked in
// evaluation (batch statistics again). Odd sizes, both ways over memory.
BOOST_AUTO_TEST_CASE(gradient_check_in_every_mode) {
    Generator gen(17);
    const std::vector<Shape> shapes_2d{{3, 2, 3, 5}, {2, 3, 4, 5}, {1, 2, 5, 5}};
    const std::vector<Shape> shapes_1d{{5, 3}, {3, 2, 7}, {2, 3, 17}};
    for (bool affine : {true, false})
        for (bool track : {true, false})
            for (bool eval : {false, true})
                for (const Shape& shape : affine ? shapes_2d : shapes_1d) {
                    const BatchNormOptions o{.num_features = shape[1], .affine = affine, .track_running_stats = track};
                    std::unique_ptr<BasicBatchNorm<double>> bn;
                    if (shape.size() == 4)
                        bn = std::make_unique<BasicBatchNorm2d<double>>(o);
                    else
                        bn = std::make_unique<BasicBatchNorm1d<double>>(o);
                    if (affine) randomize_affine(*bn, gen);
                    for (int k = 0; k < 3; ++k) (*bn)(randn<double>(shape, &gen));
                    if (eval) bn->eval();
                    const DoubleTensor x = randn<double>(shape, &gen, true);
                    check_module_gradients(bn->repr() + (eval ? " eval" : " train") + " on " + to_string(shape), *bn,
                                           x);
                }
}

// Evaluation with running statistics is the per-channel affine map; training's output has
// mean β and variance γ²·var/(var + eps) per channel.
BOOST_AUTO_TEST_CASE(modes_use_the_statistics_they_should) {
    Generator gen(5);
    BasicBatchNorm2d<double> bn(3);
    randomize_affine(bn, gen);
    const DoubleTensor x = add(randn<double>({4, 3, 5, 5}, &gen), full<double>({4, 3, 5, 5}, 2.0));
    const DoubleTensor y = bn(x);
    for (int64_t c = 0; c < 3; ++c) {
        double s = 0.0;
        for (int64_t n = 0; n < 4; ++n)
            for (int64_t i = 0; i < 25; ++i) s += y.data()[(n * 3 + c) * 25 + i];
        BOOST_TEST(std::abs(s / 100.0 - bn.bias().data()[c]) < 1e-12);
    }
    bn.eval();
    const DoubleTensor z = bn(x);
    for (int64_t n = 0; n < 4; ++n)
        for (int64_t c = 0; c < 3; ++c)
            for (int64_t i = 0; i < 25; ++i) {
                const int64_t k = (n * 3 + c) * 25 + i;
                const double want = (x.data()[k] - bn.running_mean().data()[c]) /
                                        std::sqrt(bn.running_var().data()[c] + 1e-5) * bn.weight().data()[c] +
                                    bn.bias().data()[c];
                BOOST_TEST(std::abs(z.data()[k] - want) < 1e-12);
            }
    BOOST_TEST(bn.num_batches_tracked().data()[0] == 1, "evaluation does not count batches");
    // Untracked: no buffers, and evaluation normalises with the batch's statistics.
    BasicBatchNorm2d<double> plain(3, 1e-5, 0.1, true, false);
    plain.eval();
    BOOST_TEST(!plain.running_mean().defined());
    BOOST_TEST(max_difference(plain(x), BasicBatchNorm2d<double>(3, 1e-5, 0.1, true, false)(x)) == 0.0);
}

// An empty batch (N = 0) in training, with and without running statistics, as PyTorch 1.13
// runs it: an empty output and input gradient, dγ = dβ = 0 (sums over no values; the batch's
// statistics are NaN, an empty set's, and must not leak into them), the running statistics
// untouched (mean 0, var 1) but the batch counted, and γ, β unchanged by an SGD step.
BOOST_AUTO_TEST_CASE(empty_batch_gives_pytorchs_zero_gradients_and_leaves_parameters_alone) {
    Generator gen(3);
    for (const Shape& shape : std::vector<Shape>{{0, 3}, {0, 3, 4}, {0, 3, 2, 2}}) {
        for (bool track : {true, false}) {
            BOOST_TEST_CONTEXT(to_string(shape) << (track ? " tracked" : " untracked")) {
                auto bn = make_module(shape.size() == 4 ? "BatchNorm2d" : "BatchNorm1d",
                                      {.num_features = 3, .track_running_stats = track});
                randomize_affine(*bn, gen);
                const std::vector<float> w0 = bn->weight().to_vector(), b0 = bn->bias().to_vector();
                const Tensor x = zeros(shape, true);
                Tensor y;
                {
                    Tape tape;
                    y = (*bn)(x);
                    tape.backward(y, zeros(y.shape()));
                }
                BOOST_TEST(to_string(y.shape()) == to_string(shape));
                BOOST_TEST_REQUIRE(x.grad().defined());
                BOOST_TEST(to_string(x.grad().shape()) == to_string(shape));
                BOOST_TEST_REQUIRE(bn->weight().grad().defined());
                BOOST_TEST_REQUIRE(bn->bias().grad().defined());
                for (float v : bn->weight().grad().to_vector()) BOOST_TEST(v == 0.0f);
                for (float v : bn->bias().grad().to_vector()) BOOST_TEST(v == 0.0f);
                if (track) {
                    for (float v : bn->running_mean().to_vector()) BOOST_TEST(v == 0.0f);
                    for (float v : bn->running_var().to_vector()) BOOST_TEST(v == 1.0f);
                    BOOST_TEST(bn->num_batches_tracked().data()[0] == 1);
                }
                SGD opt({bn->weight(), bn->bias()}, {.lr = 0.1, .momentum = 0.9});
                opt.step();
                BOOST_TEST(bn->weight().to_vector() == w0, boost::test_tools::per_element());
                BOOST_TEST(bn->bias().to_vector() == b0, boost::test_tools::per_element());
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(state_dict_holds_an_int64_counter_through_json_and_cbor) {
    TempDir scratch("tapegrad_test_batch_norm");
    for (const std::string ext : {".json", ".cbor"}) {
        Generator gen(9);
        BatchNorm2d bn(4, 1e-5, std::nullopt);
        randomize_affine(bn, gen);
        for (int k = 0; k < 5; ++k) bn(randn({3, 4, 2, 2}, &gen));
        const StateDict state = bn.state_dict();
        BOOST_TEST(state.names() == (std::vector<std::string>{"weight", "bias", "running_mean", "running_var",
                                                              "num_batches_tracked"}),
                   boost::test_tools::per_element());
        BOOST_TEST(state.dtype("num_batches_tracked") == "int64");
        BOOST_TEST(to_string(state.get<int64_t>("num_batches_tracked").shape()) == "[]");
        BOOST_TEST(bn.num_batches_tracked().data()[0] == 5);
        save(bn, scratch / ("bn" + ext));
        BatchNorm2d other(4, 1e-5, std::nullopt);
        load(other, scratch / ("bn" + ext));
        const StateDict loaded = other.state_dict();
        for (const std::string& name : {"weight", "bias", "running_mean", "running_var"})
            BOOST_TEST(same_bits(loaded.get<float>(name), state.get<float>(name)), name << ext);
        BOOST_TEST(other.num_batches_tracked().data()[0] == 5);
        // The count goes on from where it was: the cumulative average's next weight is 1/6.
        const Tensor x = randn({3, 4, 2, 2}, &gen);
        bn(x);
        other(x);
        BOOST_TEST(same_bits(other.running_mean(), bn.running_mean()));
        BOOST_TEST(same_bits(other.running_var(), bn.running_var()));
        BOOST_TEST(other.num_batches_tracked().data()[0] == 6);
    }
}

BOOST_AUTO_TEST_CASE(parameters_defaults_and_printing) {
    BatchNorm2d bn(16);
    BOOST_TEST(bn.repr() == "BatchNorm2d(16, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)");
    BOOST_TEST(bn.named_parameters().size() == 2u);
    BOOST_TEST(bn.named_buffers().size() == 3u);
    for (float v : bn.weight().to_vector()) BOOST_TEST(v == 1.0f);
    for (float v : bn.running_var().to_vector()) BOOST_TEST(v == 1.0f);
    for (float v : bn.running_mean().to_vector()) BOOST_TEST(v == 0.0f);
    BatchNorm1d plain(BatchNormOptions{
        .num_features = 5, .eps = 1e-3, .momentum = std::nullopt, .affine = false, .track_running_stats = false});
    BOOST_TEST(plain.repr() == "BatchNorm1d(5, eps=0.001, momentum=None, affine=False, track_running_stats=False)");
    BOOST_TEST(plain.state_dict().empty());
    // reset_parameters: everything back to its initial value.
    Generator gen(2);
    randomize_affine(bn, gen);
    bn(randn({2, 16, 3, 3}, &gen));
    bn.reset_parameters();
    for (float v : bn.weight().to_vector()) BOOST_TEST(v == 1.0f);
    for (float v : bn.running_mean().to_vector()) BOOST_TEST(v == 0.0f);
    BOOST_TEST(bn.num_batches_tracked().data()[0] == 0);
}

// --- virtual_batch_size (ghost batches) ---------------------------------------------------

// Every "batch_norm_virtual" case: the output and the gradients of x, γ and β against PyTorch's
// split batch (float32 and float64), and by finite differences in double.
BOOST_AUTO_TEST_CASE(virtual_batches_match_pytorch_split_and_pass_the_gradient_check) {
    const int ran = check_golden_cases("batch_norm_virtual.json", "batch_norm_virtual", make_virtual_op<float>,
                                       make_virtual_op<double>);
    BOOST_TEST(ran >= 8);
}

// The modules with virtual_batch_size through the fixture's steps: per step the output and the
// gradients of x, γ and β, and the state (running statistics: the groups' statistics averaged,
// one update a step); then the evaluation output.
BOOST_AUTO_TEST_CASE(virtual_batch_module_follows_pytorch_step_by_step) {
    int ran = 0;
    const nlohmann::ordered_json doc = load_golden_document("batch_norm_virtual_modules.json");
    for (const auto& c : doc.at("cases")) {
        BOOST_TEST_CONTEXT("case " << c.at("name").get<std::string>()) {
            const auto& a = c.at("attrs");
            BatchNormOptions o = golden_options(a);
            o.virtual_batch_size = a.at("virtual_batch_size").get<int64_t>();
            auto bn = make_module(a.at("kind").get<std::string>(), o);
            bn->load_state_dict(golden_state(c.at("initial_state")));
            for (size_t k = 0; k < c.at("steps").size(); ++k) {
                const auto& step = c.at("steps")[k];
                BOOST_TEST_CONTEXT("step " << k + 1) {
                    bn->zero_grad();
                    const Tensor x = to_tensor<float>(golden_array(step.at("x")), true);
                    Tensor y;
                    {
                        Tape tape;
                        y = (*bn)(x);
                        tape.backward(y, to_tensor<float>(golden_array(step.at("dy"))));
                    }
                    const auto& grads = step.at("grads");
                    BOOST_TEST(worst(y.to_vector(), step.at("out").get<std::vector<float>>(), 1e-5) <= 1.0);
                    BOOST_TEST(worst(x.grad().to_vector(), grads.at("x").get<std::vector<float>>(), 1e-5) <= 1.0);
                    if (o.affine) {
                        BOOST_TEST(worst(bn->weight().grad().to_vector(), grads.at("weight").get<std::vector<float>>(),
                                         1e-5) <= 1.0);
                        BOOST_TEST(worst(bn->bias().grad().to_vector(), grads.at("bias").get<std::vector<float>>(),
                                         1e-5) <= 1.0);
                    }
                    check_golden_state(bn->state_dict(), step.at("state"), 1e-6);
                }
            }
            check_golden_eval(*bn, c);
        }
        ++ran;
    }
    BOOST_TEST(ran >= 7);
}

// The layer with ghost batches by finite differences over x, γ and β, in training and (without
// running statistics, where evaluation uses each group's statistics too) in evaluation.
BOOST_AUTO_TEST_CASE(virtual_batch_gradient_check) {
    Generator gen(23);
    struct Case {
        Shape shape;
        int64_t group;
    };
    for (const Case& k : std::vector<Case>{{{6, 2, 3, 5}, 2}, {{4, 3, 2, 7}, 1}, {{9, 3}, 3}, {{4, 2, 9}, 2}})
        for (bool affine : {true, false})
            for (bool track : {true, false}) {
                const BatchNormOptions o{.num_features = k.shape[1],
                                         .affine = affine,
                                         .track_running_stats = track,
                                         .virtual_batch_size = k.group};
                std::unique_ptr<BasicBatchNorm<double>> bn;
                if (k.shape.size() == 4)
                    bn = std::make_unique<BasicBatchNorm2d<double>>(o);
                else
                    bn = std::make_unique<BasicBatchNorm1d<double>>(o);
                if (affine) randomize_affine(*bn, gen);
                const DoubleTensor x = randn<double>(k.shape, &gen, true);
                check_module_gradients(bn->repr() + " train on " + to_string(k.shape), *bn, x);
                if (!track) {
                    bn->eval();
                    check_module_gradients(bn->repr() + " eval on " + to_string(k.shape), *bn, x);
                }
            }
}

// Each group is BatchNorm on its chunk alone, to the bit: the output, the input gradient, and
// dγ, dβ as the float sums of the chunks' ones in group order. The running statistics are the
// average of those the per-chunk layers hold (linearity; not bitwise: averaged before rounding).
BOOST_AUTO_TEST_CASE(virtual_batch_is_batch_norm_on_each_chunk_bit_for_bit) {
    Generator gen(31);
    struct Case {
        Shape shape;
        int64_t group;
    };
    for (const Case& k : std::vector<Case>{{{8, 3, 5, 7}, 2},
                                           {{8, 3, 6, 8}, 4},
                                           {{6, 4, 3, 3}, 3},
                                           {{12, 5}, 3},
                                           {{6, 3, 11}, 2},
                                           {{5, 2, 4, 4}, 1}}) {
        BOOST_TEST_CONTEXT(to_string(k.shape) << " in groups of " << k.group) {
            const bool two_d = k.shape.size() == 4;
            const std::string kind = two_d ? "BatchNorm2d" : "BatchNorm1d";
            auto ghost = make_module(kind, {.num_features = k.shape[1], .virtual_batch_size = k.group});
            randomize_affine(*ghost, gen);
            const Tensor x = rows(add(randn(k.shape, &gen), full(k.shape, 0.5f)), 0, k.shape[0], true);  // a leaf
            const Tensor dy = randn(k.shape, &gen);
            Tensor y;
            {
                Tape tape;
                y = (*ghost)(x);
                tape.backward(y, dy);
            }
            const int64_t groups = k.shape[0] / k.group;
            std::vector<float> dgamma(static_cast<size_t>(k.shape[1]), 0.0f), dbeta(dgamma.size(), 0.0f);
            std::vector<double> mean(dgamma.size(), 0.0), var(dgamma.size(), 0.0);
            for (int64_t g = 0; g < groups; ++g) {
                auto alone = make_module(kind, {.num_features = k.shape[1]});
                alone->load_state_dict(ghost->state_dict());  // γ, β (the running statistics are overwritten below)
                alone->reset_running_stats();
                const Tensor xg = rows(x, g * k.group, k.group, true);
                Tensor yg;
                {
                    Tape tape;
                    yg = (*alone)(xg);
                    tape.backward(yg, rows(dy, g * k.group, k.group));
                }
                BOOST_TEST(same_bits(yg, rows(y, g * k.group, k.group)), "y of group " << g);
                BOOST_TEST(same_bits(xg.grad(), rows(x.grad(), g * k.group, k.group)), "dx of group " << g);
                for (size_t c = 0; c < dgamma.size(); ++c) {
                    dgamma[c] += alone->weight().grad().data()[c];
                    dbeta[c] += alone->bias().grad().data()[c];
                    mean[c] += alone->running_mean().data()[c] / double(groups);
                    var[c] += alone->running_var().data()[c] / double(groups);
                }
            }
            BOOST_TEST(same_bits(ghost->weight().grad().to_vector(), dgamma));
            BOOST_TEST(same_bits(ghost->bias().grad().to_vector(), dbeta));
            for (size_t c = 0; c < dgamma.size(); ++c) {
                BOOST_TEST(std::abs(ghost->running_mean().data()[c] - mean[c]) <= 1e-6);
                BOOST_TEST(std::abs(ghost->running_var().data()[c] - var[c]) <= 1e-6 * var[c]);
            }
            BOOST_TEST(ghost->num_batches_tracked().data()[0] == 1, "one step, counted once");
        }
    }
}

// Keras refuses a batch the virtual batch size does not divide; so does the layer wherever it
// uses batch statistics, without counting the batch. Evaluation with running statistics is per
// sample: there any batch goes, with the same output as without ghost batches.
BOOST_AUTO_TEST_CASE(virtual_batch_errors_name_both_sizes) {
    Generator gen(41);
    BatchNorm2d bn(BatchNormOptions{.num_features = 3, .virtual_batch_size = 4});
    BOOST_TEST(bn.repr() ==
               "BatchNorm2d(3, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True, virtual_batch_size=4)");
    const Tensor x = randn({10, 3, 2, 2}, &gen);
    BOOST_CHECK_EXCEPTION(bn(x), std::invalid_argument, [](const auto& e) {
        return message_is(e, "BatchNorm2d: virtual_batch_size 4 does not divide the batch of 10");
    });
    BOOST_TEST(bn.num_batches_tracked().data()[0] == 0, "a rejected batch is not counted");
    for (float v : bn.running_mean().to_vector()) BOOST_TEST(v == 0.0f);
    bn(randn({8, 3, 2, 2}, &gen));  // two groups: accepted
    bn.eval();
    BatchNorm2d plain(3);
    plain.load_state_dict(bn.state_dict());
    plain.eval();
    BOOST_TEST(same_bits(bn(x), plain(x)), "evaluation with running statistics ignores the groups");

    BatchNorm1d untracked(BatchNormOptions{.num_features = 3, .track_running_stats = false, .virtual_batch_size = 4});
    untracked.eval();
    BOOST_CHECK_EXCEPTION(untracked(randn({6, 3}, &gen)), std::invalid_argument, [](const auto& e) {
        return message_is(e, "BatchNorm1d: virtual_batch_size 4 does not divide the batch of 6");
    });
    // A group of one value per channel, in PyTorch's words for that group alone.
    BatchNorm1d single(BatchNormOptions{.num_features = 3, .virtual_batch_size = 1});
    BOOST_CHECK_EXCEPTION(single(randn({4, 3}, &gen)), std::invalid_argument, [](const auto& e) {
        return message_is(e, "Expected more than 1 value per channel when training, got input size torch.Size([1, 3])");
    });
    for (int64_t bad : {0, -2}) {
        BOOST_CHECK_EXCEPTION(
            BatchNorm2d(BatchNormOptions{.num_features = 3, .virtual_batch_size = bad}), std::invalid_argument,
            [bad](const auto& e) {
                return message_is(e, "BatchNorm2d: expected virtual_batch_size > 0, but got " + std::to_string(bad));
            });
        BOOST_CHECK_EXCEPTION(batch_norm(x, Tensor{}, Tensor{}, {}, {}, true, 0.1, 1e-5, bad), std::invalid_argument,
                              [bad](const auto& e) {
                                  return message_is(
                                      e, "batch_norm: expected virtual_batch_size > 0, but got " + std::to_string(bad));
                              });
    }
    BOOST_CHECK_EXCEPTION(batch_norm(x, Tensor{}, Tensor{}, {}, {}, true, 0.1, 1e-5, 4), std::invalid_argument,
                          [](const auto& e) {
                              return message_is(e, "batch_norm: virtual_batch_size 4 does not divide the batch of 10");
                          });
    // An empty batch is zero groups: an empty output, dγ = dβ = 0, the statistics untouched.
    BatchNorm2d ghost(BatchNormOptions{.num_features = 3, .virtual_batch_size = 2});
    const Tensor empty_x = zeros({0, 3, 2, 2}, true);
    {
        Tape tape;
        const Tensor y = ghost(empty_x);
        BOOST_TEST(y.numel() == 0);
        tape.backward(y, zeros(y.shape()));
    }
    for (float v : ghost.weight().grad().to_vector()) BOOST_TEST(v == 0.0f);
    for (float v : ghost.running_var().to_vector()) BOOST_TEST(v == 1.0f);
    BOOST_TEST(ghost.num_batches_tracked().data()[0] == 1);
}

BOOST_AUTO_TEST_SUITE_END()
