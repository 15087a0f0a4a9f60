// Element-wise comparison of two tensors, shared by the suites.
#pragma once

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>

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

}  // namespace tapegrad::testing
