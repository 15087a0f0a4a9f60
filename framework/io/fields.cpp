// The Reader of typed JSON members; see fields.hpp.
#include "framework/io/fields.hpp"

#include <cmath>

namespace tapegrad::fields {

namespace {

bool is_int64(const Json& v) {
    return v.is_number_integer() && !(v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX));
}

}  // namespace

std::string describe(const Json& j) {
    std::string text = j.dump(-1, ' ', false, Json::error_handler_t::replace);
    if (text.size() > 40) text = text.substr(0, 37) + "...";
    return text;
}

void Reader::fail(const std::string& what) const {
    if (wording_ == Wording::document) throw FormatError(who_ + ": " + what);
    throw std::invalid_argument(who_ + ": " + what);
}

const Json* Reader::find(const Json& j, std::string_view key) {
    if (!j.is_object()) return nullptr;
    const auto found = j.find(key);
    return found == j.end() ? nullptr : &*found;
}

void Reader::fail_member(std::string_view key, const char* kind, const Json* found) const {
    const std::string name(key);
    switch (wording_) {
        case Wording::document:
            if (found) fail(name + ": expected " + kind + ", but got " + describe(*found));
            fail("missing \"" + name + "\"");
        case Wording::state:
            if (found) fail("\"" + name + "\" is not " + kind);
            fail("the state has no \"" + name + "\"");
        case Wording::options:
            fail("options." + name + " is missing" + (kind ? std::string(" or not ") + kind : std::string()));
    }
    fail("unreadable \"" + name + "\"");  // unreachable: every wording is handled above
}

template <typename Ok>
const Json& Reader::typed(const Json& j, std::string_view key, const char* kind, Ok ok) const {
    // A document names what it found instead of an object; a state says the member is missing.
    if (wording_ == Wording::document && !j.is_object()) fail("expected an object, but got " + describe(j));
    const Json* found = find(j, key);
    if (!found || !ok(*found)) fail_member(key, kind, found);
    return *found;
}

const Json& Reader::at(const Json& j, std::string_view key) const {
    return typed(j, key, nullptr, [](const Json&) { return true; });
}

int64_t Reader::integer(const Json& j, std::string_view key) const {
    return typed(j, key, "an integer", is_int64).get<int64_t>();
}

double Reader::number(const Json& j, std::string_view key) const {
    return typed(j, key, "a number", [](const Json& v) { return v.is_number(); }).get<double>();
}

double Reader::finite_number(const Json& j, std::string_view key) const {
    const auto finite = [](const Json& v) { return v.is_number() && std::isfinite(v.get<double>()); };
    return typed(j, key, "a finite number", finite).get<double>();
}

bool Reader::boolean(const Json& j, std::string_view key) const {
    return typed(j, key, "a boolean", [](const Json& v) { return v.is_boolean(); }).get<bool>();
}

const Json& Reader::object(const Json& j, std::string_view key) const {
    return typed(j, key, "an object", [](const Json& v) { return v.is_object(); });
}

int64_t Reader::integer(const Json& v) const {
    if (!is_int64(v)) fail("expected an integer, but got " + describe(v));
    return v.get<int64_t>();
}

}  // namespace tapegrad::fields
