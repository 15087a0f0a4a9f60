// The one way to save and restore state in JSON (internal to framework/io and optim's .cpp
// files; it includes <nlohmann/json.hpp>): a Reader that takes typed members out of a JSON
// object and throws a sentence naming the member, and Field lists that declare an options
// aggregate once, so that writing and reading it both follow from that declaration.
//   constexpr auto step_fields = std::tuple{fields::field("step_size", &StepLROptions::step_size, at_least_one),
//                                           fields::finite_field("gamma", &StepLROptions::gamma)};
//   fields::write(options, json, step_fields);
//   fields::read(reader, json, options, step_fields);
//   fields::check(options, step_fields, "StepLR");
// Members may be int64_t, double or bool.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>

#include <nlohmann/json.hpp>

namespace tapegrad::fields {

using Json = nlohmann::ordered_json;

// A problem with the contents of a file's document; io's load functions add the file name.
struct FormatError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// How a Reader words its errors: each kind of state keeps the sentences it has always had.
enum class Wording {
    // FormatError "<who>: missing \"k\"", "<who>: k: expected an integer, but got 1.5"
    document,
    // std::invalid_argument "<who>: the state has no \"k\"", "<who>: \"k\" is not an integer"
    state,
    // std::invalid_argument "<who>: options.k is missing or not an integer" (either fault)
    options,
};

// Short JSON text of a value for a message, cut at 40 characters.
std::string describe(const Json& j);

class Reader {
  public:
    Reader(std::string who, Wording wording) : who_(std::move(who)), wording_(wording) {}

    const std::string& who() const { return who_; }
    // Throws "<who>: <what>" as the wording's exception type.
    [[noreturn]] void fail(const std::string& what) const;

    // j[key], or nullptr when j is not an object or has no such key.
    static const Json* find(const Json& j, std::string_view key);
    // j[key], which must be there.
    const Json& at(const Json& j, std::string_view key) const;
    // j[key] of a type. An integer is one that fits in int64_t; a finite number is neither
    // NaN nor infinite (which CBOR and an in-memory metadata object can hold).
    int64_t integer(const Json& j, std::string_view key) const;
    double number(const Json& j, std::string_view key) const;
    double finite_number(const Json& j, std::string_view key) const;
    bool boolean(const Json& j, std::string_view key) const;
    const Json& object(const Json& j, std::string_view key) const;

    // A value that is no member (an array element): "<who>: expected an integer, but got 1.5".
    int64_t integer(const Json& v) const;

  private:
    // The member is missing, or of the wrong type (`found` non-null) where `kind` is what
    // was expected ("an integer").
    [[noreturn]] void fail_member(std::string_view key, const char* kind, const Json* found) const;
    // j[key] if it is there and passes `ok`, else fail_member.
    template <typename Ok>
    const Json& typed(const Json& j, std::string_view key, const char* kind, Ok ok) const;

    std::string who_;
    Wording wording_;
};

// One member of an options aggregate: its name in the JSON object, where it lives, and the
// check its value must pass (throwing std::invalid_argument prefixed with `who`), if any.
template <typename Owner, typename T>
struct Field {
    static_assert(std::is_same_v<T, int64_t> || std::is_same_v<T, double> || std::is_same_v<T, bool>,
                  "a field is an int64_t, a double or a bool");
    using Check = void (*)(T value, const char* name, const std::string& who);
    const char* name;
    T Owner::*member;
    Check check = nullptr;
    bool finite = false;  // a double that is read only when finite
};

template <typename Owner, typename T>
constexpr Field<Owner, T> field(const char* name, T Owner::*member, typename Field<Owner, T>::Check check = nullptr) {
    return {name, member, check};
}
template <typename Owner>
constexpr Field<Owner, double> finite_field(const char* name, double Owner::*member,
                                            typename Field<Owner, double>::Check check = nullptr) {
    return {name, member, check, true};
}

// Runs every field's check on `options`, in the order declared.
template <typename Owner, typename... T>
void check(const Owner& options, const std::tuple<Field<Owner, T>...>& fields, const std::string& who) {
    const auto one = [&](const auto& f) {
        if (f.check) f.check(options.*(f.member), f.name, who);
    };
    std::apply([&](const auto&... f) { (one(f), ...); }, fields);
}

// Writes every field of `from` into the object `to`, in the order declared.
template <typename Owner, typename... T>
void write(const Owner& from, Json& to, const std::tuple<Field<Owner, T>...>& fields) {
    std::apply([&](const auto&... f) { ((to[f.name] = from.*(f.member)), ...); }, fields);
}

// Reads every field from the object `from` into `into`, in the order declared; the first
// missing or mistyped one throws as `reader` words it, and then `into` is unchanged.
template <typename Owner, typename... T>
void read(const Reader& reader, const Json& from, Owner& into, const std::tuple<Field<Owner, T>...>& fields) {
    Owner read = into;
    const auto one = [&](const auto& f) {
        using V = std::remove_cvref_t<decltype(read.*(f.member))>;
        if constexpr (std::is_same_v<V, int64_t>)
            read.*(f.member) = reader.integer(from, f.name);
        else if constexpr (std::is_same_v<V, bool>)
            read.*(f.member) = reader.boolean(from, f.name);
        else
            read.*(f.member) = f.finite ? reader.finite_number(from, f.name) : reader.number(from, f.name);
    };
    std::apply([&](const auto&... f) { (one(f), ...); }, fields);
    into = read;
}

}  // namespace tapegrad::fields
