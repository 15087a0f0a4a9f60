// reshape and flatten; see shape.hpp.
#include "framework/ops/shape.hpp"

#include <algorithm>
#include <stdexcept>

#include "framework/kernels/checked.hpp"
#include "framework/ops/autograd.hpp"

namespace tapegrad {

namespace {

Shape infer_shape(const Shape& requested, int64_t numel, const Shape& from) {
    Shape shape = requested;
    int64_t known = 1;
    int64_t infer_at = -1;
    for (size_t i = 0; i < shape.size(); ++i) {
        if (shape[i] == -1) {
            if (infer_at >= 0) throw std::invalid_argument("reshape: only one dimension can be inferred, but got " + to_string(requested));
            infer_at = static_cast<int64_t>(i);
        } else if (shape[i] < 0) {
            throw std::invalid_argument("reshape: invalid shape dimension " + std::to_string(shape[i]) + " in " + to_string(requested));
        } else {
            known = checked_mul(known, shape[i], [&] { return "reshape: shape " + to_string(requested); });
        }
    }
    if (infer_at >= 0 && known != 0 && numel % known == 0) shape[static_cast<size_t>(infer_at)] = numel / known;
    if (shape_numel(shape) != numel || (infer_at >= 0 && known == 0))
        throw std::invalid_argument("reshape: shape " + to_string(requested) + " is invalid for input of size " +
                                    std::to_string(numel) + " (shape " + to_string(from) + ")");
    return shape;
}

}  // namespace

template <typename T>
BasicTensor<T> reshape(const BasicTensor<T>& x, const Shape& shape) {
    BasicTensor<T> out = empty<T>(infer_shape(shape, x.numel(), x.shape()));
    std::copy(x.data(), x.data() + x.numel(), out.data());
    record_op("reshape", out, any_requires_grad(x), [x](const T* dy) mutable {
        const GradBuffer<T> gx = x.grad_buffer();  // uninitialised when accumulate is false
        const int64_t n = x.numel();
        if (gx.accumulate)
            for (int64_t i = 0; i < n; ++i) gx.data[i] += dy[i];
        else
            std::copy(dy, dy + n, gx.data);
    });
    return out;
}

template <typename T>
BasicTensor<T> flatten(const BasicTensor<T>& x, int64_t start_dim, int64_t end_dim) {
    const int64_t rank = std::max<int64_t>(x.dim(), 1);
    const int64_t s = start_dim < 0 ? start_dim + rank : start_dim;
    const int64_t e = end_dim < 0 ? end_dim + rank : end_dim;
    if (s < 0 || e >= rank || s > e)
        throw std::invalid_argument("flatten: expected 0 <= start_dim <= end_dim < " + std::to_string(rank) +
                                    ", but got start_dim=" + std::to_string(start_dim) + " and end_dim=" +
                                    std::to_string(end_dim) + " for input of shape " + to_string(x.shape()));
    if (x.dim() == 0) return reshape(x, Shape{1});
    Shape shape(x.shape().begin(), x.shape().begin() + s);
    int64_t merged = 1;
    for (int64_t d = s; d <= e; ++d) merged *= x.shape()[static_cast<size_t>(d)];
    shape.push_back(merged);
    shape.insert(shape.end(), x.shape().begin() + e + 1, x.shape().end());
    return reshape(x, shape);
}

template BasicTensor<float> reshape(const BasicTensor<float>&, const Shape&);
template BasicTensor<double> reshape(const BasicTensor<double>&, const Shape&);
template BasicTensor<float> flatten(const BasicTensor<float>&, int64_t, int64_t);
template BasicTensor<double> flatten(const BasicTensor<double>&, int64_t, int64_t);

}  // namespace tapegrad
