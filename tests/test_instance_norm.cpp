// InstanceNorm1d / InstanceNorm2d: PyTorch golden values (tests/golden/instance_norm.json)
// for F.instance_norm with the input's and with running statistics, the modules' running
// statistics step by step and unbatched inputs (instance_norm_modules.json), PyTorch's
// errors; the layers by finite differences in every mode; the seed doc's equivalence
// GroupNorm(C, C) = InstanceNorm2d(C, affine = true), forward and every gradient.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include <tapegrad/tapegrad.hpp>
#include "support/golden.hpp"
#include "support/gradcheck.hpp"
#include "support/messages.hpp"
#include "support/tensors.hpp"

using namespace tapegrad;
using namespace tapegrad::testing;

namespace {

template <typename T>
OpFn<T> make_op(const GoldenCase& c) {
    const bool use_input_stats = c.attrs.at("use_input_stats").get<bool>();
    const double eps = c.attrs.at("eps").get<double>();
    BasicTensor<T> rm, rv;
    if (!use_input_stats) {
        const auto m = c.attrs.at("running_mean").get<std::vector<double>>();
        const auto v = c.attrs.at("running_var").get<std::vector<double>>();
        const int64_t C = static_cast<int64_t>(m.size());
        rm = from_vector<T>({C}, std::vector<T>(m.begin(), m.end()));
        rv = from_vector<T>({C}, std::vector<T>(v.begin(), v.end()));
    }
    return [use_input_stats, eps, rm, rv](const std::vector<BasicTensor<T>>& in) {
        const BasicTensor<T> w = in.size() == 3 ? in[1] : BasicTensor<T>{};
        const BasicTensor<T> b = in.size() == 3 ? in[2] : BasicTensor<T>{};
        return instance_norm(in[0], rm, rv, w, b, use_input_stats, 0.1, eps);
    };
}

std::shared_ptr<BasicInstanceNorm<float>> make_module(const std::string& kind, const InstanceNormOptions& o) {
    if (kind == "InstanceNorm1d") return std::make_shared<InstanceNorm1d>(o);
    BOOST_TEST_REQUIRE(kind == "InstanceNorm2d");
    return std::make_shared<InstanceNorm2d>(o);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(instance_norm_layer)

BOOST_AUTO_TEST_CASE(matches_pytorch_golden_values_and_passes_the_gradient_check) {
    const int ran = check_golden_cases("instance_norm.json", "instance_norm", make_op<float>, make_op<double>);
    BOOST_TEST(ran >= 11);
}

BOOST_AUTO_TEST_CASE(running_statistics_and_unbatched_inputs_follow_pytorch) {
    const nlohmann::ordered_json doc = load_golden_document("instance_norm_modules.json");
    int ran = 0;
    for (const auto& c : doc.at("cases")) {
        if (c.at("op") != "instance_norm_module") continue;
        BOOST_TEST_CONTEXT("case " << c.at("name").get<std::string>()) {
            const auto& a = c.at("attrs");
            const InstanceNormOptions o{.num_features = a.at("num_features").get<int64_t>(),
                                        .eps = a.at("eps").get<double>(),
                                        .momentum = a.at("momentum").get<double>(),
                                        .affine = a.at("affine").get<bool>(),
                                        .track_running_stats = a.at("track_running_stats").get<bool>()};
            auto m = make_module(a.at("kind").get<std::string>(), o);
            m->load_state_dict(golden_state(c.at("initial_state")));
            for (size_t k = 0; k < c.at("steps").size(); ++k) {
                const Tensor y = (*m)(to_tensor<float>(golden_array(c.at("steps")[k])));
                BOOST_TEST(y.shape() == c.at("steps")[k].at("shape").get<Shape>());
                BOOST_TEST_CONTEXT("after step " << k + 1) {
                    check_golden_state(m->state_dict(), c.at("states")[k], 1e-6);
                }
            }
            m->eval();
            const Tensor y = (*m)(to_tensor<float>(golden_array(c.at("eval_x"))));
            BOOST_TEST(worst(y.to_vector(), c.at("eval_out").get<std::vector<float>>(), 1e-5) <= 1.0);
        }
        ++ran;
    }
    BOOST_TEST(ran >= 6);
}

BOOST_AUTO_TEST_CASE(bad_input_is_pytorchs_error) {
    const nlohmann::ordered_json doc = load_golden_document("instance_norm_modules.json");
    int ran = 0;
    for (const auto& c : doc.at("cases")) {
        if (c.at("op") != "instance_norm_error") continue;
        BOOST_TEST_CONTEXT("case " << c.at("name").get<std::string>()) {
            auto m =
                make_module(c.at("kind").get<std::string>(), {.num_features = 3, .affine = c.at("affine").get<bool>()});
            m->train(c.at("training").get<bool>());
            const Tensor x = ones(c.at("shape").get<Shape>());
            if (c.at("error").is_null()) {
                BOOST_CHECK_NO_THROW((*m)(x));
            } else {
                const std::string text = c.at("error").get<std::string>();
                BOOST_CHECK_EXCEPTION((*m)(x), std::invalid_argument,
                                      [&](const auto& e) { return message_is(e, text); });
            }
        }
        ++ran;
    }
    BOOST_TEST(ran >= 11);
    BOOST_CHECK_THROW(InstanceNorm2d(0), std::invalid_argument);
    BOOST_CHECK_THROW(InstanceNorm2d(3, 1e-5, -0.5), std::invalid_argument);
    BOOST_CHECK_EXCEPTION(instance_norm(ones({2, 3, 4}), Tensor{}, Tensor{}, {}, {}, /*use_input_stats=*/false),
                          std::invalid_argument, [](const auto& e) { return message_contains(e, "must be defined"); });
}

// By finite differences over x, γ and β: training, evaluation with running statistics (after
// training steps moved them), evaluation without (the input's statistics), and unbatched.
BOOST_AUTO_TEST_CASE(gradient_check_in_every_mode) {
    struct Case {
        int spatial_dims;  // 1: InstanceNorm1d, 2: InstanceNorm2d
        int64_t C;
        Shape shape;
    };
    const std::vector<Case> table{{2, 3, {2, 3, 3, 5}}, {2, 2, {1, 2, 4, 3}}, {2, 2, {2, 5, 3}},  // the last unbatched
                                  {1, 2, {3, 2, 7}},    {1, 3, {3, 4}}};                         // the last unbatched
    Generator gen(23);
    for (bool affine : {true, false})
        for (bool track : {true, false})
            for (bool eval : {false, true})
                for (const Case& t : table) {
                    const InstanceNormOptions o{.num_features = t.C, .affine = affine, .track_running_stats = track};
                    std::unique_ptr<BasicInstanceNorm<double>> m;
                    if (t.spatial_dims == 2)
                        m = std::make_unique<BasicInstanceNorm2d<double>>(o);
                    else
                        m = std::make_unique<BasicInstanceNorm1d<double>>(o);
                    if (affine) randomize_affine(*m, gen);
                    for (int k = 0; k < 3; ++k) (*m)(randn<double>(t.shape, &gen));
                    if (eval) m->eval();
                    const DoubleTensor x = randn<double>(t.shape, &gen, true);
                    check_module_gradients(m->repr() + (eval ? " eval" : " train") + " on " + to_string(t.shape), *m,
                                           x);
                }
}

// The seed doc: GroupNorm(C, C) is InstanceNorm2d(C, affine = true), forward and every
// gradient, in training and (InstanceNorm without running statistics) in evaluation.
BOOST_AUTO_TEST_CASE(group_norm_with_a_group_per_channel_equals_instance_norm) {
    const int64_t N = 3, C = 4, H = 5, W = 6;
    Generator gen(31);
    const DoubleTensor x0 = randn<double>({N, C, H, W}, &gen), dy = randn<double>({N, C, H, W}, &gen);
    BasicGroupNorm<double> gn(C, C);
    BasicInstanceNorm2d<double> in(C, 1e-5, 0.1, /*affine=*/true);
    const DoubleTensor w = add(ones<double>({C}), randn<double>({C}, &gen)), b = randn<double>({C}, &gen);
    std::copy_n(w.data(), C, gn.weight().data());
    std::copy_n(b.data(), C, gn.bias().data());
    std::copy_n(w.data(), C, in.weight().data());
    std::copy_n(b.data(), C, in.bias().data());
    for (bool eval : {false, true}) {
        gn.train(!eval);
        in.train(!eval);
        gn.zero_grad();
        in.zero_grad();
        DoubleTensor xg = x0.clone(), xi = x0.clone();
        xg.requires_grad_();
        xi.requires_grad_();
        DoubleTensor yg, yi;
        {
            Tape tape;
            yg = gn(xg);
            tape.backward(yg, dy);
        }
        {
            Tape tape;
            yi = in(xi);
            tape.backward(yi, dy);
        }
        BOOST_TEST(max_difference(yg, yi) < 1e-12);
        BOOST_TEST(max_difference(xg.grad(), xi.grad()) < 1e-12);
        BOOST_TEST(max_difference(gn.weight().grad(), in.weight().grad()) < 1e-12);
        BOOST_TEST(max_difference(gn.bias().grad(), in.bias().grad()) < 1e-12);
    }
}

BOOST_AUTO_TEST_CASE(parameters_defaults_and_printing) {
    InstanceNorm2d plain(8);
    BOOST_TEST(plain.repr() == "InstanceNorm2d(8, eps=1e-05, momentum=0.1, affine=False, track_running_stats=False)");
    BOOST_TEST(plain.state_dict().empty());
    InstanceNorm1d full(InstanceNormOptions{.num_features = 4, .eps = 1e-3, .momentum = 0.2, .affine = true,
                                            .track_running_stats = true});
    BOOST_TEST(full.repr() == "InstanceNorm1d(4, eps=0.001, momentum=0.2, affine=True, track_running_stats=True)");
    BOOST_TEST(full.state_dict().names() == (std::vector<std::string>{"weight", "bias", "running_mean", "running_var",
                                                                      "num_batches_tracked"}),
               boost::test_tools::per_element());
    Generator gen(4);
    full(randn({2, 4, 5}, &gen));
    BOOST_TEST(full.num_batches_tracked().data()[0] == 0, "PyTorch's InstanceNorm does not count batches");
    full.reset_parameters();
    for (float v : full.running_var().to_vector()) BOOST_TEST(v == 1.0f);
}

BOOST_AUTO_TEST_SUITE_END()
