// Reductions, softmax and log_softmax; see reduction.hpp. Every op resolves its dimensions
// into a Plan, the (outer, R, inner) block the kernels of framework/kernels/reduce.hpp and
// softmax.hpp work on, then runs a forward kernel and records the matching backward kernel.
//
// Non-adjacent reduced dimensions (e.g. 0 and 2 of (A, B, C, D)) are gathered: a transposing
// copy puts the kept dimensions first and the reduced ones last, in order, and the block is
// (kept elements, reduced elements, 1). The backward writes into a buffer of that layout and
// copies it back transposed. Extents of 1 do not break adjacency (they are neither kept nor
// reduced data), so sum over {1, 3} of (N, C, 1, W) is a plain block.
#include "framework/ops/reduction.hpp"

#include <algorithm>
#include <limits>
#include <stdexcept>
#include <string>

#include "framework/kernels/reduce.hpp"
#include "framework/kernels/softmax.hpp"
#include "framework/ops/autograd.hpp"

namespace tapegrad {

namespace {

// A dimension d of a rank-`rank` tensor as an index in [0, rank); a 0-dim tensor takes 0 and -1.
int64_t wrap_dim(int64_t d, int64_t rank) {
    const int64_t r = std::max<int64_t>(rank, 1);
    if (d < -r || d >= r)
        throw std::out_of_range("Dimension out of range (expected to be in range of [" + std::to_string(-r) + ", " +
                                std::to_string(r - 1) + "], but got " + std::to_string(d) + ")");
    return d < 0 ? d + r : d;
}

struct Plan {
    Shape out_shape;
    int64_t outer = 1, R = 1, inner = 1;
    std::vector<bool> reduced;  // per dimension of x
    // When the reduced dimensions are not one block: x's extents in gathered order (kept,
    // then reduced), x's strides along them, and the inverse: for each dimension of x, its
    // stride in the gathered layout.
    bool gathered = false;
    Shape gathered_shape;
    std::vector<int64_t> gather_strides, scatter_strides;
};

// `dims` of `shape` (all when empty) as a Plan. Checks everything before any allocation.
Plan plan_reduction(const Shape& shape, const std::vector<int64_t>& dims, bool keepdim) {
    const int64_t rank = static_cast<int64_t>(shape.size());
    Plan p;
    p.reduced.assign(static_cast<size_t>(rank), dims.empty());
    std::vector<bool> seen(static_cast<size_t>(std::max<int64_t>(rank, 1)), false);
    for (int64_t d : dims) {
        const int64_t k = wrap_dim(d, rank);
        if (seen[static_cast<size_t>(k)])
            throw std::invalid_argument("dim " + std::to_string(k) + " appears multiple times in the list of dims");
        seen[static_cast<size_t>(k)] = true;
        if (rank > 0) p.reduced[static_cast<size_t>(k)] = true;
    }
    for (int64_t d = 0; d < rank; ++d) {
        if (!p.reduced[static_cast<size_t>(d)])
            p.out_shape.push_back(shape[static_cast<size_t>(d)]);
        else if (keepdim)
            p.out_shape.push_back(1);
    }
    // Adjacency, ignoring extents of 1: the reduced dimensions of other extents must be one run.
    int64_t first = -1, last = -1;
    bool kept_between = false;
    for (int64_t d = 0; d < rank; ++d) {
        if (shape[static_cast<size_t>(d)] == 1) continue;
        if (p.reduced[static_cast<size_t>(d)]) {
            if (first < 0) first = d;
            else if (kept_between) p.gathered = true;
            last = d;
        } else if (first >= 0) {
            kept_between = true;
        }
    }
    if (!p.gathered) {
        for (int64_t d = 0; d < rank; ++d) {
            const int64_t e = shape[static_cast<size_t>(d)];
            if (e == 1) continue;
            if (first < 0 || d < first) p.outer *= e;
            else if (d <= last) p.R *= e;
            else p.inner *= e;
        }
        return p;
    }
    std::vector<int64_t> strides(static_cast<size_t>(rank));
    for (int64_t d = rank - 1, s = 1; d >= 0; --d) {
        strides[static_cast<size_t>(d)] = s;
        s *= shape[static_cast<size_t>(d)];
    }
    std::vector<int64_t> order;
    for (int pass = 0; pass < 2; ++pass)
        for (int64_t d = 0; d < rank; ++d)
            if (p.reduced[static_cast<size_t>(d)] == (pass == 1)) order.push_back(d);
    p.scatter_strides.assign(static_cast<size_t>(rank), 0);
    int64_t s = 1;
    for (int64_t i = rank - 1; i >= 0; --i) {
        const int64_t d = order[static_cast<size_t>(i)];
        p.scatter_strides[static_cast<size_t>(d)] = s;
        s *= shape[static_cast<size_t>(d)];
    }
    p.outer = 1;
    p.R = 1;
    for (int64_t d : order) {
        p.gathered_shape.push_back(shape[static_cast<size_t>(d)]);
        p.gather_strides.push_back(strides[static_cast<size_t>(d)]);
        (p.reduced[static_cast<size_t>(d)] ? p.R : p.outer) *= shape[static_cast<size_t>(d)];
    }
    p.inner = 1;
    return p;
}

Plan plan_one_dim(const Shape& shape, int64_t dim, bool keepdim) {
    return plan_reduction(shape, std::vector<int64_t>{dim}, keepdim);
}

// x as its plan's block: x itself, or the gathered copy.
template <typename T>
BasicTensor<T> block_of(const BasicTensor<T>& x, const Plan& p) {
    if (!p.gathered) return x;
    BasicTensor<T> g = empty<T>(p.gathered_shape);
    kernels::strided_copy(g.data(), x.data(), p.gathered_shape.data(), p.gather_strides.data(),
                          static_cast<int64_t>(p.gathered_shape.size()), false);
    return g;
}

// Runs write(dx, accumulate), a backward kernel on the block layout, into x's gradient:
// directly, or through a buffer copied back transposed when the plan gathered x.
template <typename T, typename Write>
void backward_into(const BasicTensor<T>& x, const Plan& p, Write&& write) {
    if (!p.gathered) {
        const GradBuffer<T> g = x.grad_buffer();
        write(g.data, g.accumulate);
        return;
    }
    BasicTensor<T> buffer = empty<T>(p.gathered_shape);
    write(buffer.data(), false);
    const GradBuffer<T> g = x.grad_buffer();
    kernels::strided_copy(g.data, buffer.data(), x.shape().data(), p.scatter_strides.data(), x.dim(), g.accumulate);
}

// The first reduced dimension of extent 0, or -1.
int64_t empty_reduced_dim(const Shape& shape, const Plan& p) {
    for (size_t d = 0; d < shape.size(); ++d)
        if (p.reduced[d] && shape[d] == 0) return static_cast<int64_t>(d);
    return -1;
}

void require_nonempty_reduction(const char* op, const Shape& shape, const Plan& p) {
    const int64_t d = empty_reduced_dim(shape, p);
    if (d >= 0)
        throw std::out_of_range(std::string(op) + "(): Expected reduction dim " + std::to_string(d) +
                                " to have non-zero size.");
}

template <typename T>
BasicTensor<T> scaled_sum(const char* op, const BasicTensor<T>& x, const std::vector<int64_t>& dims, bool keepdim,
                          bool is_mean) {
    const Plan p = plan_reduction(x.shape(), dims, keepdim);
    const double scale = !is_mean  ? 1.0
                         : p.R > 0 ? 1.0 / static_cast<double>(p.R)
                                   : std::numeric_limits<double>::quiet_NaN();
    const BasicTensor<T> xb = block_of(x, p);
    BasicTensor<T> out = empty<T>(p.out_shape);
    kernels::sum_dim_forward(out.data(), xb.data(), p.outer, p.R, p.inner, scale);
    // y = scale · Σ_r x  ⇒  dx = scale · dy, broadcast over the reduced dimensions
    record_op(op, out, any_requires_grad(x), [x, p, scale](const T* dy) mutable {
        backward_into(x, p, [&](T* dx, bool accumulate) {
            kernels::sum_dim_backward(dx, dy, p.outer, p.R, p.inner, scale, accumulate);
        });
    });
    return out;
}

template <typename T>
BasicTensor<T> variance(const char* op, const BasicTensor<T>& x, const std::vector<int64_t>& dims, double correction,
                        bool keepdim, bool is_std) {
    const Plan p = plan_reduction(x.shape(), dims, keepdim);
    const BasicTensor<T> xb = block_of(x, p);
    BasicTensor<T> out = empty<T>(p.out_shape);
    DoubleTensor mean = empty<double>({p.outer * p.inner});
    kernels::variance_dim_forward(out.data(), mean.data(), xb.data(), p.outer, p.R, p.inner, correction, is_std);
    // The derivation is above kernels::variance_dim_backward.
    record_op(op, out, any_requires_grad(x), [x, xb, y = out, mean, p, correction, is_std](const T* dy) mutable {
        backward_into(x, p, [&](T* dx, bool accumulate) {
            kernels::variance_dim_backward(dx, dy, y.data(), mean.data(), xb.data(), p.outer, p.R, p.inner, correction,
                                           is_std, accumulate);
        });
    });
    return out;
}

template <typename T>
BasicTensor<T> extreme(const char* op, const BasicTensor<T>& x, const std::vector<int64_t>& dims, bool keepdim,
                       bool is_max) {
    const Plan p = plan_reduction(x.shape(), dims, keepdim);
    require_nonempty_reduction(op, x.shape(), p);
    const BasicTensor<T> xb = block_of(x, p);
    BasicTensor<T> out = empty<T>(p.out_shape);
    kernels::extreme_dim_forward(out.data(), xb.data(), p.outer, p.R, p.inner, is_max);
    // The derivation is above kernels::extreme_dim_backward.
    record_op(op, out, any_requires_grad(x), [x, xb, y = out, p](const T* dy) mutable {
        backward_into(x, p, [&](T* dx, bool accumulate) {
            kernels::extreme_dim_backward(dx, dy, xb.data(), y.data(), p.outer, p.R, p.inner, accumulate);
        });
    });
    return out;
}

template <typename T>
BasicTensor<T> whole_extreme(const char* op, const BasicTensor<T>& x, bool is_max) {
    if (x.numel() == 0)
        throw std::invalid_argument(std::string(op) +
                                    "(): Expected reduction dim to be specified for input.numel() == 0. Specify the "
                                    "reduction dim with the 'dim' argument.");
    return extreme(op, x, {}, false, is_max);
}

template <typename T>
ValuesAndIndices<T> values_and_indices(const char* op, const BasicTensor<T>& x, int64_t dim, bool keepdim,
                                       bool is_max) {
    const Plan p = plan_one_dim(x.shape(), dim, keepdim);
    require_nonempty_reduction(op, x.shape(), p);
    ValuesAndIndices<T> r{empty<T>(p.out_shape), empty<int64_t>(p.out_shape)};
    kernels::arg_extreme_dim(r.values.data(), r.indices.data(), x.data(), p.outer, p.R, p.inner, is_max);
    // values = x[index]  ⇒  dx[index] += dy, 0 elsewhere
    record_op(op, r.values, any_requires_grad(x), [x, index = r.indices, p](const T* dy) mutable {
        kernels::index_dim_backward(x.grad_data_for_accumulation(), dy, index.data(), p.outer, p.R, p.inner);
    });
    return r;
}

template <typename T>
LongTensor arg_extreme(const char* op, const BasicTensor<T>& x, const std::vector<int64_t>& dims, bool keepdim,
                       bool is_max) {
    const Plan p = plan_reduction(x.shape(), dims, keepdim);
    if (dims.empty() && x.numel() == 0)
        throw std::out_of_range(std::string(op) + "(): Expected reduction dim to be specified for input.numel() == 0.");
    require_nonempty_reduction(op, x.shape(), p);
    LongTensor index = empty<int64_t>(p.out_shape);
    kernels::arg_extreme_dim(static_cast<T*>(nullptr), index.data(), x.data(), p.outer, p.R, p.inner, is_max);
    return index;
}

template <bool Log, typename T>
BasicTensor<T> softmax_along(const char* op, const BasicTensor<T>& x, int64_t dim) {
    const Plan p = plan_one_dim(x.shape(), dim, true);
    BasicTensor<T> out = empty<T>(x.shape());
    if constexpr (Log)
        kernels::log_softmax_forward(out.data(), x.data(), p.outer, p.R, p.inner);
    else
        kernels::softmax_forward(out.data(), x.data(), p.outer, p.R, p.inner);
    // The derivations are above the kernels' softmax_any_backward.
    record_op(op, out, any_requires_grad(x), [x, y = out, p](const T* dy) mutable {
        const GradBuffer<T> g = x.grad_buffer();
        if constexpr (Log)
            kernels::log_softmax_backward(g.data, dy, y.data(), p.outer, p.R, p.inner, g.accumulate);
        else
            kernels::softmax_backward(g.data, dy, y.data(), p.outer, p.R, p.inner, g.accumulate);
    });
    return out;
}

}  // namespace

// Each function's overloads together, in the header's order.
template <typename T> BasicTensor<T> sum(const BasicTensor<T>& x) { return scaled_sum("sum", x, {}, false, false); }
template <typename T>
BasicTensor<T> sum(const BasicTensor<T>& x, const Dims& dims, bool keepdim) {
    return scaled_sum("sum", x, dims.values, keepdim, false);
}
template <typename T>
BasicTensor<T> mean(const BasicTensor<T>& x) {
    return scaled_sum("mean", x, {}, false, true);
}
template <typename T>
BasicTensor<T> mean(const BasicTensor<T>& x, const Dims& dims, bool keepdim) {
    return scaled_sum("mean", x, dims.values, keepdim, true);
}
template <typename T>
BasicTensor<T> var(const BasicTensor<T>& x, const Dims& dims, double correction, bool keepdim) {
    return variance("var", x, dims.values, correction, keepdim, false);
}
template <typename T>
BasicTensor<T> std(const BasicTensor<T>& x, const Dims& dims, double correction, bool keepdim) {
    return variance("std", x, dims.values, correction, keepdim, true);
}
template <typename T>
BasicTensor<T> amax(const BasicTensor<T>& x, const Dims& dims, bool keepdim) {
    return extreme("amax", x, dims.values, keepdim, true);
}
template <typename T>
BasicTensor<T> amin(const BasicTensor<T>& x, const Dims& dims, bool keepdim) {
    return extreme("amin", x, dims.values, keepdim, false);
}
template <typename T> BasicTensor<T> max(const BasicTensor<T>& x) { return whole_extreme("max", x, true); }
template <typename T>
ValuesAndIndices<T> max(const BasicTensor<T>& x, int64_t dim, bool keepdim) {
    return values_and_indices("max", x, dim, keepdim, true);
}
template <typename T>
BasicTensor<T> min(const BasicTensor<T>& x) {
    return whole_extreme("min", x, false);
}
template <typename T>
ValuesAndIndices<T> min(const BasicTensor<T>& x, int64_t dim, bool keepdim) {
    return values_and_indices("min", x, dim, keepdim, false);
}
template <typename T>
LongTensor argmax(const BasicTensor<T>& x, int64_t dim, bool keepdim) {
    return arg_extreme("argmax", x, {dim}, keepdim, true);
}
template <typename T>
LongTensor argmin(const BasicTensor<T>& x, int64_t dim, bool keepdim) {
    return arg_extreme("argmin", x, {dim}, keepdim, false);
}
template <typename T> LongTensor argmax(const BasicTensor<T>& x) { return arg_extreme("argmax", x, {}, false, true); }
template <typename T> LongTensor argmin(const BasicTensor<T>& x) { return arg_extreme("argmin", x, {}, false, false); }

template <typename T>
BasicTensor<T> logsumexp(const BasicTensor<T>& x, const Dims& dims, bool keepdim) {
    const Plan p = plan_reduction(x.shape(), dims.values, keepdim);
    const BasicTensor<T> xb = block_of(x, p);
    BasicTensor<T> out = empty<T>(p.out_shape);
    kernels::logsumexp_dim_forward(out.data(), xb.data(), p.outer, p.R, p.inner);
    // The derivation is above kernels::logsumexp_dim_backward.
    record_op("logsumexp", out, any_requires_grad(x), [x, xb, y = out, p](const T* dy) mutable {
        backward_into(x, p, [&](T* dx, bool accumulate) {
            kernels::logsumexp_dim_backward(dx, dy, xb.data(), y.data(), p.outer, p.R, p.inner, accumulate);
        });
    });
    return out;
}

template <typename T>
BasicTensor<T> softmax(const BasicTensor<T>& x, int64_t dim) {
    return softmax_along<false>("softmax", x, dim);
}

template <typename T>
BasicTensor<T> log_softmax(const BasicTensor<T>& x, int64_t dim) {
    return softmax_along<true>("log_softmax", x, dim);
}

#define TAPEGRAD_INSTANTIATE(T)                                                                        \
    template BasicTensor<T> sum(const BasicTensor<T>&);                                               \
    template BasicTensor<T> mean(const BasicTensor<T>&);                                              \
    template BasicTensor<T> sum(const BasicTensor<T>&, const Dims&, bool);                            \
    template BasicTensor<T> mean(const BasicTensor<T>&, const Dims&, bool);                           \
    template BasicTensor<T> var(const BasicTensor<T>&, const Dims&, double, bool);                    \
    template BasicTensor<T> std(const BasicTensor<T>&, const Dims&, double, bool);                    \
    template BasicTensor<T> amax(const BasicTensor<T>&, const Dims&, bool);                           \
    template BasicTensor<T> amin(const BasicTensor<T>&, const Dims&, bool);                           \
    template BasicTensor<T> max(const BasicTensor<T>&);                                               \
    template BasicTensor<T> min(const BasicTensor<T>&);                                               \
    template ValuesAndIndices<T> max(const BasicTensor<T>&, int64_t, bool);                           \
    template ValuesAndIndices<T> min(const BasicTensor<T>&, int64_t, bool);                           \
    template LongTensor argmax(const BasicTensor<T>&, int64_t, bool);                                 \
    template LongTensor argmin(const BasicTensor<T>&, int64_t, bool);                                 \
    template LongTensor argmax(const BasicTensor<T>&);                                                \
    template LongTensor argmin(const BasicTensor<T>&);                                                \
    template BasicTensor<T> logsumexp(const BasicTensor<T>&, const Dims&, bool);                      \
    template BasicTensor<T> softmax(const BasicTensor<T>&, int64_t);                                  \
    template BasicTensor<T> log_softmax(const BasicTensor<T>&, int64_t);
TAPEGRAD_INSTANTIATE(float)
TAPEGRAD_INSTANTIATE(double)
#undef TAPEGRAD_INSTANTIATE

}  // namespace tapegrad
