// BasicTensor<T>: a shared handle to a contiguous, row-major array of any rank, with an
// optional gradient of the same shape. Copies alias (as in PyTorch); use clone() for a copy.
// Storage is an xtensor container kept behind the handle (defined in tensor.cpp only), so
// this header stays light; <tapegrad/xtensor.hpp> is the opt-in for xtensor expressions.
// Several tensors may share one storage under different shapes (the shape-only ops, as
// PyTorch's view): each is its own autograd node with its own gradient.
#pragma once

#ifdef TAPEGRAD_BUILDING_KERNELS
#error "framework/kernels/ knows floats and sizes only: it must not include framework/tensor.hpp (docs/architecture.md)"
#endif

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace tapegrad {

using Shape = std::vector<int64_t>;

// "[20, 6, 10, 10]", the way PyTorch prints sizes in its messages.
std::string to_string(const Shape& shape);
// Product of the extents; throws std::invalid_argument on a negative extent and
// std::length_error naming the shape when the count (or that of its non-zero extents, see
// core/checked.hpp's checked_numel) does not fit in int64. Every factory checks this and
// that the bytes fit, so a tensor's numel() is always its shape's true product.
int64_t shape_numel(const Shape& shape);

class Generator;
template <typename T> struct TensorImpl;
template <typename T> class BasicTensor;

namespace detail {
// tapegrad's own entry points into a tensor, not for users: record_op
// (framework/ops/autograd.hpp) marks an op's output and takes its gradient, tensor.cpp's
// factories wrap fresh storage, and the shape-only ops (framework/ops/shape.cpp) make views.
struct TensorAccess {
    // The tensor becomes the output of a recorded op: requires grad, and no longer a leaf.
    template <typename T> static void mark_op_output(BasicTensor<T>& t) { t.mark_op_output_(); }
    // Moves the gradient out of t (t has none afterwards) and returns it, possibly undefined.
    template <typename T> static BasicTensor<T> take_grad(const BasicTensor<T>& t) { return t.take_grad_(); }
    template <typename T> static BasicTensor<T> from_impl(std::shared_ptr<TensorImpl<T>> impl) {
        return BasicTensor<T>(std::move(impl));
    }
    // A new tensor of `shape` over t's values (no copy: writes through one are seen by the
    // other). It is a new node: not requiring grad, a leaf, no gradient. Throws
    // std::invalid_argument naming both shapes when the element counts differ.
    template <typename T> static BasicTensor<T> alias(const BasicTensor<T>& t, const Shape& shape) {
        return t.alias_(shape);
    }
    // True when t is the only handle to its node and no other tensor shares its values, so
    // its buffer may be handed on (a backward reusing a released gradient) without anyone
    // seeing later writes into it.
    template <typename T> static bool sole_owner(const BasicTensor<T>& t) { return t.sole_owner_(); }
};
}  // namespace detail

// Where a backward pass writes a gradient: `accumulate` is false when the buffer was just
// allocated (uninitialised), and the writer must then assign every element instead of adding.
template <typename T>
struct GradBuffer {
    T* data;
    bool accumulate;
};

template <typename T>
class BasicTensor {
  public:
    using value_type = T;

    // An undefined tensor (no storage); defined() is false. Used for "no gradient yet".
    BasicTensor() = default;
    // A zero-filled tensor of the given shape.
    explicit BasicTensor(const Shape& shape, bool requires_grad = false);

    bool defined() const { return impl_ != nullptr; }
    const Shape& shape() const;
    int64_t dim() const { return static_cast<int64_t>(shape().size()); }
    // Extent of dimension d; negative d counts from the end, as in PyTorch.
    int64_t size(int64_t d) const;
    int64_t numel() const;

    T* data();
    const T* data() const;
    // A view of the values; not callable on a temporary, whose storage may die with it.
    std::span<T> values() & { return {data(), static_cast<size_t>(numel())}; }
    std::span<const T> values() const& { return {data(), static_cast<size_t>(numel())}; }
    std::span<const T> values() const&& = delete;
    std::vector<T> to_vector() const;
    // The single value of a one-element tensor; throws otherwise.
    T item() const;

    bool requires_grad() const;
    // Marks a leaf as a parameter/input to differentiate; returns *this for chaining.
    BasicTensor& requires_grad_(bool on = true);
    // True for tensors the user made; false for outputs of recorded ops.
    bool is_leaf() const;

    // The accumulated gradient, or an undefined tensor when nothing has been accumulated.
    BasicTensor grad() const;
    // grad += g. Allocates the gradient (zeros) on first use. Throws std::invalid_argument
    // naming both shapes when g's shape differs from this tensor's.
    void accumulate_grad(const BasicTensor& g) const;
    void accumulate_grad(std::span<const T> g) const;
    // The gradient buffer, allocated (zeros) if absent: for backward kernels that add in place.
    T* grad_data_for_accumulation() const;
    // The gradient buffer for a writer that covers every element: allocated uninitialised if
    // absent, which saves a zero-fill and a read on large tensors.
    GradBuffer<T> grad_buffer() const;
    // Makes g this tensor's gradient without copying (PyTorch's `x.grad = g`): the two share
    // values afterwards. Throws std::invalid_argument naming both shapes if they differ.
    void set_grad(const BasicTensor& g) const;
    // Drops the gradient (PyTorch's `x.grad = None`).
    void zero_grad() const;

    // A deep copy of the values (no gradient, not requiring grad, not on any tape).
    BasicTensor clone() const;

    // Identity of this tensor's node (the tape uses it to find the record of a tensor). Views
    // made by the shape-only ops share values but are nodes of their own, with their own id.
    const void* id() const { return impl_.get(); }

  private:
    friend struct detail::TensorAccess;
    explicit BasicTensor(std::shared_ptr<TensorImpl<T>> impl) : impl_(std::move(impl)) {}
    // The storage; throws std::logic_error on an undefined tensor.
    TensorImpl<T>& impl() const;
    void mark_op_output_();
    BasicTensor take_grad_() const;
    BasicTensor alias_(const Shape& shape) const;
    bool sole_owner_() const;
    std::shared_ptr<TensorImpl<T>> impl_;
};

using Tensor = BasicTensor<float>;
using DoubleTensor = BasicTensor<double>;
// Counters and indices (BatchNorm's num_batches_tracked): zeros, empty, ones, full and
// from_vector only, and never requires grad (std::invalid_argument, as PyTorch).
using LongTensor = BasicTensor<int64_t>;

// --- factories --------------------------------------------------------------------------
// Each takes requires_grad last; randn/rand draw from `gen`, or from the global generator
// seeded by manual_seed() when none is given.
template <typename T = float> BasicTensor<T> zeros(const Shape& shape, bool requires_grad = false);
// Uninitialised values, for outputs that are about to be overwritten in full.
template <typename T = float> BasicTensor<T> empty(const Shape& shape, bool requires_grad = false);
template <typename T = float> BasicTensor<T> ones(const Shape& shape, bool requires_grad = false);
template <typename T = float> BasicTensor<T> full(const Shape& shape, T value, bool requires_grad = false);
template <typename T = float>
BasicTensor<T> randn(const Shape& shape, Generator* gen = nullptr, bool requires_grad = false);
// Uniform on [low, high).
template <typename T = float>
BasicTensor<T> rand(const Shape& shape, Generator* gen = nullptr, T low = 0, T high = 1, bool requires_grad = false);
// Copies `values` (row-major); throws std::invalid_argument if their count is not numel(shape).
template <typename T = float>
BasicTensor<T> from_vector(const Shape& shape, std::span<const T> values, bool requires_grad = false);
template <typename T = float>
BasicTensor<T> from_vector(const Shape& shape, std::initializer_list<T> values, bool requires_grad = false) {
    return from_vector<T>(shape, std::span<const T>(values.begin(), values.size()), requires_grad);
}
template <typename T = float>
BasicTensor<T> from_vector(const Shape& shape, const std::vector<T>& values, bool requires_grad = false) {
    return from_vector<T>(shape, std::span<const T>(values), requires_grad);
}
// Converts between float and double (a new tensor, not recorded on any tape).
template <typename To, typename From> BasicTensor<To> cast(const BasicTensor<From>& x);

}  // namespace tapegrad
