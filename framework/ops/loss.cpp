// The losses; see loss.hpp. Each op checks everything (shapes, targets, options)
// before it allocates or records, calls the kernels of kernels/loss.hpp, and records its
// hand-derived backward. Softmaxes subtract the maximum before exp: large logits do not overflow.
#include "framework/ops/loss.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <stdexcept>

#include "framework/kernels/loss.hpp"
#include "framework/kernels/reductions.hpp"
#include "framework/kernels/softmax.hpp"
#include "framework/ops/autograd.hpp"

namespace tapegrad {

// --- Reduction ----------------------------------------------------------------------------------

Reduction parse_reduction(std::string_view name) {
    if (name == "none") return Reduction::none;
    if (name == "mean") return Reduction::mean;
    if (name == "sum") return Reduction::sum;
    throw std::invalid_argument(std::string(name) + " is not a valid value for reduction");
}

std::string to_string(Reduction reduction) {
    switch (reduction) {
        case Reduction::none: return "none";
        case Reduction::mean: return "mean";
        case Reduction::sum: break;
    }
    return "sum";
}

namespace {

// The reduced loss, from the sum of `count` per-element losses (mean of none: 0/0 = NaN).
double reduce_total(double total, double count, Reduction reduction) {
    return reduction == Reduction::sum ? total : total / count;
}

// g_i = scale·dy_i without reduction (scale 1), and the one gradient value dy for a reduced
// loss: dy for sum, dy/count for mean.
template <typename T>
double element_scale(const T* dy, double count, Reduction reduction) {
    if (reduction == Reduction::none) return 1.0;
    return reduction == Reduction::sum ? static_cast<double>(dy[0]) : static_cast<double>(dy[0]) / count;
}

// PyTorch raises "The function 'nll_loss_forward' is not differentiable with respect to
// argument 'weight'..." for a weight that requires grad; so does tapegrad while a tape records,
// rather than leave the weight's gradient silently unset.
template <typename T>
void check_constant(const char* op, const char* what, const BasicTensor<T>& w) {
    if (w.defined() && w.requires_grad() && Tape::active() != nullptr)
        throw std::invalid_argument(std::string("The function '") + op +
                                    "' is not differentiable with respect to argument '" + what +
                                    "'. This input cannot have requires_grad True.");
}

// --- regression losses ---------------------------------------------------------------------------

template <typename T>
BasicTensor<T> pointwise_loss(const char* op, const BasicTensor<T>& input, const BasicTensor<T>& target,
                              Reduction reduction, kernels::PointwiseLoss kind, double param) {
    if (input.shape() != target.shape())
        throw std::invalid_argument(std::string(op) + ": Using a target size (" + to_string(target.shape()) +
                                    ") that is different to the input size (" + to_string(input.shape()) +
                                    ") is not supported (PyTorch broadcasts them with a warning). Please ensure they "
                                    "have the same size.");
    const int64_t n = input.numel();
    BasicTensor<T> out;
    if (reduction == Reduction::none) {
        out = empty<T>(input.shape());
        kernels::pointwise_loss_forward(out.data(), input.data(), target.data(), n, kind, param);
    } else {
        const double total = kernels::pointwise_loss_sum(input.data(), target.data(), n, kind, param);
        out = full<T>(Shape{}, static_cast<T>(reduce_total(total, static_cast<double>(n), reduction)));
    }
    // L = Σ_i g_i·loss(d_i), d_i = x_i − t_i, with g_i = dy_i (none), dy (sum) or dy/n (mean):
    //   ∂L/∂x_i = g_i·loss'(d_i),  ∂L/∂t_i = −g_i·loss'(d_i)   (loss' in kernels/loss.hpp).
    // When input and target are one tensor the second buffer request accumulates onto the first.
    record_op(op, out, any_requires_grad(input, target),
              [input, target, reduction, n, kind, param](const T* dy) mutable {
                  GradBuffer<T> dx{nullptr, false}, dt{nullptr, false};
                  if (input.requires_grad()) dx = input.grad_buffer();
                  if (target.requires_grad()) dt = target.grad_buffer();
                  kernels::pointwise_loss_backward(dx.data, dt.data, reduction == Reduction::none ? dy : nullptr,
                                                   element_scale(dy, static_cast<double>(n), reduction), input.data(),
                                                   target.data(), n, kind, param, dx.accumulate, dt.accumulate);
              });
    return out;
}

// --- class-index losses ----------------------------------------------------------------------------

// PyTorch's checks shared by both forms of cross_entropy: ε in [0, 1], and a weight of one
// value per class (`prefix`: PyTorch names the function in one form's message, not the other's).
void check_label_smoothing(double label_smoothing) {
    if (label_smoothing >= 0.0 && label_smoothing <= 1.0) return;
    std::ostringstream message;
    message << "label_smoothing must be between 0.0 and 1.0. Got: " << label_smoothing;
    throw std::invalid_argument(message.str());
}

template <typename T>
void check_class_weight(const std::string& prefix, const BasicTensor<T>& weight, int64_t C) {
    if (weight.defined() && (weight.dim() != 1 || weight.numel() != C))
        throw std::invalid_argument(
            prefix + "weight tensor should be defined either for all " + std::to_string(C) +
            " classes or no classes but got weight tensor of shape: " + to_string(weight.shape()));
}

// An input of (N, C, d1, ...) as N samples of C classes at S = d1·... positions each; the
// per-position loss has out_shape (N, d1, ...), or [] for an unbatched (C) input.
struct ClassProblem {
    int64_t N = 1, C = 0, S = 1;
    Shape out_shape;
};

template <typename T>
ClassProblem class_problem(const char* op, const BasicTensor<T>& input, std::span<const int64_t> target,
                           const Shape* target_shape, const BasicTensor<T>& weight, int64_t ignore_index) {
    const Shape& shape = input.shape();
    if (shape.empty())
        throw std::invalid_argument(
            std::string(op) + ": expected input of shape (C), (N, C) or (N, C, d1, ...), but got " + to_string(shape));
    ClassProblem p;
    if (shape.size() == 1) {
        p.C = shape[0];
    } else {
        p.N = shape[0];
        p.C = shape[1];
        p.out_shape = {shape[0]};
        for (size_t d = 2; d < shape.size(); ++d) p.out_shape.push_back(shape[d]);
        p.S = shape_numel(Shape(shape.begin() + 2, shape.end()));
    }
    const int64_t positions = shape_numel(p.out_shape);
    const auto batch_mismatch = [&](int64_t target_batch) {
        return std::invalid_argument("Expected input batch_size (" + std::to_string(p.N) +
                                     ") to match target batch_size (" + std::to_string(target_batch) + ").");
    };
    if (target_shape != nullptr) {
        if (*target_shape != p.out_shape) {
            if (shape.size() >= 2 && !target_shape->empty() && (*target_shape)[0] != p.N)
                throw batch_mismatch((*target_shape)[0]);
            throw std::invalid_argument("Expected target size " + to_string(p.out_shape) + ", got " +
                                        to_string(*target_shape));
        }
    } else if (static_cast<int64_t>(target.size()) != positions) {
        if (shape.size() == 2) throw batch_mismatch(static_cast<int64_t>(target.size()));
        throw std::invalid_argument(std::string(op) + ": expected " + std::to_string(positions) +
                                    " targets (one per position of " + to_string(p.out_shape) +
                                    ") for input of shape " + to_string(shape) + ", but got " +
                                    std::to_string(target.size()));
    }
    check_class_weight("", weight, p.C);
    for (const int64_t t : target)
        if (t != ignore_index && (t < 0 || t >= p.C))
            throw std::invalid_argument("Target " + std::to_string(t) + " is out of bounds.");
    check_constant(op, "weight", weight);
    return p;
}

// nll_loss (from_logits false: input holds log-probabilities) and cross_entropy (input holds
// logits, log-softmaxed over dim 1 first), with label smoothing ε (cross_entropy only).
template <typename T>
BasicTensor<T> class_index_loss(const char* op, bool from_logits, const BasicTensor<T>& input,
                                std::span<const int64_t> target, const Shape* target_shape,
                                const BasicTensor<T>& weight, Reduction reduction, int64_t ignore_index,
                                double label_smoothing) {
    check_label_smoothing(label_smoothing);
    const ClassProblem p = class_problem(op, input, target, target_shape, weight, ignore_index);
    const int64_t N = p.N, C = p.C, S = p.S, M = N * S;

    BasicTensor<T> logp = input;  // (N, C, S)
    if (from_logits) {
        logp = empty<T>(input.shape());
        kernels::log_softmax_channels(logp.data(), input.data(), N, C, S);
    }
    const bool smoothing = label_smoothing > 0.0;
    std::vector<double> nll(static_cast<size_t>(M)), wt(static_cast<size_t>(M)),
        smooth(smoothing ? static_cast<size_t>(M) : 0);
    const T* w = weight.defined() ? weight.data() : nullptr;
    kernels::nll_terms(nll.data(), smoothing ? smooth.data() : nullptr, wt.data(), logp.data(), target.data(), w, N, C,
                       S, ignore_index);

    // loss_i = keep·nll_i + spread·smooth_i; the mean divides the two sums by their own totals.
    const double keep = 1.0 - label_smoothing, spread = label_smoothing / static_cast<double>(C);
    const double weight_total = kernels::sum(wt.data(), M), nll_total = kernels::sum(nll.data(), M);
    const double smooth_total = smoothing ? kernels::sum(smooth.data(), M) : 0.0;
    const auto counted = std::count_if(target.begin(), target.end(), [&](int64_t t) { return t != ignore_index; });
    const double smooth_count = weight.defined() ? weight_total : static_cast<double>(counted);

    BasicTensor<T> out;
    if (reduction == Reduction::none) {
        out = empty<T>(p.out_shape);
        kernels::combine_class_terms(out.data(), nll.data(), smoothing ? smooth.data() : nullptr, keep, spread, M);
    } else {
        double v = reduction == Reduction::sum ? keep * nll_total : keep * nll_total / weight_total;
        if (smoothing) v += reduction == Reduction::sum ? spread * smooth_total : spread * smooth_total / smooth_count;
        out = full<T>(Shape{}, static_cast<T>(v));
    }

    // Per position i with target t (not ignored) and ℓ = log-probabilities over the classes,
    //   L_i = a_i·(−w[t]·ℓ[t]) + b_i·(−Σ_c w[c]·ℓ[c])
    // with a_i = keep·g_i, b_i = spread·g_i for none and sum (g_i = dy_i, or the one dy), and
    // for mean a = keep·dy / Σ_i w[t_i], b = spread·dy / smooth_count (Σ_i w[t_i], or the number of
    // positions not ignored without weights). So
    //   ∂L/∂ℓ[c] = −a_i·w[t]·[c = t] − b_i·w[c]                        (nll_loss: the gradient)
    // and through ℓ = x − logsumexp(x), ∂L/∂x[c] = ∂L/∂ℓ[c] − p[c]·Σ_k ∂L/∂ℓ[k] with p = exp(ℓ):
    //   ∂L/∂x[c] = −a_i·w[t]·[c = t] − b_i·w[c] + p[c]·(a_i·w[t] + b_i·Σ_k w[k])   (cross_entropy)
    // Ignored positions have L_i = 0: no gradient.
    std::vector<int64_t> labels(target.begin(), target.end());
    record_op(op, out, any_requires_grad(input),
              [input, logp, weight, labels = std::move(labels), reduction, keep, spread, weight_total, smooth_count,
               from_logits, N, C, S, ignore_index](const T* dy) mutable {
                  // a_i = a·dy_i and b_i = b·dy_i without reduction; a and b carry the one dy otherwise.
                  double a = keep, b = spread;
                  if (reduction == Reduction::mean) {
                      a /= weight_total;
                      if (b != 0.0) b /= smooth_count;  // no smoothing: b stays 0, whatever the count
                  }
                  // (An empty output's dy may be null: it is read only for a reduced loss.)
                  const T* per_position = reduction == Reduction::none ? dy : nullptr;
                  if (reduction != Reduction::none) {
                      a *= static_cast<double>(dy[0]);
                      b *= static_cast<double>(dy[0]);
                  }
                  const T* w = weight.defined() ? weight.data() : nullptr;
                  if (!from_logits) {
                      kernels::nll_backward(input.grad_data_for_accumulation(), per_position, a, labels.data(), w, N, C,
                                            S, ignore_index);
                      return;
                  }
                  const GradBuffer<T> dx = input.grad_buffer();
                  kernels::cross_entropy_backward(dx.data, logp.data(), per_position, a, b, labels.data(), w, N, C, S,
                                                  ignore_index, dx.accumulate);
              });
    return out;
}

// cross_entropy with probability targets q of the logits' shape (both may require grad).
template <typename T>
BasicTensor<T> soft_cross_entropy(const BasicTensor<T>& logits, const BasicTensor<T>& target,
                                  const CrossEntropyOptions<T>& options) {
    const char* op = "cross_entropy";
    const double eps = options.label_smoothing;
    check_label_smoothing(eps);
    const Shape& shape = logits.shape();
    if (shape.empty())
        throw std::invalid_argument("cross_entropy: expected input of shape (C), (N, C) or (N, C, d1, ...), but got " +
                                    to_string(shape));
    if (target.shape() != shape) {
        if (shape.size() >= 2 && target.dim() >= 1 && target.size(0) != shape[0])
            throw std::invalid_argument("Expected input batch_size (" + std::to_string(shape[0]) +
                                        ") to match target batch_size (" + std::to_string(target.size(0)) + ").");
        throw std::invalid_argument("cross_entropy: expected probability targets of the input's shape " +
                                    to_string(shape) + ", but got " + to_string(target.shape()));
    }
    const int64_t C = shape.size() == 1 ? shape[0] : shape[1];
    check_class_weight("cross_entropy: ", options.weight, C);
    if (options.ignore_index != -100)
        throw std::invalid_argument("ignore_index is not supported for floating point target");
    check_constant(op, "weight", options.weight);

    const int64_t N = shape.size() == 1 ? 1 : shape[0],
                  S = shape.size() <= 2 ? 1 : shape_numel(Shape(shape.begin() + 2, shape.end()));
    const int64_t M = N * S;
    Shape out_shape;
    if (shape.size() >= 2) {
        out_shape = {shape[0]};
        out_shape.insert(out_shape.end(), shape.begin() + 2, shape.end());
    }
    BasicTensor<T> logp = empty<T>(shape);  // (N, C, S)
    kernels::log_softmax_channels(logp.data(), logits.data(), N, C, S);
    const double keep = 1.0 - eps, spread = eps / static_cast<double>(C);
    const T* w = options.weight.defined() ? options.weight.data() : nullptr;
    std::vector<double> loss(static_cast<size_t>(M));
    kernels::soft_cross_entropy_terms(loss.data(), logp.data(), target.data(), w, N, C, S, keep, spread);
    BasicTensor<T> out;
    const Reduction reduction = options.reduction;
    if (reduction == Reduction::none) {
        out = empty<T>(out_shape);
        kernels::combine_class_terms(out.data(), loss.data(), nullptr, 1.0, 0.0, M);
    } else {
        // PyTorch's mean divides by the number of positions N·S, with or without weights.
        out = full<T>(Shape{},
                      static_cast<T>(reduce_total(kernels::sum(loss.data(), M), static_cast<double>(M), reduction)));
    }
    // Per position, with q̃ = keep·q + spread and ℓ = log_softmax(x) over the classes,
    //   L = g·(−Σ_c w[c]·q̃[c]·ℓ[c]),  g = dy_i (none), dy (sum) or dy/(N·S) (mean):
    //   ∂L/∂ℓ[c] = −g·w[c]·q̃[c], and through ℓ = x − logsumexp(x) (p = exp(ℓ), Σ_k ∂L/∂ℓ[k] = −g·Σ_k w[k]·q̃[k]):
    //   ∂L/∂x[c] = g·(p[c]·Σ_k w[k]·q̃[k] − w[c]·q̃[c])
    //   ∂L/∂q[c] = −g·keep·w[c]·ℓ[c]
    record_op(
        op, out, any_requires_grad(logits, target),
        [logits, target, logp, weight = options.weight, reduction, keep, spread, N, C, S, M](const T* dy) mutable {
            GradBuffer<T> dx{nullptr, false}, dq{nullptr, false};
            if (logits.requires_grad()) dx = logits.grad_buffer();
            if (target.requires_grad()) dq = target.grad_buffer();
            kernels::soft_cross_entropy_backward(dx.data, dq.data, reduction == Reduction::none ? dy : nullptr,
                                                 element_scale(dy, static_cast<double>(M), reduction), logp.data(),
                                                 target.data(), weight.defined() ? weight.data() : nullptr, N, C, S,
                                                 keep, spread, dx.accumulate, dq.accumulate);
        });
    return out;
}

// --- binary cross-entropy ------------------------------------------------------------------------

template <typename T>
void check_broadcastable(const char* op, const char* what, const BasicTensor<T>& w, const Shape& shape) {
    if (!w.defined()) return;
    const int64_t rank = static_cast<int64_t>(shape.size());
    const auto fail = [&](const std::string& why) {
        return std::invalid_argument(std::string(op) + ": " + what + " of shape " + to_string(w.shape()) +
                                     " cannot be broadcast to the input's shape " + to_string(shape) + ": " + why);
    };
    if (w.dim() > rank) throw fail("it has more dimensions");
    for (int64_t k = w.dim() - 1, d = rank - 1; k >= 0; --k, --d)
        if (w.size(k) != 1 && w.size(k) != shape[static_cast<size_t>(d)])
            throw fail("The size of tensor a (" + std::to_string(shape[static_cast<size_t>(d)]) +
                       ") must match the size of tensor b (" + std::to_string(w.size(k)) +
                       ") at non-singleton dimension " + std::to_string(d));
}

// w broadcast to `shape` as a contiguous copy (empty when w is undefined). Row by row: the
// last dimension is a contiguous run (stride 1 or 0 in w), the others advance an odometer.
template <typename T>
std::vector<T> broadcast_copy(const BasicTensor<T>& w, const Shape& shape) {
    if (!w.defined()) return {};
    const int64_t rank = static_cast<int64_t>(shape.size()), n = shape_numel(shape);
    std::vector<int64_t> stride(static_cast<size_t>(rank), 0);  // w's stride along each output dimension
    int64_t step = 1;
    for (int64_t k = w.dim() - 1, d = rank - 1; k >= 0; --k, --d) {
        if (w.size(k) != 1) stride[static_cast<size_t>(d)] = step;
        step *= w.size(k);
    }
    std::vector<T> out(static_cast<size_t>(n));
    if (n == 0) return out;
    const int64_t row = rank > 0 ? shape.back() : 1, row_stride = rank > 0 ? stride.back() : 0;
    std::vector<int64_t> index(static_cast<size_t>(rank), 0);
    const T* src = w.data();
    int64_t base = 0;
    for (int64_t o = 0; o < n; o += row) {
        for (int64_t j = 0; j < row; ++j) out[static_cast<size_t>(o + j)] = src[base + j * row_stride];
        for (int64_t d = rank - 2; d >= 0; --d) {
            const auto u = static_cast<size_t>(d);
            base += stride[u];
            if (++index[u] < shape[u]) break;
            base -= index[u] * stride[u];
            index[u] = 0;
        }
    }
    return out;
}

// The per-element losses `values` (n of them) as the op's output: themselves (none), or their
// sum or mean.
template <typename T>
BasicTensor<T> reduce_values(BasicTensor<T> values, Reduction reduction) {
    if (reduction == Reduction::none) return values;
    const double total = kernels::sum(values.data(), values.numel());
    return full<T>(Shape{}, static_cast<T>(reduce_total(total, static_cast<double>(values.numel()), reduction)));
}

template <typename T>
const T* data_or_null(const std::vector<T>& v) {
    return v.empty() ? nullptr : v.data();
}

}  // namespace

template <typename T>
BasicTensor<T> mse_loss(const BasicTensor<T>& input, const BasicTensor<T>& target, Reduction reduction) {
    return pointwise_loss("mse_loss", input, target, reduction, kernels::PointwiseLoss::mse, 0.0);
}

template <typename T>
BasicTensor<T> l1_loss(const BasicTensor<T>& input, const BasicTensor<T>& target, Reduction reduction) {
    return pointwise_loss("l1_loss", input, target, reduction, kernels::PointwiseLoss::l1, 0.0);
}

template <typename T>
BasicTensor<T> smooth_l1_loss(const BasicTensor<T>& input, const BasicTensor<T>& target, Reduction reduction,
                              double beta) {
    if (!(beta >= 0.0)) throw std::invalid_argument("smooth_l1_loss does not support negative values for beta.");
    // beta = 0 is l1 (PyTorch's own shortcut; the formula would divide by 0).
    if (beta == 0.0) return pointwise_loss("smooth_l1_loss", input, target, reduction, kernels::PointwiseLoss::l1, 0.0);
    return pointwise_loss("smooth_l1_loss", input, target, reduction, kernels::PointwiseLoss::smooth_l1, beta);
}

template <typename T>
BasicTensor<T> huber_loss(const BasicTensor<T>& input, const BasicTensor<T>& target, Reduction reduction,
                          double delta) {
    if (!(delta > 0.0)) throw std::invalid_argument("huber_loss does not support non-positive values for delta.");
    return pointwise_loss("huber_loss", input, target, reduction, kernels::PointwiseLoss::huber, delta);
}

template <typename T>
BasicTensor<T> nll_loss(const BasicTensor<T>& log_probs, std::span<const int64_t> target,
                        const std::type_identity_t<BasicTensor<T>>& weight, Reduction reduction, int64_t ignore_index) {
    return class_index_loss("nll_loss", false, log_probs, target, nullptr, weight, reduction, ignore_index, 0.0);
}

template <typename T>
BasicTensor<T> nll_loss(const BasicTensor<T>& log_probs, const LongTensor& target,
                        const std::type_identity_t<BasicTensor<T>>& weight, Reduction reduction, int64_t ignore_index) {
    return class_index_loss("nll_loss", false, log_probs, target.values(), &target.shape(), weight, reduction,
                            ignore_index, 0.0);
}

template <typename T>
BasicTensor<T> cross_entropy(const BasicTensor<T>& logits, std::span<const int64_t> target,
                             const std::type_identity_t<CrossEntropyOptions<T>>& options) {
    return class_index_loss("cross_entropy", true, logits, target, nullptr, options.weight, options.reduction,
                            options.ignore_index, options.label_smoothing);
}

template <typename T>
BasicTensor<T> cross_entropy(const BasicTensor<T>& logits, const LongTensor& target,
                             const std::type_identity_t<CrossEntropyOptions<T>>& options) {
    return class_index_loss("cross_entropy", true, logits, target.values(), &target.shape(), options.weight,
                            options.reduction, options.ignore_index, options.label_smoothing);
}

template <typename T>
BasicTensor<T> cross_entropy(const BasicTensor<T>& logits, const std::type_identity_t<BasicTensor<T>>& target_probs,
                             const std::type_identity_t<CrossEntropyOptions<T>>& options) {
    return soft_cross_entropy(logits, target_probs, options);
}

template <typename T>
BasicTensor<T> binary_cross_entropy(const BasicTensor<T>& probs, const BasicTensor<T>& target,
                                    const std::type_identity_t<BasicTensor<T>>& weight, Reduction reduction) {
    const char* op = "binary_cross_entropy";
    if (probs.shape() != target.shape())
        throw std::invalid_argument("Using a target size (" + to_string(target.shape()) +
                                    ") that is different to the input size (" + to_string(probs.shape()) +
                                    ") is deprecated. Please ensure they have the same size.");
    check_broadcastable(op, "weight", weight, probs.shape());
    check_constant(op, "weight", weight);
    const int64_t n = probs.numel();
    const T* p = probs.data();
    for (int64_t i = 0; i < n; ++i)
        if (!(p[i] >= T(0) && p[i] <= T(1)))
            throw std::invalid_argument("all elements of input should be between 0 and 1");

    std::vector<T> w = broadcast_copy(weight, probs.shape());
    BasicTensor<T> values = empty<T>(probs.shape());
    kernels::binary_cross_entropy_forward(values.data(), p, target.data(), data_or_null(w), n);
    BasicTensor<T> out = reduce_values(values, reduction);
    // ℓ_i = −w·(t·log p + (1 − t)·log(1 − p)) (the −100 clamp is not differentiated, as PyTorch):
    //   ∂ℓ/∂p = −w·(t/p − (1 − t)/(1 − p)) = w·(p − t)/(p·(1 − p))
    //   ∂ℓ/∂t = −w·(log p − log(1 − p)) = w·(log(1 − p) − log p)
    // times g_i = dy_i (none), dy (sum) or dy/n (mean).
    record_op(op, out, any_requires_grad(probs, target),
              [probs, target, w = std::move(w), reduction, n](const T* dy) mutable {
                  GradBuffer<T> dp{nullptr, false}, dt{nullptr, false};
                  if (probs.requires_grad()) dp = probs.grad_buffer();
                  if (target.requires_grad()) dt = target.grad_buffer();
                  kernels::binary_cross_entropy_backward(dp.data, dt.data, reduction == Reduction::none ? dy : nullptr,
                                                         element_scale(dy, static_cast<double>(n), reduction),
                                                         probs.data(), target.data(), data_or_null(w), n, dp.accumulate,
                                                         dt.accumulate);
              });
    return out;
}

template <typename T>
BasicTensor<T> binary_cross_entropy_with_logits(const BasicTensor<T>& logits, const BasicTensor<T>& target,
                                                const std::type_identity_t<BasicTensor<T>>& weight, Reduction reduction,
                                                const std::type_identity_t<BasicTensor<T>>& pos_weight) {
    const char* op = "binary_cross_entropy_with_logits";
    if (logits.shape() != target.shape())
        throw std::invalid_argument("Target size (" + to_string(target.shape()) + ") must be the same as input size (" +
                                    to_string(logits.shape()) + ")");
    check_broadcastable(op, "weight", weight, logits.shape());
    check_broadcastable(op, "pos_weight", pos_weight, logits.shape());
    check_constant(op, "weight", weight);
    check_constant(op, "pos_weight", pos_weight);
    const int64_t n = logits.numel();

    std::vector<T> w = broadcast_copy(weight, logits.shape()), q = broadcast_copy(pos_weight, logits.shape());
    BasicTensor<T> values = empty<T>(logits.shape());
    kernels::binary_cross_entropy_with_logits_forward(values.data(), logits.data(), target.data(), data_or_null(w),
                                                      data_or_null(q), n);
    BasicTensor<T> out = reduce_values(values, reduction);
    // ℓ_i = w·((1 − t)·x + l·sp(−x)), l = 1 + (q − 1)·t, sp(z) = log(1 + e^z), d sp(−x)/dx = σ(x) − 1:
    //   ∂ℓ/∂x = w·((1 − t) + l·(σ(x) − 1)) = w·(l·σ(x) − q·t)      since (1 − t) − l = −q·t
    //   ∂ℓ/∂t = w·(−x + (q − 1)·sp(−x))
    // times g_i = dy_i (none), dy (sum) or dy/n (mean).
    record_op(op, out, any_requires_grad(logits, target),
              [logits, target, w = std::move(w), q = std::move(q), reduction, n](const T* dy) mutable {
                  GradBuffer<T> dx{nullptr, false}, dt{nullptr, false};
                  if (logits.requires_grad()) dx = logits.grad_buffer();
                  if (target.requires_grad()) dt = target.grad_buffer();
                  kernels::binary_cross_entropy_with_logits_backward(
                      dx.data, dt.data, reduction == Reduction::none ? dy : nullptr,
                      element_scale(dy, static_cast<double>(n), reduction), logits.data(), target.data(),
                      data_or_null(w), data_or_null(q), n, dx.accumulate, dt.accumulate);
              });
    return out;
}

#define TAPEGRAD_INSTANTIATE(T)                                                                                       \
    template BasicTensor<T> mse_loss(const BasicTensor<T>&, const BasicTensor<T>&, Reduction);                        \
    template BasicTensor<T> l1_loss(const BasicTensor<T>&, const BasicTensor<T>&, Reduction);                         \
    template BasicTensor<T> smooth_l1_loss(const BasicTensor<T>&, const BasicTensor<T>&, Reduction, double);          \
    template BasicTensor<T> huber_loss(const BasicTensor<T>&, const BasicTensor<T>&, Reduction, double);              \
    template BasicTensor<T> nll_loss(const BasicTensor<T>&, std::span<const int64_t>, const BasicTensor<T>&,          \
                                     Reduction, int64_t);                                                             \
    template BasicTensor<T> nll_loss(const BasicTensor<T>&, const LongTensor&, const BasicTensor<T>&, Reduction,      \
                                     int64_t);                                                                        \
    template BasicTensor<T> cross_entropy(const BasicTensor<T>&, std::span<const int64_t>,                            \
                                          const CrossEntropyOptions<T>&);                                             \
    template BasicTensor<T> cross_entropy(const BasicTensor<T>&, const LongTensor&, const CrossEntropyOptions<T>&);   \
    template BasicTensor<T> cross_entropy(const BasicTensor<T>&, const BasicTensor<T>&,                               \
                                          const CrossEntropyOptions<T>&);                                             \
    template BasicTensor<T> binary_cross_entropy(const BasicTensor<T>&, const BasicTensor<T>&, const BasicTensor<T>&, \
                                                 Reduction);                                                          \
    template BasicTensor<T> binary_cross_entropy_with_logits(const BasicTensor<T>&, const BasicTensor<T>&,            \
                                                             const BasicTensor<T>&, Reduction, const BasicTensor<T>&);
TAPEGRAD_INSTANTIATE(float)
TAPEGRAD_INSTANTIATE(double)
#undef TAPEGRAD_INSTANTIATE

}  // namespace tapegrad
