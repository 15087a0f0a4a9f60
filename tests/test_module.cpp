// Module: registration, dotted names, modes, zero_grad and printing; the fusion table (a
// user's own pair of modules registered and then run fused by Sequential and forward_chain).
#include <boost/test/unit_test.hpp>

#include <tapegrad/tapegrad.hpp>

#include "support/messages.hpp"

using namespace tapegrad;
using tapegrad::testing::check_message;
using tapegrad::testing::message_contains;
using tapegrad::testing::message_is;

namespace {

// A two-level model built from the public Module API alone.
class Block : public Module {
  public:
    Block() {
        scale_ = register_parameter("scale", ones({4, 1}));
        register_buffer("count", zeros({1}));
        register_buffer("steps", zeros<int64_t>({}));
        norm_ = register_module("norm", std::make_shared<GroupNorm>(2, 4));
    }
    Tensor forward(const Tensor& x) override { return (*norm_)(x * scale_); }  // scale (4, 1) over (N, 4, L)
    std::string type_name() const override { return "Block"; }

  private:
    Tensor scale_;
    std::shared_ptr<GroupNorm> norm_;
};

class Net : public Module {
  public:
    Net() { block_ = register_module("block", std::make_shared<Block>()); }
    Tensor forward(const Tensor& x) override { return (*block_)(x); }
    std::string type_name() const override { return "Net"; }

