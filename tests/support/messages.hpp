// Checks on exception messages, shared by the suites: a message must name what was expected
// and what was given, so tests look for those words in it.
#pragma once

#include <boost/test/unit_test.hpp>

#include <exception>
#include <stdexcept>
#include <string>
#include <vector>

namespace tapegrad::testing {

// True when e's message contains `text`; logs the message when it does not.
inline bool message_contains(const std::exception& e, const std::string& text) {
    const bool found = std::string(e.what()).find(text) != std::string::npos;
    if (!found) BOOST_TEST_MESSAGE("the message was: " << e.what());
    return found;
}

// True when e's message is exactly `text` (a message PyTorch's own words were recorded for);
// logs both when it is not.
inline bool message_is(const std::exception& e, const std::string& text) {
    const bool same = std::string(e.what()) == text;
    if (!same) BOOST_TEST_MESSAGE("the message was: " << e.what() << "\nexpected:        " << text);
    return same;
}

// f() must throw std::invalid_argument whose message contains every one of `parts`.
template <typename F>
void check_message(F&& f, const std::vector<std::string>& parts) {
    try {
        f();
        BOOST_ERROR("expected std::invalid_argument");
    } catch (const std::invalid_argument& e) {
        const std::string what = e.what();
        for (const auto& part : parts)
            BOOST_TEST(what.find(part) != std::string::npos, "'" << part << "' not in: " << what);
    }
}

}  // namespace tapegrad::testing
