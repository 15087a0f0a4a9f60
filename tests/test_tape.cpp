// Tape: recording, reverse-mode accumulation, release of records, and its error messages.
#include <boost/test/unit_test.hpp>

#include <tapegrad/tapegrad.hpp>
#include "support/messages.hpp"

using namespace tapegrad;

using tapegrad::testing::message_contains;

BOOST_AUTO_TEST_SUITE(tape)

BOOST_AUTO_TEST_CASE(records_only_while_alive_and_when_needed) {
    Tensor x = ones({3}, true), c = ones({3});
    {
        Tape tape;
        BOOST_TEST(Tape::active() == &tape);
        Tensor y = x * 2.0f;
        Tensor z = c * 2.0f;  // no input requires grad: not recorded
        BOOST_TEST(tape.size() == 1u);
        BOOST_TEST(y.requires_grad());
        BOOST_TEST(!y.is_leaf());
        BOOST_TEST(!z.requires_grad());
    }
    BOOST_TEST(Tape::active() == nullptr);
}

BOOST_AUTO_TEST_CASE(reused_input_accumulates) {
    // d(a·a + a)/da = 2a + 1: both uses of `a` must add into its gradient.
    Tensor a = from_vector<float>({2}, {3, -1}, true);
    Tape tape;
    Tensor loss = sum(add(mul(a, a), a));
    tape.backward(loss);
    BOOST_TEST(a.grad().to_vector() == (std::vector<float>{7, -1}), boost::test_tools::per_element());
    BOOST_TEST(tape.size() == 0u);
}

BOOST_AUTO_TEST_CASE(gradients_accumulate_across_tapes_until_zeroed) {
    Tensor w = ones({2}, true);
    for (int step = 0; step < 2; ++step) {
        Tape tape;
        tape.backward(sum(w * 3.0f));
    }
    BOOST_TEST(w.grad().to_vector() == (std::vector<float>{6, 6}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(seeded_backward_of_a_non_scalar_output) {
    Tensor x = ones({2, 2}, true);
    Tape tape;
    Tensor y = x * 3.0f;
    tape.backward(y, from_vector<float>({2, 2}, {1, 2, 3, 4}));
    BOOST_TEST(x.grad().to_vector() == (std::vector<float>{3, 6, 9, 12}), boost::test_tools::per_element());
    BOOST_TEST(!y.grad().defined(), "intermediate gradients are released once used");
}

BOOST_AUTO_TEST_CASE(misuse_is_a_clear_error) {
    Tensor x = ones({2, 2}, true);
    Tape tape;
    Tensor y = x * 2.0f;
    BOOST_CHECK_EXCEPTION(tape.backward(y), std::invalid_argument,
                          [](const auto& e) { return message_contains(e, "one-element loss"); });
    BOOST_CHECK_EXCEPTION(tape.backward(y, ones({3})), std::invalid_argument,
                          [](const auto& e) { return message_contains(e, "[2, 2]") && message_contains(e, "[3]"); });
    BOOST_CHECK_EXCEPTION(tape.backward(x, ones({2, 2})), std::invalid_argument, [](const auto& e) {
        return message_contains(e, "not produced by an op recorded on this tape");
    });
    Tensor loss = sum(y);
    tape.backward(loss);
    BOOST_CHECK_EXCEPTION(tape.backward(loss), std::logic_error,
                          [](const auto& e) { return message_contains(e, "twice"); });
    BOOST_CHECK_THROW(x * 2.0f, std::logic_error);  // recording on a consumed tape
}

BOOST_AUTO_TEST_CASE(inner_tape_shadows_outer) {
    Tensor x = ones({1}, true);
    Tape outer;
    {
        Tape inner;
        Tensor y = x * 2.0f;
        BOOST_TEST(inner.size() == 1u);
        BOOST_TEST(outer.size() == 0u);
    }
    BOOST_TEST(Tape::active() == &outer);
}

BOOST_AUTO_TEST_SUITE_END()
