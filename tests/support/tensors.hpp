// Element-wise comparison of tensors with each other and with reference values, shared by the suites.
#pragma once

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "framework/tensor.hpp"

namespace tapegrad::testing {

// max |a − b| over the elements; a and b must have the same shape.
template <typename T>
double max_difference(const BasicTensor<T>& a, const BasicTensor<T>& b) {
    BOOST_TEST_REQUIRE(to_string(a.shape()) == to_string(b.shape()));
    double m = 0.0;
    for (int64_t i = 0; i < a.numel(); ++i) m = std::max(m, std::abs(double(a.data()[i]) - double(b.data()[i])));
    return m;
}

// How far values are from a reference, in the terms of the golden checks: the largest
// |ours − ref| (infinite when either side is NaN, so that NaN never passes), where it is,
// and max(1, max |ref|), the scale a relative tolerance applies to.
struct Distance {
    double max_error = 0.0;
    double scale = 1.0;
    int64_t worst = -1;
    double scaled() const { return max_error / scale; }
};

inline Distance distance(const double* ours, const std::vector<double>& ref) {
    Distance d;
    for (size_t i = 0; i < ref.size(); ++i) {
        d.scale = std::max(d.scale, std::abs(ref[i]));
        const double e = std::abs(ours[i] - ref[i]);
        if (!(e <= d.max_error)) {  // also catches NaN
            d.max_error = std::isnan(e) ? INFINITY : e;
            d.worst = static_cast<int64_t>(i);
        }
    }
    return d;
}

// The same for a tensor, which must have as many elements as ref.
template <typename T>
Distance distance(const BasicTensor<T>& ours, const std::vector<double>& ref) {
    BOOST_TEST_REQUIRE(static_cast<size_t>(ours.numel()) == ref.size(),
                       "distance: " << ours.numel() << " values against " << ref.size());
    const std::vector<double> values(ours.data(), ours.data() + ours.numel());
    return distance(values.data(), ref);
}

// max over i of |a[i] − b[i]| / (tol · max(1, |b[i]|)): at most 1 when every element is within
// tol of b relative to its size (absolute below 1); infinite if any difference is NaN.
template <typename V>
double worst(const V& a, const V& b, double tol) {
    double w = 0.0;
    for (size_t i = 0; i < a.size(); ++i) {
        const double r = std::abs(double(a[i]) - double(b[i])) / (tol * std::max(1.0, std::abs(double(b[i]))));
        if (std::isnan(r)) return INFINITY;
        w = std::max(w, r);
    }
    return w;
}

// The same bits (NaN payloads and signed zeros included), element by element. memcmp is not
// called on zero elements: an empty vector's data() may be null, and memcmp(null, null, 0)
// is undefined (UBSan stops on it).
template <typename T>
bool same_bits(const T* a, const T* b, size_t n) {
    return n == 0 || std::memcmp(a, b, n * sizeof(T)) == 0;
}
template <typename T, typename A>
bool same_bits(const std::vector<T, A>& a, const std::vector<T, A>& b) {
    return a.size() == b.size() && same_bits(a.data(), b.data(), a.size());
}
template <typename T>
bool same_bits(const BasicTensor<T>& a, const BasicTensor<T>& b) {
    return a.shape() == b.shape() && same_bits(a.data(), b.data(), static_cast<size_t>(a.numel()));
}

}  // namespace tapegrad::testing
