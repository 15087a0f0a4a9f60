// The CNN layers — Linear, Conv2d, ReLU, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, Flatten,
// Dropout, Sequential — and layers/init: finite differences over inputs and every parameter,
// agreement with the ops they wrap (whose PyTorch fixtures are in test_conv / test_ops),
// PyTorch's default initialisation, printing, and bad arguments.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <stdexcept>

#include <tapegrad/tapegrad.hpp>
#include "support/gradcheck.hpp"
#include "support/messages.hpp"
#include "support/tensors.hpp"

using namespace tapegrad;
using namespace tapegrad::testing;

namespace {

std::vector<std::string> parameter_names(const Module& m) {
    std::vector<std::string> names;
    for (const auto& [name, _] : m.named_parameters()) names.push_back(name);
    return names;
}

// Values kept at least 0.05 from 0, so that finite differences never cross ReLU's kink.
DoubleTensor away_from_zero(const Shape& shape, Generator& gen) {
    DoubleTensor x = randn<double>(shape, &gen, true);
    for (double& v : x.values()) v += v >= 0 ? 0.05 : -0.05;
    return x;
}

struct Moments {
    double mean = 0, std = 0, max_abs = 0;
};
Moments moments(const Tensor& t) {
    Moments m;
    const double n = static_cast<double>(t.numel());
    for (float v : t.values()) m.mean += v / n;
    for (float v : t.values()) {
        m.std += (v - m.mean) * (v - m.mean) / n;
        m.max_abs = std::max(m.max_abs, std::abs(double(v)));
    }
    m.std = std::sqrt(m.std);
    return m;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(layers)

BOOST_AUTO_TEST_CASE(linear_gradients_and_agreement_with_the_op) {
    Generator gen(1);
    BasicLinear<double> fc(6, 4, true, &gen);
    check_module_gradients("Linear(6, 4)", fc, randn<double>({5, 6}, &gen, true));
    BasicLinear<double> no_bias(6, 3, false, &gen);
    BOOST_TEST(!no_bias.bias().defined());
    BOOST_TEST(no_bias.named_parameters().size() == 1u);
    check_module_gradients("Linear(6, 3, bias=False)", no_bias, randn<double>({2, 6}, &gen, true));
    // (*, in) input, as torch.nn.Linear: leading dimensions are kept.
    check_module_gradients("Linear(6, 4) on rank 3", fc, randn<double>({2, 3, 6}, &gen, true));
    const DoubleTensor x = randn<double>({2, 3, 6}, &gen);
    BOOST_TEST(to_string(fc(x).shape()) == "[2, 3, 4]");
    BOOST_TEST(max_difference(fc(x), reshape(linear(reshape(x, {6, 6}), fc.weight(), fc.bias()), {2, 3, 4})) == 0.0);
}

BOOST_AUTO_TEST_CASE(conv2d_gradients_and_agreement_with_the_op) {
    struct Case {
        Conv2dOptions options;
        Shape x;
    };
    const std::vector<Case> cases = {
        {{.in_channels = 2, .out_channels = 3, .kernel_size = 3}, {2, 2, 6, 5}},
        {{.in_channels = 3, .out_channels = 2, .kernel_size = 3, .stride = 2, .padding = 1}, {2, 3, 7, 6}},
        {{.in_channels = 2,
          .out_channels = 4,
          .kernel_size = {3, 2},
          .stride = {1, 2},
          .padding = {1, 0},
          .bias = false},
         {1, 2, 5, 7}},
        {{.in_channels = 4, .out_channels = 3, .kernel_size = 1}, {2, 4, 3, 3}},
        {{.in_channels = 2, .out_channels = 3, .kernel_size = 3, .padding = 2, .dilation = 2}, {2, 2, 6, 5}},
        {{.in_channels = 4,
          .out_channels = 6,
          .kernel_size = {3, 2},
          .stride = {2, 1},
          .padding = 1,
          .dilation = {1, 2},
          .groups = 2},
         {2, 4, 7, 6}},
        {{.in_channels = 3, .out_channels = 6, .kernel_size = 3, .padding = 1, .groups = 3, .bias = false},
         {2, 3, 5, 5}},  // depthwise, channel multiplier 2
    };
    Generator gen(2);
    for (const Case& c : cases) {
        BasicConv2d<double> conv(c.options, &gen);
        BOOST_TEST_CONTEXT(conv.repr()) {
            const DoubleTensor x = randn<double>(c.x, &gen, true);
            check_module_gradients(conv.repr(), conv, x);
            const Conv2dOptions& o = c.options;
            BOOST_TEST(max_difference(conv(x), conv2d(x, conv.weight(), conv.bias(), o.stride, o.padding, o.dilation,
                                                      o.groups)) == 0.0);
        }
    }
}

BOOST_AUTO_TEST_CASE(parameterless_layers_gradients_and_shapes) {
    Generator gen(3);
    const DoubleTensor x = away_from_zero({2, 3, 6, 5}, gen);
    BasicReLU<double> relu_layer;
    check_module_gradients("ReLU", relu_layer, x);
    BasicMaxPool2d<double> max_pool(2);
    check_module_gradients("MaxPool2d(2)", max_pool, x);
    BOOST_TEST(to_string(max_pool(x).shape()) == "[2, 3, 3, 2]");
    BasicMaxPool2d<double> max_pool_padded(3, 2, 1);
    check_module_gradients("MaxPool2d(3, 2, 1)", max_pool_padded, x);
    BasicAvgPool2d<double> avg_pool(2, 1);
    check_module_gradients("AvgPool2d(2, 1)", avg_pool, x);
    BOOST_TEST(to_string(avg_pool(x).shape()) == "[2, 3, 5, 4]");
    BasicAdaptiveAvgPool2d<double> global(1);
    check_module_gradients("AdaptiveAvgPool2d(1)", global, x);
    BOOST_TEST(to_string(global(x).shape()) == "[2, 3, 1, 1]");
    BasicFlatten<double> flat;
    check_module_gradients("Flatten", flat, x);
    BOOST_TEST(to_string(flat(x).shape()) == "[2, 90]");
    BOOST_TEST(to_string(BasicFlatten<double>(0, 2)(x).shape()) == "[36, 5]");
    BOOST_TEST(to_string(BasicFlatten<double>(-2)(x).shape()) == "[2, 3, 30]");
}

BOOST_AUTO_TEST_CASE(sequential_cnn_gradients_through_every_parameter) {
    Generator gen(4);
    BasicSequential<double> net;
    net.add(BasicConv2d<double>(2, 4, 3, 1, 1, true, &gen));
    net.add(BasicReLU<double>());
    net.add(BasicMaxPool2d<double>(2));
    net.add(BasicConv2d<double>(4, 3, 3, 2, 1, false, &gen));
    net.add(BasicAvgPool2d<double>(2, 1));
    net.add(BasicAdaptiveAvgPool2d<double>(1));
    net.add(BasicFlatten<double>());
    net.add(BasicLinear<double>(3, 5, true, &gen));
    net.add(BasicDropout<double>(0.5));
    net.eval();  // dropout off: the network is a fixed function for finite differences
    check_module_gradients("small CNN", net, randn<double>({2, 2, 8, 8}, &gen, true));
}

BOOST_AUTO_TEST_CASE(sequential_names_chains_and_prints) {
    Generator gen(5);
    Sequential net;
    auto conv = net.add(Conv2d(1, 32, 3, 1, 1, true, &gen));
    net.add(ReLU());
    net.add(MaxPool2d(2));
    net.add(Flatten());
    net.add(Dropout());
    auto fc = net.add(std::make_shared<Linear>(6272, 10, true, &gen));
    BOOST_TEST(net.size() == 6u);
    BOOST_TEST(conv->options().out_channels == 32);
    BOOST_TEST(&net[5] == fc.get());  // added by shared_ptr: the very same module
    BOOST_TEST(net[1].type_name() == "ReLU");
    BOOST_CHECK_THROW(net[6], std::out_of_range);
    BOOST_TEST(parameter_names(net) == (std::vector<std::string>{"0.weight", "0.bias", "5.weight", "5.bias"}),
               boost::test_tools::per_element());
    BOOST_TEST(net.repr() ==
               "Sequential(\n"
               "  (0): Conv2d(1, 32, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))\n"
               "  (1): ReLU()\n"
               "  (2): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)\n"
               "  (3): Flatten(start_dim=1, end_dim=-1)\n"
               "  (4): Dropout(p=0.5, inplace=False)\n"
               "  (5): Linear(in_features=6272, out_features=10, bias=True)\n"
               ")");

    // forward is the composition, in order (eval: dropout is the identity).
    net.eval();
    const Tensor x = randn({3, 1, 28, 28}, &gen);
    const Tensor expected = (*fc)(flatten(max_pool2d(relu((*conv)(x)), 2)));
    BOOST_TEST(max_difference(net(x), expected) == 0.0);
    BOOST_TEST(to_string(net(x).shape()) == "[3, 10]");

    // A nested Sequential prints indented and names its parameters through both levels.
    Sequential outer(Sequential(Linear(4, 3, true, &gen), ReLU()), Linear(3, 2, false, &gen));
    BOOST_TEST(parameter_names(outer) == (std::vector<std::string>{"0.0.weight", "0.0.bias", "1.weight"}),
               boost::test_tools::per_element());
    BOOST_TEST(outer.repr() ==
               "Sequential(\n"
               "  (0): Sequential(\n"
               "    (0): Linear(in_features=4, out_features=3, bias=True)\n"
               "    (1): ReLU()\n"
               "  )\n"
               "  (1): Linear(in_features=3, out_features=2, bias=False)\n"
               ")");
    BOOST_TEST(Sequential().repr() == "Sequential()");
    BOOST_TEST(max_difference(Sequential()(x), x) == 0.0);
    BOOST_CHECK_THROW(net.add(std::shared_ptr<ReLU>()), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(sequential_train_and_eval_reach_dropout) {
    Generator gen(6);
    Sequential net(Linear(8, 8, true, &gen), Dropout(0.5, &gen));
    const Tensor x = randn({4, 8}, &gen);
    net.eval();
    BOOST_TEST(!net[1].is_training());
    BOOST_TEST(max_difference(net(x), net[0](x)) == 0.0);
    net.train();
    int zeros_seen = 0;
    const Tensor y = net(x);
    for (float v : y.values()) zeros_seen += v == 0.0f;
    BOOST_TEST(zeros_seen > 0);
}

BOOST_AUTO_TEST_CASE(layers_print_like_pytorch) {
    BOOST_TEST(Linear(3136, 128).repr() == "Linear(in_features=3136, out_features=128, bias=True)");
    BOOST_TEST(Linear(4, 2, false).repr() == "Linear(in_features=4, out_features=2, bias=False)");
    BOOST_TEST(Conv2d(1, 32, 3, 1, 1).repr() == "Conv2d(1, 32, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))");
    BOOST_TEST(Conv2d(3, 8, {3, 5}, 2, 0, false).repr() ==
               "Conv2d(3, 8, kernel_size=(3, 5), stride=(2, 2), bias=False)");
    // Dilation and groups only when not 1, after padding and before bias, as PyTorch prints them.
    BOOST_TEST(Conv2d({.in_channels = 8, .out_channels = 8, .kernel_size = 3, .padding = 1, .groups = 8, .bias = false})
                   .repr() == "Conv2d(8, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), groups=8, bias=False)");
    BOOST_TEST(Conv2d({.in_channels = 8, .out_channels = 16, .kernel_size = 3, .dilation = 2}).repr() ==
               "Conv2d(8, 16, kernel_size=(3, 3), stride=(1, 1), dilation=(2, 2))");
    BOOST_TEST(Conv2d({.in_channels = 8,
                       .out_channels = 16,
                       .kernel_size = 3,
                       .padding = {1, 2},
                       .dilation = {2, 1},
                       .groups = 2})
                   .repr() ==
               "Conv2d(8, 16, kernel_size=(3, 3), stride=(1, 1), padding=(1, 2), dilation=(2, 1), groups=2)");
    BOOST_TEST(Conv2d({.in_channels = 8, .out_channels = 16, .kernel_size = 3, .dilation = 1, .groups = 1}).repr() ==
               "Conv2d(8, 16, kernel_size=(3, 3), stride=(1, 1))");
    BOOST_TEST(ReLU().repr() == "ReLU()");
    BOOST_TEST(MaxPool2d(2).repr() == "MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)");
    BOOST_TEST(MaxPool2d({2, 3}, Size2{1, 2}, 1).repr() ==
               "MaxPool2d(kernel_size=(2, 3), stride=(1, 2), padding=1, dilation=1, ceil_mode=False)");
    BOOST_TEST(AvgPool2d(2).repr() == "AvgPool2d(kernel_size=2, stride=2, padding=0)");
    BOOST_TEST(AdaptiveAvgPool2d(1).repr() == "AdaptiveAvgPool2d(output_size=1)");
    BOOST_TEST(AdaptiveAvgPool2d({2, 3}).repr() == "AdaptiveAvgPool2d(output_size=(2, 3))");
    BOOST_TEST(Flatten().repr() == "Flatten(start_dim=1, end_dim=-1)");
    BOOST_TEST(Dropout().repr() == "Dropout(p=0.5, inplace=False)");
    BOOST_TEST(Dropout(0.25).repr() == "Dropout(p=0.25, inplace=False)");
}

BOOST_AUTO_TEST_CASE(default_init_is_pytorchs_kaiming_uniform) {
    // bound = sqrt(3) · sqrt(2 / (1 + a²)) / sqrt(fan_in) with a = sqrt(5): 1/sqrt(fan_in); the
    // value below is what Python computes for fan_in = 1000.
    Generator gen(7);
    Linear fc(1000, 500, true, &gen);
    const double bound = 0.03162277660168379;
    const Moments w = moments(fc.weight());
    BOOST_TEST(w.max_abs <= bound);
    BOOST_TEST(w.max_abs > bound * (1 - 1e-4));  // 500 000 draws reach the edge
    BOOST_TEST(std::abs(w.std - bound / std::sqrt(3.0)) < 0.005 * bound / std::sqrt(3.0));
    BOOST_TEST(std::abs(w.mean) < 5 * bound / std::sqrt(3.0) / std::sqrt(500000.0));
    BOOST_TEST(moments(fc.bias()).max_abs <= 1 / std::sqrt(1000.0));

    Conv2d conv(64, 128, 3, 1, 1, true, &gen);  // fan_in = 64·3·3 = 576
    const double conv_bound = 1 / std::sqrt(576.0);
    const Moments cw = moments(conv.weight());
    BOOST_TEST(cw.max_abs <= conv_bound);
    BOOST_TEST(std::abs(cw.std - conv_bound / std::sqrt(3.0)) < 0.01 * conv_bound / std::sqrt(3.0));
    BOOST_TEST(moments(conv.bias()).max_abs <= conv_bound);
    BOOST_TEST(moments(conv.bias()).max_abs > conv_bound * 0.9);

    // With groups each output sees in/groups channels: weight (128, 16, 3, 3), fan_in = 144.
    Conv2d grouped({.in_channels = 64, .out_channels = 128, .kernel_size = 3, .groups = 4}, &gen);
    BOOST_TEST(to_string(grouped.weight().shape()) == "[128, 16, 3, 3]");
    const double grouped_bound = 1 / std::sqrt(144.0);
    BOOST_TEST(moments(grouped.weight()).max_abs <= grouped_bound);
    BOOST_TEST(moments(grouped.weight()).max_abs > grouped_bound * (1 - 1e-3));  // 18 432 draws reach the edge
    BOOST_TEST(moments(grouped.bias()).max_abs <= grouped_bound);
    BOOST_TEST(moments(grouped.bias()).max_abs > grouped_bound * 0.9);
}

BOOST_AUTO_TEST_CASE(init_is_reproducible_from_a_generator_or_the_global_seed) {
    Generator a(11), b(11);
    BOOST_TEST(
        Conv2d(3, 4, 3, 1, 0, true, &a).weight().to_vector() == Conv2d(3, 4, 3, 1, 0, true, &b).weight().to_vector(),
        boost::test_tools::per_element());
    manual_seed(3);
    const Linear first(5, 4);
    manual_seed(3);
    const Linear second(5, 4);
    BOOST_TEST(first.weight().to_vector() == second.weight().to_vector(), boost::test_tools::per_element());
    BOOST_TEST(first.bias().to_vector() == second.bias().to_vector(), boost::test_tools::per_element());
    Linear reset(5, 4);
    manual_seed(3);
    reset.reset_parameters();
    BOOST_TEST(reset.weight().to_vector() == first.weight().to_vector(), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(init_functions) {
    Generator gen(8);
    BOOST_TEST((calculate_fan_in_and_fan_out({32, 16, 3, 3}) == std::pair<int64_t, int64_t>{144, 288}));
    BOOST_TEST((calculate_fan_in_and_fan_out({10, 20}) == std::pair<int64_t, int64_t>{20, 10}));
    check_message([] { calculate_fan_in_and_fan_out({7}); }, {"fewer than 2 dimensions", "[7]"});

    Tensor w = kaiming_uniform_(Tensor(Shape{200, 300}), 0.0, FanMode::fan_in, &gen);  // ReLU gain: sqrt(6 / fan_in)
    BOOST_TEST(moments(w).max_abs <= std::sqrt(6.0 / 300));
    BOOST_TEST(moments(w).max_abs > 0.999 * std::sqrt(6.0 / 300));
    kaiming_uniform_(w, 0.0, FanMode::fan_out, &gen);
    BOOST_TEST(moments(w).max_abs <= std::sqrt(6.0 / 200));
    BOOST_TEST(moments(w).max_abs > 0.999 * std::sqrt(6.0 / 200));

    const DoubleTensor u = uniform_(DoubleTensor(Shape{10000}), -2.0, 3.0, &gen);
    double lo = 1e9, hi = -1e9;
    for (double v : u.values()) lo = std::min(lo, v), hi = std::max(hi, v);
    BOOST_TEST(lo >= -2.0);
    BOOST_TEST(hi < 3.0);
    BOOST_TEST(lo < -1.99);
    BOOST_TEST(hi > 2.99);
    check_message([&] { uniform_(DoubleTensor(Shape{2}), 1.0, 0.0, &gen); }, {"uniform_", "low <= high"});

    // constant_, zeros_, ones_ write every element of the handle's storage, as a layer's γ.
    GroupNorm gn(2, 4);
    zeros_(gn.weight());
    const Tensor gamma = gn.weight();
    for (float v : gamma.values()) BOOST_TEST(v == 0.0f);
    ones_(gn.weight());
    for (float v : gamma.values()) BOOST_TEST(v == 1.0f);
    const DoubleTensor c = constant_(DoubleTensor(Shape{3, 2}), 0.1);
    for (double v : c.values()) BOOST_TEST(v == 0.1);
    const Tensor f = constant_(Tensor(Shape{1}), 0.1);
    BOOST_TEST(f.values()[0] == 0.1f);  // rounded once to float
}

BOOST_AUTO_TEST_CASE(dropout_layer_uses_its_generator_and_mode) {
    Generator data(9);
    const Tensor x = randn({6, 10}, &data);
    Generator layer_gen(21), op_gen(21);
    Dropout drop(0.3, &layer_gen);
    BOOST_TEST(drop(x).to_vector() == dropout(x, 0.3, true, &op_gen).to_vector(), boost::test_tools::per_element());
    drop.eval();
    BOOST_TEST(drop(x).id() == x.id());
    check_message([] { Dropout(1.0); }, {"Dropout", "[0, 1)", "p=1.0"});
    check_message([] { Dropout(-0.5); }, {"Dropout", "p=-0.5"});
}

BOOST_AUTO_TEST_CASE(bad_layer_arguments_and_inputs) {
    check_message([] { Conv2d(0, 4, 3); }, {"Conv2d", "in_channels=0"});
    check_message([] { Conv2d(1, 4, 0); }, {"Conv2d", "kernel_size=(0, 0)"});
    check_message([] { Conv2d(1, 4, 3, 0); }, {"Conv2d", "stride=(0, 0)"});
    check_message([] { Conv2d(1, 4, 3, 1, -1); }, {"Conv2d", "padding=(-1, -1)"});
    // PyTorch's words for dilation and groups, with the values.
    check_message(
        [] {
            Conv2d({.in_channels = 4, .out_channels = 4, .kernel_size = 3, .dilation = {1, 0}});
        },
        {"Conv2d", "dilation >= 1", "dilation=(1, 0)"});
    check_message([] { Conv2d({.in_channels = 4, .out_channels = 4, .kernel_size = 3, .groups = 0}); },
                  {"Conv2d", "groups must be a positive integer", "groups=0"});
    check_message([] { Conv2d({.in_channels = 4, .out_channels = 6, .kernel_size = 3, .groups = 3}); },
                  {"Conv2d", "in_channels must be divisible by groups", "in_channels=4", "groups=3"});
    check_message([] { Conv2d({.in_channels = 4, .out_channels = 6, .kernel_size = 3, .groups = 4}); },
                  {"Conv2d", "out_channels must be divisible by groups", "out_channels=6", "groups=4"});
    Conv2d depthwise({.in_channels = 4, .out_channels = 4, .kernel_size = 3, .groups = 4});
    check_message(
        [&] {
            depthwise(zeros({2, 2, 8, 8}));
        },
        {"conv2d", "groups=4", "[4, 1, 3, 3]", "input with 4 channels", "(2 channels)"});
    Conv2d conv(3, 4, 3);
    check_message([&] { conv(zeros({2, 1, 8, 8})); }, {"conv2d", "[4, 3, 3, 3]", "3 channels", "[2, 1, 8, 8]"});
    check_message([&] { conv(zeros({1, 8, 8})); }, {"conv2d", "4-D input", "[1, 8, 8]"});
    check_message([&] { conv(zeros({1, 3, 2, 2})); }, {"conv2d", "kernel size (3 x 3)", "(2 x 2)"});
    check_message([] { Linear(-1, 3); }, {"Linear", "in_features=-1"});
    Linear fc(3136, 128);
    check_message([&] { fc(zeros({2, 100})); }, {"Linear", "3136", "[128, 3136]", "[2, 100]"});
    check_message([] { MaxPool2d(2, 2, 2); }, {"MaxPool2d", "half of the kernel size", "padding=(2, 2)"});
    check_message([] { AvgPool2d(2, 0); }, {"AvgPool2d", "stride=(0, 0)"});
    check_message([] { AdaptiveAvgPool2d(0); }, {"AdaptiveAvgPool2d", "output_size=(0, 0)"});
    BOOST_CHECK_EXCEPTION(Flatten(2)(zeros({3, 4})), std::out_of_range, [](const std::out_of_range& e) {
        return message_is(e, "Dimension out of range (expected to be in range of [-2, 1], but got 2)");
    });
    check_message([] { MaxPool2d(3)(zeros({1, 1, 2, 2})); }, {"max_pool2d", "too small", "[1, 1, 2, 2]"});
}

BOOST_AUTO_TEST_CASE(a_small_cnn_learns_in_float) {
    // Vertical versus horizontal bars: a few plain gradient steps must cut the loss sharply.
    Generator gen(10);
    const int64_t n = 32;
    Tensor x(Shape{n, 1, 8, 8});
    std::vector<int64_t> y(n);
    for (int64_t i = 0; i < n; ++i) {
        y[i] = i % 2;
        const int64_t at = 1 + static_cast<int64_t>(gen.below(6));
        for (int64_t k = 0; k < 8; ++k) x.data()[i * 64 + (y[i] ? at * 8 + k : k * 8 + at)] = 1.0f;
        for (int64_t k = 0; k < 64; ++k) x.data()[i * 64 + k] += static_cast<float>(0.1 * gen.normal());
    }
    Sequential net(Conv2d(1, 4, 3, 1, 1, true, &gen), ReLU(), MaxPool2d(2), Conv2d(4, 8, 3, 1, 1, true, &gen), ReLU(),
                   AdaptiveAvgPool2d(1), Flatten(), Dropout(0.1, &gen), Linear(8, 2, true, &gen));
    auto step = [&] {
        Tape tape;
        const Tensor loss = cross_entropy(net(x), y);
        net.zero_grad();
        tape.backward(loss);
        for (Tensor& p : net.parameters()) {
            const Tensor g = p.grad();
            for (int64_t i = 0; i < p.numel(); ++i) p.data()[i] -= 0.5f * g.data()[i];
        }
        return loss.item();
    };
    const float first = step();
    float last = first;
    for (int i = 0; i < 60; ++i) last = step();
    BOOST_TEST(std::isfinite(last));
    BOOST_TEST(last < 0.5f * first, "loss went from " << first << " to " << last);
}

BOOST_AUTO_TEST_SUITE_END()
