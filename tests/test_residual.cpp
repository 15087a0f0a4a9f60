// Residual: relu(body(x) + shortcut(x)) against the same ops composed by hand, gradients by
// finite differences in double into both branches and x (identity and 1×1-conv shortcuts),
// the parameter names, the printing, and a shape mismatch between the branches.
#include <boost/test/unit_test.hpp>

#include <memory>
#include <string>

#include <tapegrad/tapegrad.hpp>
#include "support/gradcheck.hpp"
#include "support/messages.hpp"
#include "support/tensors.hpp"

using namespace tapegrad;
using namespace tapegrad::testing;

namespace {

using DSequential = BasicSequential<double>;
using DConv2d = BasicConv2d<double>;
using DGroupNorm = BasicGroupNorm<double>;
using DReLU = BasicReLU<double>;
using DResidual = BasicResidual<double>;

DSequential body(int64_t in, int64_t out, int64_t stride, Generator& gen) {
    return DSequential(DConv2d(in, out, 3, stride, 1, true, &gen), DGroupNorm(2, out), DReLU(),
                       DConv2d(out, out, 3, 1, 1, true, &gen), DGroupNorm(2, out));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(residual)

BOOST_AUTO_TEST_CASE(identity_shortcut_is_relu_of_body_plus_x) {
    Generator gen(5);
    auto b = std::make_shared<DSequential>(body(4, 4, 1, gen));
    DResidual block(b);
    const DoubleTensor x = randn<double>({2, 4, 5, 5}, &gen);
    const DoubleTensor expected = relu(add((*b)(x), x));
    BOOST_TEST(max_difference(block(x), expected) == 0.0);
    BOOST_TEST(block.shortcut() == nullptr);
}

BOOST_AUTO_TEST_CASE(gradients_reach_both_branches_and_the_input) {
    Generator gen(7);
    DResidual identity(body(4, 4, 1, gen));
    check_module_gradients("Residual(identity)", identity, randn<double>({2, 4, 5, 5}, &gen, true));
    DResidual projection(body(4, 6, 2, gen), DConv2d(4, 6, 1, 2, 0, true, &gen));
    check_module_gradients("Residual(1x1 conv, stride 2)", projection, randn<double>({2, 4, 6, 6}, &gen, true));
    // Both branches got a gradient from one backward.
    const DoubleTensor x = randn<double>({2, 4, 6, 6}, &gen, true);
    {
        Tape tape;
        tape.backward(sum(projection(x)));
    }
    for (const auto& [name, p] : projection.named_parameters()) BOOST_TEST(p.grad().defined(), name);
    BOOST_TEST(x.grad().defined());
}

BOOST_AUTO_TEST_CASE(names_and_printing) {
    Generator gen(9);
    Residual block(Sequential(Conv2d(3, 8, 3, 2, 1, true, &gen), GroupNorm(2, 8)), Conv2d(3, 8, 1, 2, 0, false, &gen));
    std::string names;
    for (const auto& [name, p] : block.named_parameters()) names += name + " ";
    BOOST_TEST(names == "body.0.weight body.0.bias body.1.weight body.1.bias shortcut.weight ");
    const std::string repr = block.repr();
    BOOST_TEST(repr.rfind("Residual(\n  (body): Sequential(\n", 0) == 0, repr);
    BOOST_TEST(
        repr.find("(shortcut): Conv2d(3, 8, kernel_size=(1, 1), stride=(2, 2), bias=False)") != std::string::npos,
        repr);
    // A copy shares the modules (tensors are handles), it does not wrap the original.
    Residual copy = block;
    BOOST_TEST(copy.named_parameters().size() == 5u);
}

BOOST_AUTO_TEST_CASE(mismatched_branches_name_both_shapes) {
    Generator gen(3);
    Residual block(Conv2d(3, 8, 3, 1, 1, true, &gen));
    check_message([&] { block(randn({1, 3, 4, 4}, &gen)); },
                  {"Residual", "[1, 8, 4, 4]", "[1, 3, 4, 4]", "give a shortcut module"});
    check_message([] { Residual(std::shared_ptr<Module>{}); }, {"Residual", "null"});
}

BOOST_AUTO_TEST_SUITE_END()
