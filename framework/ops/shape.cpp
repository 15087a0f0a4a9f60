// Shape ops; see shape.hpp. The shape-only ones (reshape, view, flatten, unflatten, squeeze,
// unsqueeze) return a view: a new node over the input's storage. Each other one describes its
// output as a strided view of its input (sizes, strides and an offset into the input's
// contiguous storage), copies that view with kernels::strided_gather, and records the matching
// scatter-add as its backward. The checks and messages follow PyTorch 1.13's
// (aten/src/ATen/native/TensorShape.cpp), in its order.
#include "framework/ops/shape.hpp"

#include <algorithm>
#include <numeric>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "framework/core/checked.hpp"
#include "framework/kernels/strided.hpp"
#include "framework/ops/autograd.hpp"
#include "framework/tape.hpp"

namespace tapegrad {

namespace {

using Strides = std::vector<int64_t>;

std::string str(int64_t v) { return std::to_string(v); }

// PyTorch's maybe_wrap_dim: dim in [-n, n) for n dimensions (a 0-d tensor counts as one).
int64_t wrap_dim(int64_t dim, int64_t n) {
    n = std::max<int64_t>(n, 1);
    if (dim < -n || dim >= n)
        throw std::out_of_range("Dimension out of range (expected to be in range of [" + str(-n) + ", " + str(n - 1) +
                                "], but got " + str(dim) + ")");
    return dim < 0 ? dim + n : dim;
}

Strides contiguous_strides(const Shape& shape) {
    Strides strides(shape.size());
    int64_t s = 1;
    for (size_t d = shape.size(); d-- > 0;) {
        strides[d] = s;
        s *= std::max<int64_t>(shape[d], 1);
    }
    return strides;
}

int64_t product(const Shape& shape, size_t begin, size_t end) {
    int64_t p = 1;
    for (size_t d = begin; d < end; ++d) p *= shape[d];
    return p;
}

// PyTorch's infer_size: `requested` with its one -1 replaced so that it holds numel elements.
// PyTorch raises two of its errors as std::runtime_error and the others as c10::Error, and
// unflatten rewrites only the former; `plain` tells which kind this error was.
struct InferSizeError : std::invalid_argument {
    InferSizeError(const std::string& what, bool plain) : std::invalid_argument(what), plain(plain) {}
    bool plain;
};

Shape infer_size(const char* op, const Shape& requested, int64_t numel) {
    Shape shape = requested;
    int64_t known = 1;
    int64_t infer_at = -1;
    for (size_t i = 0; i < shape.size(); ++i) {
        if (shape[i] == -1) {
            if (infer_at >= 0) throw InferSizeError("only one dimension can be inferred", true);
            infer_at = static_cast<int64_t>(i);
        } else if (shape[i] >= 0) {
            known = checked_mul(known, shape[i], [&] { return std::string(op) + ": shape " + to_string(requested); });
        } else {
            throw InferSizeError("invalid shape dimension " + str(shape[i]), false);
        }
    }
    if (numel == known || (infer_at >= 0 && known > 0 && numel % known == 0)) {
        if (infer_at >= 0) {
            if (known == 0)
                throw InferSizeError("cannot reshape tensor of 0 elements into shape " + to_string(requested) +
                                         " because the unspecified dimension size -1 can be any value and is ambiguous",
                                     false);
            shape[static_cast<size_t>(infer_at)] = numel / known;
        }
        return shape;
    }
    throw InferSizeError("shape '" + to_string(requested) + "' is invalid for input of size " + str(numel), true);
}

// out = x's values in a new shape (the same count); the gradient passes back unchanged.
template <typename T>
BasicTensor<T> copy_as(const char* op, const BasicTensor<T>& x, const Shape& shape) {
    BasicTensor<T> out = empty<T>(shape);
    const int64_t n = x.numel();
    const int64_t unit = 1;
    kernels::strided_gather(out.data(), x.data(), &n, &unit, 1, 0);
    record_op(op, out, any_requires_grad(x), [x](const T* dy) mutable {
        const GradBuffer<T> gx = x.grad_buffer();  // uninitialised when accumulate is false
        const int64_t n = x.numel();
        const int64_t unit = 1;
        if (gx.accumulate)
            kernels::strided_add(gx.data, &unit, dy, &unit, &n, 1);
        else
            kernels::strided_gather(gx.data, dy, &n, &unit, 1, 0);
    });
    return out;
}

// out = x's values under a new shape (the same count), sharing x's storage: no copy.
// Backward: out and x list the same values in the same order, so dx = dy read in x's shape,
// and dx += dy. When x has no gradient yet and nobody but this record holds dy (record_op's
// protocol: the output's gradient is taken out of it and released after its record), dx
// simply becomes dy's buffer seen in x's shape: no copy forward, none backward. A dy someone
// else still holds (the seed a user passed to Tape::backward, a gradient set with set_grad)
// is copied, or later additions into dx would show through it.
// This is record_op written out, because the reuse needs dy as a tensor, not a pointer.
template <typename T>
BasicTensor<T> alias_as(const char* op, const BasicTensor<T>& x, const Shape& shape) {
    BasicTensor<T> out = detail::TensorAccess::alias(x, shape);
    Tape* tape = Tape::active();
    if (tape == nullptr || !any_requires_grad(x)) return out;
    detail::TensorAccess::mark_op_output(out);
    tape->record(op, out.id(), [out, x]() mutable {
        const BasicTensor<T> dy = detail::TensorAccess::take_grad(out);
        if (!dy.defined()) return;
        if (!x.grad().defined() && detail::TensorAccess::sole_owner(dy)) {
            x.set_grad(detail::TensorAccess::alias(dy, x.shape()));
            return;
        }
        const GradBuffer<T> gx = x.grad_buffer();  // uninitialised when accumulate is false
        const int64_t n = x.numel();
        const int64_t unit = 1;
        if (gx.accumulate)
            kernels::strided_add(gx.data, &unit, dy.data(), &unit, &n, 1);
        else
            kernels::strided_gather(gx.data, dy.data(), &n, &unit, 1, 0);
    });
    return out;
}

// A strided view of x's storage: element idx of the view is x[offset + Σ idx_d·strides_d].
struct View {
    Shape sizes;
    Strides strides;
    int64_t offset = 0;
};

template <typename T>
View whole(const BasicTensor<T>& x) {
    return View{x.shape(), contiguous_strides(x.shape()), 0};
}

// out = a copy of the view; backward: dx[view position] += dy. The view may leave elements
// of x out (narrow) or reach one several times (expand, stride 0): dx starts from zeros.
// The output has the view's sizes, or `shape` when given (the same elements in the same order).
template <typename T>
BasicTensor<T> gather(const char* op, const BasicTensor<T>& x, View v,
                      const std::optional<Shape>& shape = std::nullopt) {
    BasicTensor<T> out = empty<T>(shape ? *shape : v.sizes);
    const auto rank = static_cast<int64_t>(v.sizes.size());
    kernels::strided_gather(out.data(), x.data(), v.sizes.data(), v.strides.data(), rank, v.offset);
    record_op(op, out, any_requires_grad(x), [x, v = std::move(v), rank](const T* dy) mutable {
        kernels::strided_scatter_add(x.grad_data_for_accumulation(), dy, v.sizes.data(), v.strides.data(), rank,
                                     v.offset);
    });
    return out;
}

template <typename T>
const char* legacy_type_name() {
    return std::is_same_v<T, float> ? "torch.FloatTensor" : "torch.DoubleTensor";
}

}  // namespace

// --- reshapes: the same values in the same order, as views of x ----------------------------

template <typename T>
BasicTensor<T> reshape(const BasicTensor<T>& x, const Shape& shape) {
    return alias_as("reshape", x, infer_size("reshape", shape, x.numel()));
}

template <typename T>
BasicTensor<T> view(const BasicTensor<T>& x, const Shape& shape) {
    return alias_as("view", x, infer_size("view", shape, x.numel()));
}

template <typename T>
BasicTensor<T> flatten(const BasicTensor<T>& x, int64_t start_dim, int64_t end_dim) {
    const int64_t s = wrap_dim(start_dim, x.dim()), e = wrap_dim(end_dim, x.dim());
    if (s > e) throw std::invalid_argument("flatten() has invalid args: start_dim cannot come after end_dim");
    if (x.dim() == 0) return alias_as("flatten", x, Shape{1});
    const Shape& in = x.shape();
    Shape shape(in.begin(), in.begin() + s);
    shape.push_back(product(in, static_cast<size_t>(s), static_cast<size_t>(e) + 1));
    shape.insert(shape.end(), in.begin() + e + 1, in.end());
    return alias_as("flatten", x, shape);
}

template <typename T>
BasicTensor<T> unflatten(const BasicTensor<T>& x, int64_t dim, const Shape& sizes) {
    const int64_t d = wrap_dim(dim, x.dim());
    if (sizes.empty()) throw std::invalid_argument("unflatten: sizes must be non-empty");
    const int64_t size = x.dim() == 0 ? 1 : x.size(d);
    Shape inferred;
    try {
        inferred = infer_size("unflatten", sizes, size);
    } catch (const InferSizeError& e) {
        if (!e.plain) throw;
        if (std::string(e.what()).find("is invalid for input of size") == std::string::npos)
            throw std::invalid_argument(std::string("unflatten got an unexpected error:\n") + e.what());
        throw std::invalid_argument("unflatten: Provided sizes " + to_string(sizes) +
                                    " don't multiply up to the size of dim " + str(d) + " (" + str(size) +
                                    ") in the input tensor");
    }
    Shape shape(x.shape().begin(), x.shape().begin() + std::min<int64_t>(d, x.dim()));
    shape.insert(shape.end(), inferred.begin(), inferred.end());
    if (x.dim() > 0) shape.insert(shape.end(), x.shape().begin() + d + 1, x.shape().end());
    return alias_as("unflatten", x, shape);
}

template <typename T>
BasicTensor<T> unsqueeze(const BasicTensor<T>& x, int64_t dim) {
    const int64_t d = wrap_dim(dim, x.dim() + 1);
    Shape shape = x.shape();
    shape.insert(shape.begin() + d, 1);
    return alias_as("unsqueeze", x, shape);
}

template <typename T>
BasicTensor<T> squeeze(const BasicTensor<T>& x) {
    Shape shape;
    for (int64_t s : x.shape())
        if (s != 1) shape.push_back(s);
    return alias_as("squeeze", x, shape);
}

template <typename T>
BasicTensor<T> squeeze(const BasicTensor<T>& x, int64_t dim) {
    const int64_t d = wrap_dim(dim, x.dim());
    Shape shape = x.shape();
    if (x.dim() > 0 && shape[static_cast<size_t>(d)] == 1) shape.erase(shape.begin() + d);
    return alias_as("squeeze", x, shape);
}

// --- reorderings ---------------------------------------------------------------------------

// Backward: dx is dy permuted back. When x has no gradient yet, that is a gather into dx in
// x's order (each element written once, no zero-fill); else a scatter-add of dy.
template <typename T>
BasicTensor<T> permute(const BasicTensor<T>& x, const std::vector<int64_t>& dims) {
    const int64_t rank = x.dim();
    if (static_cast<int64_t>(dims.size()) != rank)
        throw std::invalid_argument(
            "permute(sparse_coo): number of dimensions in the tensor input does not match the length of the desired "
            "ordering of dimensions i.e. input.dim() = " +
            str(rank) + " is not equal to len(dims) = " + str(static_cast<int64_t>(dims.size())));
    std::vector<int64_t> wrapped(dims.size());
    std::vector<bool> seen(dims.size(), false);
    for (size_t i = 0; i < dims.size(); ++i) {
        const int64_t d = wrap_dim(dims[i], rank);
        if (seen[static_cast<size_t>(d)]) throw std::invalid_argument("permute(): duplicate dims are not allowed.");
        seen[static_cast<size_t>(d)] = true;
        wrapped[i] = d;
    }
    const Strides in_strides = contiguous_strides(x.shape());
    View v;
    for (int64_t d : wrapped) {
        v.sizes.push_back(x.shape()[static_cast<size_t>(d)]);
        v.strides.push_back(in_strides[static_cast<size_t>(d)]);
    }
    BasicTensor<T> out = empty<T>(v.sizes);
    kernels::strided_gather(out.data(), x.data(), v.sizes.data(), v.strides.data(), rank, 0);
    // dy's strides seen from x: input dimension wrapped[i] is dy's dimension i.
    const Strides out_strides = contiguous_strides(v.sizes);
    Strides back(static_cast<size_t>(rank));
    for (size_t i = 0; i < wrapped.size(); ++i) back[static_cast<size_t>(wrapped[i])] = out_strides[i];
    record_op("permute", out, any_requires_grad(x),
              [x, v = std::move(v), back = std::move(back), rank](const T* dy) mutable {
                  const GradBuffer<T> gx = x.grad_buffer();  // uninitialised when accumulate is false
                  if (gx.accumulate)
                      kernels::strided_scatter_add(gx.data, dy, v.sizes.data(), v.strides.data(), rank, 0);
                  else
                      kernels::strided_gather(gx.data, dy, x.shape().data(), back.data(), rank, 0);
              });
    return out;
}

template <typename T>
BasicTensor<T> transpose(const BasicTensor<T>& x, int64_t dim0, int64_t dim1) {
    const int64_t a = wrap_dim(dim0, x.dim()), b = wrap_dim(dim1, x.dim());
    if (x.dim() == 0) return copy_as("transpose", x, x.shape());
    std::vector<int64_t> dims(static_cast<size_t>(x.dim()));
    std::iota(dims.begin(), dims.end(), int64_t{0});
    std::swap(dims[static_cast<size_t>(a)], dims[static_cast<size_t>(b)]);
    return permute(x, dims);
}

// Size-1 dimensions (and new leading ones) get stride 0: every output element along them reads
// the same input element, and the backward adds all their gradients into it.
template <typename T>
BasicTensor<T> expand(const BasicTensor<T>& x, const Shape& shape) {
    const auto ndim = static_cast<int64_t>(shape.size());
    if (ndim < x.dim())
        throw std::invalid_argument(std::string("expand(") + legacy_type_name<T>() + "{" + to_string(x.shape()) +
                                    "}, size=" + to_string(shape) + "): the number of sizes provided (" + str(ndim) +
                                    ") must be greater or equal to the number of dimensions in the tensor (" +
                                    str(x.dim()) + ")");
    const Strides in_strides = contiguous_strides(x.shape());
    View v{Shape(shape.size()), Strides(shape.size()), 0};
    for (int64_t i = ndim - 1; i >= 0; --i) {
        const int64_t d = x.dim() - (ndim - i);  // x's dimension under i, negative for a new one
        int64_t size = d >= 0 ? x.shape()[static_cast<size_t>(d)] : 1;
        int64_t stride = d >= 0 ? in_strides[static_cast<size_t>(d)] : 0;
        int64_t target = shape[static_cast<size_t>(i)];
        if (target == -1) {
            if (d < 0)
                throw std::invalid_argument("The expanded size of the tensor (-1) isn't allowed in a leading, "
                                            "non-existing dimension " + str(i));
            target = size;
        }
        if (size != target) {
            if (size != 1)
                throw std::invalid_argument("The expanded size of the tensor (" + str(target) +
                                            ") must match the existing size (" + str(size) +
                                            ") at non-singleton dimension " + str(i) + ".  Target sizes: " +
                                            to_string(shape) + ".  Tensor sizes: " + to_string(x.shape()));
            if (target < 0)
                throw std::invalid_argument("expand: the expanded size of the tensor (" + str(target) +
                                            ") at dimension " + str(i) + " must be -1 or >= 0");
            size = target;
            stride = 0;
        }
        v.sizes[static_cast<size_t>(i)] = size;
        v.strides[static_cast<size_t>(i)] = stride;
    }
    checked_numel(v.sizes, [&] { return "expand to " + to_string(shape); });
    return gather("expand", x, std::move(v));
}

// Output dimension d is repeats[d] copies of x's dimension d (x padded with leading 1s): as the
// view (r0, s0, r1, s1, ...) with strides (0, stride0, 0, stride1, ...), whose elements in
// row-major order are those of the (r0·s0, r1·s1, ...) output.
template <typename T>
BasicTensor<T> repeat(const BasicTensor<T>& x, const Shape& repeats) {
    const auto n = static_cast<int64_t>(repeats.size());
    if (n < x.dim())
        throw std::invalid_argument(
            "Number of dimensions of repeat dims can not be smaller than number of dimensions of tensor");
    Shape padded(static_cast<size_t>(n - x.dim()), 1);
    padded.insert(padded.end(), x.shape().begin(), x.shape().end());
    const Strides strides = contiguous_strides(padded);
    Shape shape(repeats.size());
    View v;
    for (size_t d = 0; d < repeats.size(); ++d) {
        shape[d] = checked_mul(repeats[d], padded[d],
                               [&] { return "repeat: " + to_string(repeats) + " of " + to_string(x.shape()); });
        v.sizes.insert(v.sizes.end(), {repeats[d], padded[d]});
        v.strides.insert(v.strides.end(), {0, strides[d]});
    }
    for (int64_t e : shape)
        if (e < 0)
            throw std::invalid_argument("Trying to create tensor with negative dimension " + str(e) + ": " +
                                        to_string(shape));
    checked_numel(shape, [&] { return "repeat: output shape " + to_string(shape); });
    return gather("repeat", x, std::move(v), shape);
}

// --- sub-ranges ----------------------------------------------------------------------------

namespace {

// x's elements [start, start + step·length) of dimension d, every step-th.
template <typename T>
View range_view(const BasicTensor<T>& x, int64_t d, int64_t start, int64_t length, int64_t step) {
    View v = whole(x);
    const auto u = static_cast<size_t>(d);
    v.offset = start * v.strides[u];
    v.sizes[u] = length;
    v.strides[u] *= step;
    return v;
}

}  // namespace

template <typename T>
BasicTensor<T> narrow(const BasicTensor<T>& x, int64_t dim, int64_t start, int64_t length) {
    if (x.dim() == 0) throw std::invalid_argument("narrow() cannot be applied to a 0-dim tensor.");
    const int64_t d = wrap_dim(dim, x.dim());
    const int64_t size = x.size(d);
    // start == size is a valid (empty) start, though not a valid dimension index.
    if (start != size) start = wrap_dim(start, size);
    if (length < 0 || start > size - length)
        throw std::invalid_argument("start (" + str(start) + ") + length (" + str(length) +
                                    ") exceeds dimension size (" + str(size) + ").");
    return gather("narrow", x, range_view(x, d, start, length, 1));
}

template <typename T>
BasicTensor<T> slice(const BasicTensor<T>& x, int64_t dim, int64_t start, int64_t end, int64_t step) {
    if (x.dim() == 0) throw std::out_of_range("slice() cannot be applied to a 0-dim tensor.");
    const int64_t d = wrap_dim(dim, x.dim());
    if (step <= 0) throw std::invalid_argument("slice step must be positive");
    const int64_t size = x.size(d);
    if (start < 0) start += size;
    if (end < 0) end += size;
    start = std::clamp<int64_t>(start, 0, size);
    end = std::clamp<int64_t>(end, start, size);
    const int64_t length = end > start ? (end - start - 1) / step + 1 : 0;
    return gather("slice", x, range_view(x, d, start, length, step));
}

template <typename T>
BasicTensor<T> select(const BasicTensor<T>& x, int64_t dim, int64_t index) {
    if (x.dim() == 0) throw std::out_of_range("select() cannot be applied to a 0-dim tensor.");
    const int64_t d = wrap_dim(dim, x.dim());
    const int64_t size = x.size(d);
    if (index < -size || index >= size)
        throw std::out_of_range("select(): index " + str(index) + " out of range for tensor of size " +
                                to_string(x.shape()) + " at dimension " + str(d));
    if (index < 0) index += size;
    View v = range_view(x, d, index, 1, 1);
    v.sizes.erase(v.sizes.begin() + d);
    v.strides.erase(v.strides.begin() + d);
    return gather("select", x, std::move(v));
}

namespace {

// index_select on checked, wrapped arguments; `index_dims` is the index tensor's rank (0 or 1).
template <typename T>
BasicTensor<T> index_select_impl(const BasicTensor<T>& x, int64_t dim, const int64_t* index, int64_t n_index,
                                 int64_t index_dims) {
    const int64_t d = wrap_dim(dim, x.dim());
    if (index_dims > 1) throw std::out_of_range("index_select(): Index is supposed to be a vector");
    if (x.dim() == 0 && n_index != 1)
        throw std::invalid_argument("index_select(): Index to scalar can have only 1 value, got " + str(n_index) +
                                    " value(s)");
    const int64_t size = x.dim() == 0 ? 1 : x.size(d);
    for (int64_t k = 0; k < n_index; ++k)
        if (index[k] < 0 || index[k] >= size)
            throw std::invalid_argument("INDICES element is out of DATA bounds, id=" + str(index[k]) +
                                        " axis_dim=" + str(size));
    Shape shape = x.shape();
    if (x.dim() > 0) shape[static_cast<size_t>(d)] = n_index;
    const auto u = static_cast<size_t>(d);
    const int64_t outer = x.dim() == 0 ? 1 : product(x.shape(), 0, u);
    const int64_t inner = x.dim() == 0 ? 1 : product(x.shape(), u + 1, x.shape().size());
    std::vector<int64_t> idx(index, index + n_index);
    BasicTensor<T> out = empty<T>(shape);
    kernels::index_select_forward(out.data(), x.data(), idx.data(), outer, n_index, size, inner);
    // Backward, index_add: dx[o, index[k], :] += dy[o, k, :]; a repeated index gets each of its rows.
    record_op("index_select", out, any_requires_grad(x),
              [x, idx = std::move(idx), outer, size, inner](const T* dy) mutable {
                  kernels::index_add(x.grad_data_for_accumulation(), dy, idx.data(), outer,
                                     static_cast<int64_t>(idx.size()), size, inner);
              });
    return out;
}

}  // namespace

template <typename T>
BasicTensor<T> index_select(const BasicTensor<T>& x, int64_t dim, const std::vector<int64_t>& indices) {
    return index_select_impl(x, dim, indices.data(), static_cast<int64_t>(indices.size()), 1);
}

template <typename T>
BasicTensor<T> index_select(const BasicTensor<T>& x, int64_t dim, const LongTensor& indices) {
    return index_select_impl(x, dim, indices.data(), indices.numel(), indices.dim());
}

// --- joins ---------------------------------------------------------------------------------

namespace {

// out = the inputs side by side: with `outer` = Π out_shape[:dim], out is (outer, row) and
// input t fills columns [offset_t, offset_t + numel_t / outer) of every row. Backward: each
// input's gradient is its block of columns of dy.
template <typename T>
BasicTensor<T> join(const char* op, const std::vector<BasicTensor<T>>& inputs, const Shape& out_shape, int64_t outer) {
    BasicTensor<T> out = empty<T>(out_shape);
    if (out.numel() == 0) outer = 0;
    const int64_t row = outer == 0 ? 0 : out.numel() / outer;
    std::vector<int64_t> offsets;
    bool needs_grad = false;
    int64_t offset = 0;
    for (const BasicTensor<T>& t : inputs) {
        const int64_t width = outer == 0 ? 0 : t.numel() / outer;
        const int64_t sizes[2] = {outer, width}, out_strides[2] = {row, 1}, in_strides[2] = {width, 1};
        kernels::strided_copy(out.data() + offset, out_strides, t.data(), in_strides, sizes, 2);
        offsets.push_back(offset);
        offset += width;
        needs_grad = needs_grad || any_requires_grad(t);
    }
    record_op(op, out, needs_grad, [inputs, offsets = std::move(offsets), outer, row](const T* dy) mutable {
        for (size_t i = 0; i < inputs.size(); ++i) {
            const BasicTensor<T>& t = inputs[i];
            if (!t.requires_grad()) continue;
            const int64_t width = outer == 0 ? 0 : t.numel() / outer;
            const int64_t sizes[2] = {outer, width}, dy_strides[2] = {row, 1}, dx_strides[2] = {width, 1};
            const GradBuffer<T> gx = t.grad_buffer();  // uninitialised when accumulate is false
            if (gx.accumulate)
                kernels::strided_add(gx.data, dx_strides, dy + offsets[i], dy_strides, sizes, 2);
            else
                kernels::strided_copy(gx.data, dx_strides, dy + offsets[i], dy_strides, sizes, 2);
        }
    });
    return out;
}

}  // namespace

template <typename T>
BasicTensor<T> cat(const std::vector<BasicTensor<T>>& tensors, int64_t dim) {
    if (tensors.empty()) throw std::invalid_argument("torch.cat(): expected a non-empty list of Tensors");
    for (size_t i = 0; i < tensors.size(); ++i)
        if (tensors[i].dim() == 0)
            throw std::invalid_argument("zero-dimensional tensor (at position " + str(static_cast<int64_t>(i)) +
                                        ") cannot be concatenated");
    // A 1-d tensor of size 0 is skipped, as PyTorch has always allowed.
    auto skipped = [](const BasicTensor<T>& t) { return t.dim() == 1 && t.numel() == 0; };
    const auto first = std::find_if_not(tensors.begin(), tensors.end(), skipped);
    if (first == tensors.end()) return join("cat", tensors, Shape{0}, 0);
    const BasicTensor<T>& ref = *first;
    const int64_t d = wrap_dim(dim, ref.dim());
    const auto u = static_cast<size_t>(d);
    Shape shape = ref.shape();
    shape[u] = 0;
    for (size_t i = 0; i < tensors.size(); ++i) {
        const BasicTensor<T>& t = tensors[i];
        if (skipped(t)) continue;
        if (t.dim() != ref.dim())
            throw std::invalid_argument("Tensors must have same number of dimensions: got " + str(ref.dim()) + " and " +
                                        str(t.dim()));
        for (size_t k = 0; k < shape.size(); ++k)
            if (k != u && t.shape()[k] != ref.shape()[k])
                throw std::invalid_argument("Sizes of tensors must match except in dimension " + str(d) +
                                            ". Expected size " + str(ref.shape()[k]) + " but got size " +
                                            str(t.shape()[k]) + " for tensor number " + str(static_cast<int64_t>(i)) +
                                            " in the list.");
        shape[u] = checked_add(shape[u], t.shape()[u], "cat: the size of the joined dimension");
    }
    checked_numel(shape, [&] { return "cat: output shape " + to_string(shape); });
    // The skipped tensors join too, as blocks of width 0 (their gradients come out empty).
    return join("cat", tensors, shape, product(shape, 0, u));
}

template <typename T>
BasicTensor<T> stack(const std::vector<BasicTensor<T>>& tensors, int64_t dim) {
    if (tensors.empty()) throw std::invalid_argument("stack expects a non-empty TensorList");
    const Shape& entry = tensors.front().shape();
    const int64_t d = wrap_dim(dim, tensors.front().dim() + 1);
    for (size_t i = 1; i < tensors.size(); ++i)
        if (tensors[i].shape() != entry)
            throw std::invalid_argument("stack expects each tensor to be equal size, but got " + to_string(entry) +
                                        " at entry 0 and " + to_string(tensors[i].shape()) + " at entry " +
                                        str(static_cast<int64_t>(i)));
    Shape shape = entry;
    shape.insert(shape.begin() + d, static_cast<int64_t>(tensors.size()));
    checked_numel(shape, [&] { return "stack: output shape " + to_string(shape); });
    return join("stack", tensors, shape, product(shape, 0, static_cast<size_t>(d)));
}

template <typename T>
BasicTensor<T> contiguous(const BasicTensor<T>& x) {
    return x;
}

#define TAPEGRAD_INSTANTIATE(T)                                                                          \
    template BasicTensor<T> reshape(const BasicTensor<T>&, const Shape&);                                \
    template BasicTensor<T> view(const BasicTensor<T>&, const Shape&);                                   \
    template BasicTensor<T> flatten(const BasicTensor<T>&, int64_t, int64_t);                            \
    template BasicTensor<T> unflatten(const BasicTensor<T>&, int64_t, const Shape&);                     \
    template BasicTensor<T> transpose(const BasicTensor<T>&, int64_t, int64_t);                          \
    template BasicTensor<T> permute(const BasicTensor<T>&, const std::vector<int64_t>&);                 \
    template BasicTensor<T> unsqueeze(const BasicTensor<T>&, int64_t);                                   \
    template BasicTensor<T> squeeze(const BasicTensor<T>&);                                              \
    template BasicTensor<T> squeeze(const BasicTensor<T>&, int64_t);                                     \
    template BasicTensor<T> expand(const BasicTensor<T>&, const Shape&);                                 \
    template BasicTensor<T> repeat(const BasicTensor<T>&, const Shape&);                                 \
    template BasicTensor<T> narrow(const BasicTensor<T>&, int64_t, int64_t, int64_t);                    \
    template BasicTensor<T> slice(const BasicTensor<T>&, int64_t, int64_t, int64_t, int64_t);            \
    template BasicTensor<T> select(const BasicTensor<T>&, int64_t, int64_t);                             \
    template BasicTensor<T> index_select(const BasicTensor<T>&, int64_t, const std::vector<int64_t>&);   \
    template BasicTensor<T> index_select(const BasicTensor<T>&, int64_t, const LongTensor&);             \
    template BasicTensor<T> cat(const std::vector<BasicTensor<T>>&, int64_t);                            \
    template BasicTensor<T> stack(const std::vector<BasicTensor<T>>&, int64_t);                          \
    template BasicTensor<T> contiguous(const BasicTensor<T>&);
TAPEGRAD_INSTANTIATE(float)
TAPEGRAD_INSTANTIATE(double)
#undef TAPEGRAD_INSTANTIATE

}  // namespace tapegrad
