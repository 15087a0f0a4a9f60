// BasicTensor: storage, gradient accumulation and factories. Explicitly instantiated for
// float and double at the bottom; see tensor.hpp. The only file that sees the storage's type.
#include "framework/tensor.hpp"

#include <algorithm>
#include <type_traits>
#include <stdexcept>
#include <utility>

#include <xtensor/xarray.hpp>

#include "framework/allocator.hpp"
#include "framework/core/checked.hpp"
#include "framework/generator.hpp"

namespace tapegrad {

template <typename T> using Storage = xt::xarray<T, xt::layout_type::row_major, CachingAllocator<T>>;

// One node: a shape over a storage. The storage is held by shared_ptr because views (the
// shape-only ops) are other nodes over the same values; it is kept flat, since each node
// carries its own shape.
template <typename T>
struct TensorImpl {
    std::shared_ptr<Storage<T>> storage;                 // contiguous, row-major, numel values
    T* values = nullptr;                                 // storage->data(), read on every data()
    Shape shape;
    int64_t numel = 0;
    bool requires_grad = false;
    bool is_leaf = true;                                 // false for outputs of recorded ops
    std::shared_ptr<TensorImpl> grad;                    // null until first accumulation
};

std::string to_string(const Shape& shape) { return extents_string(shape); }

int64_t shape_numel(const Shape& shape) {
    for (int64_t e : shape)
        if (e < 0) throw std::invalid_argument("expected non-negative sizes, but got shape " + to_string(shape));
    return checked_numel(shape, "tensor");
}

namespace {

template <typename T>
std::shared_ptr<TensorImpl<T>> make_impl(const Shape& shape, bool zero_fill = true) {
    const int64_t numel = shape_numel(shape);  // validates the extents and their count
    checked_bytes(shape, sizeof(T), "tensor");
    auto impl = std::make_shared<TensorImpl<T>>();
    const std::vector<size_t> flat{static_cast<size_t>(numel)};
    impl->storage = std::make_shared<Storage<T>>(Storage<T>::from_shape(flat));
    if (zero_fill) std::fill(impl->storage->begin(), impl->storage->end(), T(0));
    impl->values = impl->storage->data();
    impl->shape = shape;
    impl->numel = numel;
    return impl;
}

}  // namespace

namespace {
// PyTorch's rule: only floating-point tensors take part in autograd.
template <typename T>
void check_can_require_grad(bool on) {
    if constexpr (!std::is_floating_point_v<T>)
        if (on)
            throw std::invalid_argument(
                "Only Tensors of floating point dtype can require gradients (this one is int64)");
}
}  // namespace

template <typename T>
BasicTensor<T>::BasicTensor(const Shape& shape, bool requires_grad) : impl_(make_impl<T>(shape)) {
    check_can_require_grad<T>(requires_grad);
    impl_->requires_grad = requires_grad;
}

template <typename T>
TensorImpl<T>& BasicTensor<T>::impl() const {
    if (!impl_)
        throw std::logic_error(
            "use of an undefined tensor (a default-constructed BasicTensor, or a grad() never accumulated)");
    return *impl_;
}

template <typename T> const Shape& BasicTensor<T>::shape() const { return impl().shape; }
template <typename T> int64_t BasicTensor<T>::numel() const { return impl().numel; }
template <typename T> T* BasicTensor<T>::data() { return impl().values; }
template <typename T> const T* BasicTensor<T>::data() const { return impl().values; }

template <typename T>
int64_t BasicTensor<T>::size(int64_t d) const {
    const int64_t rank = dim();
    const int64_t k = d < 0 ? d + rank : d;
    if (k < 0 || k >= rank)
        throw std::out_of_range("Dimension out of range (expected to be in range of [" + std::to_string(-rank) + ", " +
                                std::to_string(rank - 1) + "], but got " + std::to_string(d) + ")");
    return shape()[static_cast<size_t>(k)];
}

template <typename T>
std::vector<T> BasicTensor<T>::to_vector() const {
    return std::vector<T>(data(), data() + numel());
}

template <typename T>
T BasicTensor<T>::item() const {
    if (numel() != 1)
        throw std::invalid_argument("item(): expected a tensor with one element, but got shape " + to_string(shape()));
    return data()[0];
}

template <typename T> bool BasicTensor<T>::requires_grad() const { return impl().requires_grad; }
template <typename T> bool BasicTensor<T>::is_leaf() const { return impl().is_leaf; }

template <typename T>
BasicTensor<T>& BasicTensor<T>::requires_grad_(bool on) {
    if (!on && !impl().is_leaf)
        throw std::logic_error("requires_grad_(false) on the output of a recorded op; only leaves can be changed");
    check_can_require_grad<T>(on);
    impl().requires_grad = on;
    return *this;
}

template <typename T>
BasicTensor<T> BasicTensor<T>::grad() const {
    return BasicTensor(impl().grad);
}

template <typename T>
void BasicTensor<T>::mark_op_output_() {
    auto& self = impl();
    self.requires_grad = true;
    self.is_leaf = false;
}

template <typename T>
BasicTensor<T> BasicTensor<T>::take_grad_() const {
    return BasicTensor(std::move(impl().grad));
}

template <typename T>
BasicTensor<T> BasicTensor<T>::alias_(const Shape& shape) const {
    const auto& self = impl();
    const int64_t numel = shape_numel(shape);
    if (numel != self.numel)
        throw std::invalid_argument("alias: expected a shape of " + std::to_string(self.numel) + " elements (as " +
                                    to_string(self.shape) + "), but got " + to_string(shape));
    auto view = std::make_shared<TensorImpl<T>>();
    view->storage = self.storage;
    view->values = self.values;
    view->shape = shape;
    view->numel = numel;
    return BasicTensor(std::move(view));
}

// The node's handle count, then the storage's: other nodes over the same values hold it too.
template <typename T>
bool BasicTensor<T>::sole_owner_() const {
    return impl_.use_count() == 1 && impl().storage.use_count() == 1;
}

template <typename T>
T* BasicTensor<T>::grad_data_for_accumulation() const {
    auto& self = impl();
    if (!self.grad) self.grad = make_impl<T>(self.shape);
    return self.grad->values;
}

template <typename T>
GradBuffer<T> BasicTensor<T>::grad_buffer() const {
    auto& self = impl();
    if (self.grad) return {self.grad->values, true};
    self.grad = make_impl<T>(self.shape, /*zero_fill=*/false);
    return {self.grad->values, false};
}

template <typename T>
void BasicTensor<T>::accumulate_grad(std::span<const T> g) const {
    if (static_cast<int64_t>(g.size()) != numel())
        throw std::invalid_argument("accumulate_grad: expected " + std::to_string(numel()) +
                                    " gradient values for a tensor of shape " + to_string(shape()) + ", but got " +
                                    std::to_string(g.size()));
    T* dst = grad_data_for_accumulation();
    for (size_t i = 0; i < g.size(); ++i) dst[i] += g[i];
}

template <typename T>
void BasicTensor<T>::accumulate_grad(const BasicTensor& g) const {
    if (g.shape() != shape())
        throw std::invalid_argument("accumulate_grad: expected a gradient of shape " + to_string(shape()) +
                                    " (the tensor's shape), but got " + to_string(g.shape()));
    accumulate_grad(g.values());
}

template <typename T>
void BasicTensor<T>::set_grad(const BasicTensor& g) const {
    if (g.shape() != shape())
        throw std::invalid_argument("set_grad: expected a gradient of shape " + to_string(shape()) +
                                    " (the tensor's shape), but got " + to_string(g.shape()));
    impl().grad = g.impl_;
}

template <typename T> void BasicTensor<T>::zero_grad() const { impl().grad.reset(); }

template <typename T>
BasicTensor<T> BasicTensor<T>::clone() const {
    BasicTensor out(shape());
    std::copy(data(), data() + numel(), out.data());
    return out;
}

// --- factories --------------------------------------------------------------------------

template <typename T>
BasicTensor<T> zeros(const Shape& shape, bool requires_grad) {
    return BasicTensor<T>(shape, requires_grad);
}

template <typename T>
BasicTensor<T> empty(const Shape& shape, bool requires_grad) {
    return detail::TensorAccess::from_impl<T>([&] {
        auto impl = make_impl<T>(shape, /*zero_fill=*/false);
        impl->requires_grad = requires_grad;
        return impl;
    }());
}

template <typename T>
BasicTensor<T> full(const Shape& shape, T value, bool requires_grad) {
    BasicTensor<T> t(shape, requires_grad);
    std::fill(t.data(), t.data() + t.numel(), value);
    return t;
}

template <typename T>
BasicTensor<T> ones(const Shape& shape, bool requires_grad) {
    return full<T>(shape, T(1), requires_grad);
}

template <typename T>
BasicTensor<T> randn(const Shape& shape, Generator* gen, bool requires_grad) {
    Generator& g = gen ? *gen : default_generator();
    BasicTensor<T> t(shape, requires_grad);
    for (T& v : t.values()) v = static_cast<T>(g.normal());
    return t;
}

template <typename T>
BasicTensor<T> rand(const Shape& shape, Generator* gen, T low, T high, bool requires_grad) {
    if (!(low < high))
        throw std::invalid_argument("rand: expected low < high, but got low=" + std::to_string(low) +
                                    " and high=" + std::to_string(high));
    Generator& g = gen ? *gen : default_generator();
    BasicTensor<T> t(shape, requires_grad);
    for (T& v : t.values()) v = static_cast<T>(low + (high - low) * g.uniform());
    return t;
}

template <typename T>
BasicTensor<T> from_vector(const Shape& shape, std::span<const T> values, bool requires_grad) {
    BasicTensor<T> t(shape, requires_grad);
    if (static_cast<int64_t>(values.size()) != t.numel())
        throw std::invalid_argument("from_vector: shape " + to_string(shape) + " needs " + std::to_string(t.numel()) +
                                    " values, but got " + std::to_string(values.size()));
    std::copy(values.begin(), values.end(), t.data());
    return t;
}

template <typename To, typename From>
BasicTensor<To> cast(const BasicTensor<From>& x) {
    BasicTensor<To> out(x.shape());
    std::transform(x.data(), x.data() + x.numel(), out.data(), [](From v) { return static_cast<To>(v); });
    return out;
}

#define TAPEGRAD_INSTANTIATE(T)                                                                     \
    template class BasicTensor<T>;                                                                  \
    template BasicTensor<T> zeros<T>(const Shape&, bool);                                           \
    template BasicTensor<T> empty<T>(const Shape&, bool);                                           \
    template BasicTensor<T> ones<T>(const Shape&, bool);                                            \
    template BasicTensor<T> full<T>(const Shape&, T, bool);                                         \
    template BasicTensor<T> randn<T>(const Shape&, Generator*, bool);                               \
    template BasicTensor<T> rand<T>(const Shape&, Generator*, T, T, bool);                          \
    template BasicTensor<T> from_vector<T>(const Shape&, std::span<const T>, bool);
TAPEGRAD_INSTANTIATE(float)
TAPEGRAD_INSTANTIATE(double)
#undef TAPEGRAD_INSTANTIATE

// int64 tensors hold counters and indices (BatchNorm's num_batches_tracked), saved and loaded
// with the rest of a state dict; they never require grad and random factories are float only.
template class BasicTensor<int64_t>;
template BasicTensor<int64_t> zeros<int64_t>(const Shape&, bool);
template BasicTensor<int64_t> empty<int64_t>(const Shape&, bool);
template BasicTensor<int64_t> ones<int64_t>(const Shape&, bool);
template BasicTensor<int64_t> full<int64_t>(const Shape&, int64_t, bool);
template BasicTensor<int64_t> from_vector<int64_t>(const Shape&, std::span<const int64_t>, bool);

template BasicTensor<float> cast<float, float>(const BasicTensor<float>&);
template BasicTensor<float> cast<float, double>(const BasicTensor<double>&);
template BasicTensor<double> cast<double, float>(const BasicTensor<float>&);
template BasicTensor<double> cast<double, double>(const BasicTensor<double>&);

}  // namespace tapegrad
