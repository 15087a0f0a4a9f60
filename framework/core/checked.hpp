// Size arithmetic that cannot wrap: element counts, byte counts and output extents are
// computed here, and a result that does not fit in int64_t (or size_t) is std::length_error
// with a message naming what was being sized, never a wrapped number. Header-only and
// dependency-free, so every level may use it, the kernels included.
//
// `what` names the thing sized: a string, or a callable returning one, which is called only
// when the size does not fit, so a hot path (every tensor's allocation) builds no message.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>

namespace tapegrad {

namespace detail {

template <typename What>
std::string describe(const What& what) {
    if constexpr (std::is_invocable_v<const What&>)
        return std::string(what());
    else
        return std::string(what);
}

}  // namespace detail

// "[2, 3, 4]", the way PyTorch prints a size; also what to_string(Shape) prints.
inline std::string extents_string(std::span<const int64_t> extents) {
    std::string out(1, '[');
    for (size_t i = 0; i < extents.size(); ++i) {
        if (i) out += ", ";
        out += std::to_string(extents[i]);
    }
    out += ']';
    return out;
}

namespace detail {
template <typename What>
[[noreturn]] void size_overflow(const What& what, int64_t a, const char* op, int64_t b) {
    throw std::length_error(describe(what) + ": size overflow (" + std::to_string(a) + op + std::to_string(b) +
                            " does not fit in int64)");
}
}  // namespace detail

// a·b for a, b >= 0; throws std::length_error "<what>: size overflow (a x b does not fit in
// int64)" otherwise.
template <typename What>
constexpr int64_t checked_mul(int64_t a, int64_t b, const What& what) {
    int64_t r = 0;
    if (__builtin_mul_overflow(a, b, &r)) detail::size_overflow(what, a, " x ", b);
    return r;
}

// a + b; throws std::length_error naming `what` when it does not fit.
template <typename What>
constexpr int64_t checked_add(int64_t a, int64_t b, const What& what) {
    int64_t r = 0;
    if (__builtin_add_overflow(a, b, &r)) detail::size_overflow(what, a, " + ", b);
    return r;
}

// count elements of `element_size` bytes, in bytes; throws std::length_error naming `what`
// when count is negative or the product does not fit in size_t (or in int64_t).
template <typename What>
std::size_t checked_bytes(int64_t count, std::size_t element_size, const What& what) {
    if (count < 0)
        throw std::length_error(detail::describe(what) + ": negative element count " + std::to_string(count));
    std::size_t r = 0;
    if (__builtin_mul_overflow(static_cast<std::size_t>(count), element_size, &r) ||
        r > static_cast<std::size_t>(INT64_MAX))
        throw std::length_error(detail::describe(what) + ": size overflow (" + std::to_string(count) + " elements of " +
                                std::to_string(element_size) + " bytes)");
    return r;
}

// The number of elements of a shape whose extents are >= 0 (the caller checks the sign). The
// product of its non-zero extents must fit in int64 as well, even when a zero extent makes
// the count 0: then every part of the shape an op counts on its own (N·C, H·W) fits too.
// Throws std::length_error "<what>: size overflow (shape [a, b] has more elements than fit
// in int64)" otherwise.
template <typename What>
constexpr int64_t checked_numel(std::span<const int64_t> shape, const What& what) {
    int64_t nonzero = 1;
    bool empty = false;
    for (int64_t e : shape) {
        if (e == 0) {
            empty = true;
            continue;
        }
        if (__builtin_mul_overflow(nonzero, e, &nonzero)) {
            const bool has_zero = std::find(shape.begin(), shape.end(), int64_t{0}) != shape.end();
            throw std::length_error(detail::describe(what) + ": size overflow (shape " + extents_string(shape) +
                                    (has_zero ? " has non-zero extents whose product does not fit in int64)"
                                              : " has more elements than fit in int64)"));
        }
    }
    return empty ? 0 : nonzero;
}

// The bytes of a tensor of this shape with `element_size`-byte elements: checked_numel, then
// the bytes; throws std::length_error naming `what` and the shape when either does not fit.
template <typename What>
std::size_t checked_bytes(std::span<const int64_t> shape, std::size_t element_size, const What& what) {
    const int64_t count = checked_numel(shape, what);
    std::size_t r = 0;
    if (__builtin_mul_overflow(static_cast<std::size_t>(count), element_size, &r) ||
        r > static_cast<std::size_t>(INT64_MAX))
        throw std::length_error(detail::describe(what) + ": size overflow (shape " + extents_string(shape) + " of " +
                                std::to_string(element_size) + "-byte elements has more bytes than fit in int64)");
    return r;
}

// a·b, or INT64_MAX when that does not fit: for estimates of work (parallel.hpp's amounts),
// where a product past int64 only means "a lot", not an error.
constexpr int64_t saturating_mul(int64_t a, int64_t b) {
    int64_t r = 0;
    return __builtin_mul_overflow(a, b, &r) ? INT64_MAX : r;
}

}  // namespace tapegrad
