// Size arithmetic that cannot wrap: element counts, byte counts and output extents are
// computed here, and a result that does not fit in int64_t (or size_t) is std::length_error
// with a message naming what was being sized, never a wrapped number. Header-only and
// dependency-free, so every level may use it, the kernels included.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace tapegrad {

// a·b for a, b >= 0; throws std::length_error "<what>: size overflow (a x b does not fit in
// int64)" otherwise.
inline int64_t checked_mul(int64_t a, int64_t b, const std::string& what) {
    int64_t r = 0;
    if (__builtin_mul_overflow(a, b, &r))
        throw std::length_error(what + ": size overflow (" + std::to_string(a) + " x " + std::to_string(b) +
                                " does not fit in int64)");
    return r;
}

// a + b; throws std::length_error naming `what` when it does not fit.
inline int64_t checked_add(int64_t a, int64_t b, const std::string& what) {
    int64_t r = 0;
    if (__builtin_add_overflow(a, b, &r))
        throw std::length_error(what + ": size overflow (" + std::to_string(a) + " + " + std::to_string(b) +
                                " does not fit in int64)");
    return r;
}

// count elements of `element_size` bytes, in bytes; throws std::length_error naming `what`
// when count is negative or the product does not fit in size_t (or in int64_t).
inline std::size_t checked_bytes(int64_t count, std::size_t element_size, const std::string& what) {
    if (count < 0) throw std::length_error(what + ": negative element count " + std::to_string(count));
    std::size_t r = 0;
    if (__builtin_mul_overflow(static_cast<std::size_t>(count), element_size, &r) ||
        r > static_cast<std::size_t>(INT64_MAX))
        throw std::length_error(what + ": size overflow (" + std::to_string(count) + " elements of " +
                                std::to_string(element_size) + " bytes)");
    return r;
}

}  // namespace tapegrad