  private:
    std::shared_ptr<Block> block_;
};

// Two modules of a user's own, x·2 and x + 1, counting their forward calls, and the count of
// calls to their fused pair: the table outlives a test case, so the counts are not locals.
int scale_calls = 0, shift_calls = 0, scale_shift_calls = 0;

class Scale : public Module {
  public:
    Tensor forward(const Tensor& x) override {
        ++scale_calls;
        return x * 2.0f;
    }
    std::string type_name() const override { return "Scale"; }
};

class Shift : public Module {
  public:
    Tensor forward(const Tensor& x) override {
        ++shift_calls;
        return x + 1.0f;
    }
    std::string type_name() const override { return "Shift"; }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(module)

BOOST_AUTO_TEST_CASE(named_parameters_are_dotted_and_ordered) {
    Net net;
    std::vector<std::string> names;
    for (const auto& [name, _] : net.named_parameters()) names.push_back(name);
    BOOST_TEST(names == (std::vector<std::string>{"block.scale", "block.norm.weight", "block.norm.bias"}),
               boost::test_tools::per_element());
    BOOST_TEST_REQUIRE(net.named_buffers().size() == 2u);
    BOOST_TEST(net.named_buffers()[0].first == "block.count");
    BOOST_TEST(net.named_buffers()[1].first == "block.steps");
    BOOST_TEST(std::holds_alternative<LongTensor>(net.named_buffers()[1].second));
}

BOOST_AUTO_TEST_CASE(modes_propagate_to_children) {
    Net net;
    net.eval();
    BOOST_TEST(!net.is_training());
    BOOST_TEST(!net.children()[0].second->is_training());
    net.train();
    BOOST_TEST(net.children()[0].second->children()[0].second->is_training());
}

BOOST_AUTO_TEST_CASE(zero_grad_clears_every_parameter) {
    Net net;
    {
        Tape tape;
        tape.backward(sum(net(randn({2, 4, 3}))));
    }
    for (const auto& p : net.parameters()) BOOST_TEST(p.grad().defined());
    net.zero_grad();
    for (const auto& p : net.parameters()) BOOST_TEST(!p.grad().defined());
}

BOOST_AUTO_TEST_CASE(prints_like_pytorch) {
    Net net;
    BOOST_TEST(net.repr() == "Net(\n  (block): Block(\n    (norm): GroupNorm(2, 4, eps=1e-05, affine=True)\n  )\n)");
    BOOST_TEST(python_float_repr(1e-5) == "1e-05");
    BOOST_TEST(python_float_repr(0.001) == "0.001");
    BOOST_TEST(python_float_repr(0.0001) == "0.0001");
    BOOST_TEST(python_float_repr(1.0) == "1.0");
    BOOST_TEST(python_float_repr(1e16) == "1e+16");
}

BOOST_AUTO_TEST_CASE(duplicate_names_are_rejected) {
    class Twice : public Module {
      public:
        Twice() {
            register_parameter("w", ones({1}));
            register_parameter("w", ones({1}));
        }
        Tensor forward(const Tensor& x) override { return x; }
        std::string type_name() const override { return "Twice"; }
    };
    BOOST_CHECK_THROW(Twice(), std::invalid_argument);
}

// Before register_fusion the pair runs module by module; after it, Sequential and
// forward_chain run the registered function instead, with the same result; the same pair
// twice, or an empty function, is rejected naming the pair.
BOOST_AUTO_TEST_CASE(fusion_table_takes_a_users_own_pair) {
    Sequential net{Scale(), Shift()};
    const Tensor x = randn({2, 3});
    const Tensor unfused = net(x);
    BOOST_TEST(find_fusion(net[0], net[1]) == nullptr);
    BOOST_TEST((scale_calls == 1 && shift_calls == 1));

    register_fusion<Scale, Shift>([](Scale&, Shift&, const Tensor& t) {
        ++scale_shift_calls;
        return t * 2.0f + 1.0f;
    });
    BOOST_TEST(find_fusion(net[0], net[1]) != nullptr);
    const Tensor fused = net(x);
    BOOST_TEST((scale_calls == 1 && shift_calls == 1 && scale_shift_calls == 1));
    BOOST_TEST(fused.to_vector() == unfused.to_vector(), boost::test_tools::per_element());

    Scale scale;
    Shift shift;
    Identity identity;
    const Tensor chained = forward_chain(x, identity, scale, shift);  // (identity, scale) is no pair
    BOOST_TEST((scale_calls == 1 && shift_calls == 1 && scale_shift_calls == 2));
    BOOST_TEST(chained.to_vector() == unfused.to_vector(), boost::test_tools::per_element());
    forward_chain(x, shift, scale);  // the other order is not the pair
    BOOST_TEST((scale_calls == 2 && shift_calls == 2 && scale_shift_calls == 2));

    check_message([] { register_fusion<Scale, Shift>([](Scale&, Shift&, const Tensor& t) { return t; }); },
                  {"register_fusion", "already in the fusion table", "Scale", "Shift"});
    check_message([] { register_fusion<float>(typeid(Shift), typeid(Scale), nullptr); },
                  {"register_fusion", "empty", "Shift", "Scale"});
    BOOST_TEST(find_fusion<float>(shift, scale) == nullptr);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(module_state)

BOOST_AUTO_TEST_CASE(state_dict_round_trips_and_rejects_mismatches) {
    Net a, b;
    const StateDict state = a.state_dict();
    // PyTorch's order: each module's parameters, then its buffers, then its children's.
    BOOST_TEST(state.names() == (std::vector<std::string>{"block.scale", "block.count", "block.steps",
                                                          "block.norm.weight", "block.norm.bias"}),
               boost::test_tools::per_element());
    BOOST_TEST(state.dtype("block.steps") == "int64");
    state.get<float>("block.scale").data()[0] = 9.0f;  // aliases a's parameter
    state.get<int64_t>("block.steps").data()[0] = 7;
    b.load_state_dict(a.state_dict());
    BOOST_TEST(b.state_dict().get<float>("block.scale").data()[0] == 9.0f);
    BOOST_TEST(b.state_dict().get<int64_t>("block.steps").data()[0] == 7);

    const StateDict full = a.state_dict();  // held: a loop over a temporary's entries() would dangle
    StateDict missing;
    for (const auto& [n, v] : full.entries())
        if (n != "block.steps") std::visit([&missing, &n = n](const auto& t) { missing.add(n, t); }, v);
    BOOST_CHECK_EXCEPTION(b.load_state_dict(missing), std::invalid_argument,
                          [](const auto& e) { return message_contains(e, "missing key \"block.steps\""); });
    StateDict extra = a.state_dict();
    extra.add("block.other", zeros({1}));
    BOOST_CHECK_EXCEPTION(b.load_state_dict(extra), std::invalid_argument,
                          [](const auto& e) { return message_contains(e, "unexpected key \"block.other\""); });
    // A float count where the model keeps int64, and a wrong shape; the scale, first in the
    // file, is changed too: validation comes before any copy.
    auto with = [&](const std::string& name, const Tensor& value) {
        StateDict out;
        for (const auto& [n, v] : full.entries()) {
            if (n == name) out.add(n, value);
            else if (n == "block.scale") out.add(n, zeros({4, 1}));
            else std::visit([&out, &n = n](const auto& t) { out.add(n, t); }, v);
        }
        return out;
    };
    BOOST_CHECK_EXCEPTION(b.load_state_dict(with("block.steps", zeros({}))), std::invalid_argument, [](const auto& e) {
        return message_is(e, "load_state_dict: dtype mismatch for block.steps: copying a float32 tensor, the dtype in "
                             "current model is int64");
    });
    BOOST_CHECK_EXCEPTION(b.load_state_dict(with("block.norm.weight", zeros({5}))), std::invalid_argument,
                          [](const auto& e) { return message_contains(e, "size mismatch for block.norm.weight"); });
    BOOST_TEST(b.state_dict().get<float>("block.scale").data()[0] == 9.0f,
               "a rejected state leaves the module unchanged");
    BOOST_TEST(b.state_dict().get<int64_t>("block.steps").data()[0] == 7);
}

BOOST_AUTO_TEST_SUITE_END()
