// Tape::on_grad_ready: each hook runs right after the record that finishes its tensor's
// gradient (before earlier records run), sees the final gradient, runs once per backward,
// and misuse (a second write, a gradient left from before) is an error naming what to do.
#include <boost/test/unit_test.hpp>

#include <tapegrad/tapegrad.hpp>
#include "support/messages.hpp"

#include <string>
#include <vector>

using namespace tapegrad;

using tapegrad::testing::message_contains;

BOOST_AUTO_TEST_SUITE(tape_hooks)

// y = linear(relu(linear(x, w1, b1)), w2, b2): backward runs linear 2 (w2, b2 final), then
// relu, then linear 1 (w1, b1 final); `events` logs hooks between the ops' own backward runs.
struct TwoLayers {
    Tensor x = randn({4, 3});
    Tensor w1 = randn({5, 3}, nullptr, true), b1 = randn({5}, nullptr, true);
    Tensor w2 = randn({2, 5}, nullptr, true), b2 = randn({2}, nullptr, true);
    Tensor hidden;
    Tensor loss(Tape&) {
        hidden = relu(linear(x, w1, b1));
        return sum(linear(hidden, w2, b2));
    }
};

BOOST_AUTO_TEST_CASE(hooks_run_as_gradients_finish_with_the_final_gradient) {
    manual_seed(1);
    TwoLayers m;
    std::vector<std::string> events;
    std::vector<float> w2_seen, w1_seen;
    bool hidden_had_grad_at_w2 = true;
    Tape tape;
    Tensor loss = m.loss(tape);
    tape.on_grad_ready(m.w1, [&] { events.push_back("w1"); w1_seen = m.w1.grad().to_vector(); });
    tape.on_grad_ready(m.b1, [&] { events.push_back("b1"); });
    tape.on_grad_ready(m.w2, [&] {
        events.push_back("w2");
        w2_seen = m.w2.grad().to_vector();
        // linear 1 has not run yet: nothing reached w1.
        hidden_had_grad_at_w2 = m.w1.grad().defined();
    });
    tape.on_grad_ready(m.b2, [&] { events.push_back("b2"); });
    tape.backward(loss);
    // w2 and b2 finish with the last record (linear 2) in registration order, before w1, b1.
    BOOST_TEST(events == (std::vector<std::string>{"w2", "b2", "w1", "b1"}), boost::test_tools::per_element());
    BOOST_TEST(!hidden_had_grad_at_w2);
    // What the hooks saw is the gradient backward leaves.
    BOOST_TEST(w2_seen == m.w2.grad().to_vector(), boost::test_tools::per_element());
    BOOST_TEST(w1_seen == m.w1.grad().to_vector(), boost::test_tools::per_element());

    // The same gradients without hooks: hooks change nothing.
    const std::vector<float> w1 = m.w1.grad().to_vector(), b2 = m.b2.grad().to_vector();
    m.w1.zero_grad(); m.b1.zero_grad(); m.w2.zero_grad(); m.b2.zero_grad();
    {
        Tape plain;
        plain.backward(m.loss(plain));
    }
    BOOST_TEST(m.w1.grad().to_vector() == w1, boost::test_tools::per_element());
    BOOST_TEST(m.b2.grad().to_vector() == b2, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(an_unused_tensor_gets_its_hook_at_the_end_without_a_gradient) {
    Tensor a = ones({2}, true), unused = ones({3}, true);
    std::vector<std::string> events;
    Tape tape;
    Tensor loss = sum(a * 2.0f);
    tape.on_grad_ready(unused, [&] { events.push_back(unused.grad().defined() ? "unused with grad" : "unused"); });
    tape.on_grad_ready(a, [&] { events.push_back("a"); });
    tape.backward(loss);
    BOOST_TEST(events == (std::vector<std::string>{"a", "unused"}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_tensor_read_by_two_ops_is_refused_not_reported_early) {
    // a·a + a: `mul` and `add` both write a's gradient; a hook after the first would see half.
    Tensor a = from_vector<float>({2}, {3, -1}, true);
    int calls = 0;
    Tape tape;
    Tensor loss = sum(add(mul(a, a), a));
    tape.on_grad_ready(a, [&] { ++calls; });
    BOOST_CHECK_EXCEPTION(tape.backward(loss), std::logic_error, [](const auto& e) {
        return message_contains(e, "wrote the gradient of a watched tensor after its hook had run");
    });
    BOOST_TEST(calls == 1);
}

BOOST_AUTO_TEST_CASE(a_gradient_left_from_before_is_refused) {
    Tensor w = ones({2}, true);
    w.accumulate_grad(ones({2}));
    Tape tape;
    Tensor loss = sum(w * 3.0f);
    tape.on_grad_ready(w, [] {});
    BOOST_CHECK_EXCEPTION(tape.backward(loss), std::logic_error,
                          [](const auto& e) { return message_contains(e, "call zero_grad() before backward"); });
    // The gradient it had is untouched.
    BOOST_TEST(w.grad().to_vector() == (std::vector<float>{1, 1}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(hooks_belong_to_one_backward) {
    Tensor w = ones({2}, true);
    int calls = 0;
    {
        Tape tape;
        Tensor loss = sum(w * 3.0f);
        tape.on_grad_ready(w, [&] { ++calls; });
        tape.backward(loss);
        BOOST_CHECK_EXCEPTION(tape.on_grad_ready(w, [] {}), std::logic_error,
                              [](const auto& e) { return message_contains(e, "register hooks before it"); });
    }
    w.zero_grad();
    {
        Tape tape;  // a new tape has no hooks
        tape.backward(sum(w * 3.0f));
    }
    BOOST_TEST(calls == 1);
    BOOST_TEST(w.grad().to_vector() == (std::vector<float>{3, 3}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_throwing_hook_ends_backward_and_leaves_gradients_in_place) {
    manual_seed(2);
    TwoLayers m;
    Tape tape;
    Tensor loss = m.loss(tape);
    tape.on_grad_ready(m.w2, [] { throw std::runtime_error("reduction failed"); });
    BOOST_CHECK_EXCEPTION(tape.backward(loss), std::runtime_error,
                          [](const auto& e) { return message_contains(e, "reduction failed"); });
    BOOST_TEST(m.w2.grad().defined());   // put back after the walk ended
    BOOST_TEST(!m.w1.grad().defined());  // linear 1 never ran
}

BOOST_AUTO_TEST_SUITE_END()
