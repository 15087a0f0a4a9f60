// Size2: a (height, width) pair for the kernel size, stride and padding of 2-D ops and
// layers, as PyTorch's `int or (int, int)` arguments: built implicitly from one int (the
// same value for both) or from two ({2, 1}). Holds no validation: the ops check the values.
#pragma once

#include <cstdint>
#include <string>

namespace tapegrad {

struct Size2 {
    int64_t h = 0;
    int64_t w = 0;

    constexpr Size2() = default;
    constexpr Size2(int64_t both) : h(both), w(both) {}  // NOLINT(google-explicit-constructor): int → square
    constexpr Size2(int64_t height, int64_t width) : h(height), w(width) {}

    friend constexpr bool operator==(const Size2&, const Size2&) = default;
};

// "(3, 3)", the way PyTorch prints a tuple.
inline std::string to_string(const Size2& s) {
    // Appended piece by piece: GCC 12 warns falsely (-Wrestrict) on "(" + std::string.
    std::string out(1, '(');
    out += std::to_string(s.h);
    out += ", ";
    out += std::to_string(s.w);
    out += ')';
    return out;
}

// "2" when both values are equal, else "(2, 3)": how a pooling layer built from an int prints.
inline std::string to_compact_string(const Size2& s) { return s.h == s.w ? std::to_string(s.h) : to_string(s); }

}  // namespace tapegrad
