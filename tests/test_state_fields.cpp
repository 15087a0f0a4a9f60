// framework/io/fields (the one way state is saved and restored) and framework/format (the
// one Python-float printer): each wording's sentences, and an options aggregate that is
// declared once and round-trips through JSON.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "framework/format.hpp"
#include "framework/io/fields.hpp"

using namespace tapegrad;
using fields::Json;
using fields::Reader;
using fields::Wording;

namespace {

struct Options {
    int64_t count = 0;
    double rate = 0.0;
    bool flag = false;
};

void positive(int64_t v, const char* name, const std::string& who) {
    if (v <= 0) throw std::invalid_argument(who + ": expected " + name + " > 0, but got " + std::to_string(v));
}

constexpr auto option_fields =
    std::tuple{fields::field("count", &Options::count, positive), fields::finite_field("rate", &Options::rate),
               fields::field("flag", &Options::flag)};

template <typename E, typename F>
std::string message_of(F&& f) {
    try {
        f();
    } catch (const E& e) {
        return e.what();
    }
    return "(nothing thrown)";
}

}  // namespace

BOOST_AUTO_TEST_CASE(options_round_trip_in_declared_order) {
    const Options written{.count = 3, .rate = 0.25, .flag = true};
    Json j = Json::object();
    fields::write(written, j, option_fields);
    BOOST_TEST(j.dump() == R"({"count":3,"rate":0.25,"flag":true})");
    Options read;
    fields::read(Reader("test", Wording::state), j, read, option_fields);
    BOOST_TEST(read.count == 3);
    BOOST_TEST(read.rate == 0.25);
    BOOST_TEST(read.flag);
    BOOST_TEST(message_of<std::invalid_argument>([&] { fields::check(Options{}, option_fields, "test"); }) ==
               "test: expected count > 0, but got 0");
}

BOOST_AUTO_TEST_CASE(a_bad_member_changes_nothing_and_is_named_as_the_wording_says) {
    Json j = {{"count", 3}, {"rate", "fast"}, {"flag", true}};
    Options kept{.count = 7};
    const auto read = [&](Wording w) { fields::read(Reader("who", w), j, kept, option_fields); };
    BOOST_TEST(message_of<std::invalid_argument>([&] { read(Wording::state); }) ==
               "who: \"rate\" is not a finite number");
    BOOST_TEST(message_of<std::invalid_argument>([&] { read(Wording::options); }) ==
               "who: options.rate is missing or not a finite number");
    BOOST_TEST(message_of<fields::FormatError>([&] { read(Wording::document); }) ==
               "who: rate: expected a finite number, but got \"fast\"");
    BOOST_TEST(kept.count == 7);

    j.erase("rate");
    BOOST_TEST(message_of<std::invalid_argument>([&] { read(Wording::state); }) == "who: the state has no \"rate\"");
    BOOST_TEST(message_of<fields::FormatError>([&] { read(Wording::document); }) == "who: missing \"rate\"");
    BOOST_TEST(message_of<fields::FormatError>([&] { Reader("doc", Wording::document).at(Json::array(), "k"); }) ==
               "doc: expected an object, but got []");
    BOOST_TEST(message_of<fields::FormatError>([&] { Reader("shape", Wording::document).integer(Json(1.5)); }) ==
               "shape: expected an integer, but got 1.5");
    BOOST_TEST(message_of<std::invalid_argument>([&] {
                   Reader("who", Wording::state).integer(Json{{"n", uint64_t(1) << 63}}, "n");
               }) == "who: \"n\" is not an integer");
}

BOOST_AUTO_TEST_CASE(python_float_printer) {
    BOOST_TEST(python_float_repr(1e-5) == "1e-05");
    BOOST_TEST(python_float_repr(0.0001) == "0.0001");
    BOOST_TEST(python_float_repr(2.0) == "2.0");
    BOOST_TEST(python_float_repr(-0.0) == "-0.0");
    BOOST_TEST(python_float_repr(1.5e300) == "1.5e+300");
    BOOST_TEST(python_float_repr(-std::numeric_limits<double>::infinity()) == "-inf");
    BOOST_TEST(python_number_repr(0.0) == "0");
    BOOST_TEST(python_number_repr(-1.0) == "-1");
    BOOST_TEST(python_number_repr(0.1) == "0.1");
    BOOST_TEST(python_number_repr(1e16) == "1e+16");
    BOOST_TEST(python_number_repr(std::nan("")) == "nan");
}
