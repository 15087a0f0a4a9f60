// The loss functions of torch.nn.functional, each a fused op with a hand-derived backward:
// The regression losses (mse, l1, smooth_l1,
// huber), the class-index losses (nll_loss, cross_entropy with weights, ignore_index and label
// smoothing, on (N, C) and (N, C, d1, ...); cross_entropy also with probability targets), and
// binary cross-entropy on probabilities and on logits. Every loss takes a Reduction (default mean, as PyTorch). Limits:
// input and target of the regression and binary losses must have equal shapes (PyTorch broadcasts with a warning);
// class weights and pos_weight are constants (PyTorch refuses them requiring grad, and so does
// tapegrad while a tape records).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "framework/tensor.hpp"

namespace tapegrad {

// How a loss reduces its per-element values: none keeps them (the output has the per-element
// shape), mean averages them (NaN for none at all, as PyTorch), sum adds them.
enum class Reduction { none, mean, sum };

// "none", "mean" or "sum" (for command-line flags); anything else throws std::invalid_argument
// with PyTorch's "<name> is not a valid value for reduction".
Reduction parse_reduction(std::string_view name);
std::string to_string(Reduction reduction);

// --- regression losses: input and target of the same shape; both may require grad ----------
// (x − t)²
template <typename T>
BasicTensor<T> mse_loss(const BasicTensor<T>& input, const BasicTensor<T>& target,
                        Reduction reduction = Reduction::mean);
// |x − t|
template <typename T>
BasicTensor<T> l1_loss(const BasicTensor<T>& input, const BasicTensor<T>& target,
                       Reduction reduction = Reduction::mean);
// |d| < beta ? d²/(2·beta) : |d| − beta/2, d = x − t; beta >= 0 (beta = 0 is l1_loss).
template <typename T>
BasicTensor<T> smooth_l1_loss(const BasicTensor<T>& input, const BasicTensor<T>& target,
                              Reduction reduction = Reduction::mean, double beta = 1.0);
// |d| < delta ? d²/2 : delta·(|d| − delta/2); delta > 0.
template <typename T>
BasicTensor<T> huber_loss(const BasicTensor<T>& input, const BasicTensor<T>& target,
                          Reduction reduction = Reduction::mean, double delta = 1.0);

// --- class-index losses ------------------------------------------------------------------------
// Input (N, C), (N, C, d1, ...) or unbatched (C); targets: one class index per position, in
// row-major order of the target shape (N), (N, d1, ...) or () — a span or vector of that many
// indices, or a LongTensor of exactly that shape. A target equal to ignore_index contributes
// nothing (its loss and gradient are 0); any other outside [0, C) throws std::invalid_argument
// "Target 7 is out of bounds.". weight: undefined, or (C) per-class weights; the mean is
// PyTorch's weighted mean: Σ w[t]·loss / Σ w[t] over the positions not ignored.

// −w[t]·log_probs[t] per position.
template <typename T>
BasicTensor<T> nll_loss(const BasicTensor<T>& log_probs, std::span<const int64_t> target,
                        const std::type_identity_t<BasicTensor<T>>& weight = {}, Reduction reduction = Reduction::mean,
                        int64_t ignore_index = -100);
template <typename T>
BasicTensor<T> nll_loss(const BasicTensor<T>& log_probs, const std::vector<int64_t>& target,
                        const std::type_identity_t<BasicTensor<T>>& weight = {}, Reduction reduction = Reduction::mean,
                        int64_t ignore_index = -100) {
    return nll_loss(log_probs, std::span<const int64_t>(target), weight, reduction, ignore_index);
}
template <typename T>
BasicTensor<T> nll_loss(const BasicTensor<T>& log_probs, const LongTensor& target,
                        const std::type_identity_t<BasicTensor<T>>& weight = {}, Reduction reduction = Reduction::mean,
                        int64_t ignore_index = -100);

// torch.nn.functional.cross_entropy's options, with its defaults. label_smoothing ε in [0, 1]
// mixes the target with the uniform distribution over the C classes, as PyTorch 1.13 does:
//   loss = (1 − ε)·nll + (ε/C)·Σ_c −w[c]·log_softmax[c]
// with both terms 0 at ignored positions; with reduction mean the first term's sum is divided by
// Σ w[t] over the positions not ignored, and the second's by the same sum with weights, or by
// the number of positions not ignored without them (PyTorch 1.13's formula).
template <typename T = float>
struct CrossEntropyOptions {
    BasicTensor<T> weight{};
    Reduction reduction = Reduction::mean;
    int64_t ignore_index = -100;
    double label_smoothing = 0.0;
};

// log_softmax over dim 1 (the classes), then the (smoothed) negative log-likelihood.
template <typename T>
BasicTensor<T> cross_entropy(const BasicTensor<T>& logits, std::span<const int64_t> target,
                             const std::type_identity_t<CrossEntropyOptions<T>>& options = {});
template <typename T>
BasicTensor<T> cross_entropy(const BasicTensor<T>& logits, const std::vector<int64_t>& target,
                             const std::type_identity_t<CrossEntropyOptions<T>>& options = {}) {
    return cross_entropy(logits, std::span<const int64_t>(target), options);
}
template <typename T>
BasicTensor<T> cross_entropy(const BasicTensor<T>& logits, const LongTensor& target,
                             const std::type_identity_t<CrossEntropyOptions<T>>& options = {});

// Probability targets: target_probs of the logits' shape, class probabilities along dim 1 (it
// may require grad). Per position −Σ_c w[c]·q̃[c]·log_softmax(x)[c] with q̃ = (1 − ε)·q + ε/C;
// the mean divides by the number of positions whether or not there are weights (PyTorch);
// ignore_index must stay -100 ("ignore_index is not supported for floating point target").
template <typename T>
BasicTensor<T> cross_entropy(const BasicTensor<T>& logits, const std::type_identity_t<BasicTensor<T>>& target_probs,
                             const std::type_identity_t<CrossEntropyOptions<T>>& options = {});

// --- binary cross-entropy: target of the input's shape (may require grad) ----------------------
// weight and pos_weight: undefined, or broadcastable to the input's shape (PyTorch's rules).

// probs in [0, 1] (else std::invalid_argument): −w·(t·log p + (1 − t)·log(1 − p)), each log
// clamped at −100 as PyTorch does.
template <typename T>
BasicTensor<T> binary_cross_entropy(const BasicTensor<T>& probs, const BasicTensor<T>& target,
                                    const std::type_identity_t<BasicTensor<T>>& weight = {},
                                    Reduction reduction = Reduction::mean);
// w·((1 − t)·x + (1 + (q − 1)·t)·log(1 + exp(−x))) with q = pos_weight, computed without
// overflow for any |x| (log(1 + exp(−x)) = log1p(exp(−|x|)) + max(−x, 0)).
template <typename T>
BasicTensor<T> binary_cross_entropy_with_logits(const BasicTensor<T>& logits, const BasicTensor<T>& target,
                                                const std::type_identity_t<BasicTensor<T>>& weight = {},
                                                Reduction reduction = Reduction::mean,
                                                const std::type_identity_t<BasicTensor<T>>& pos_weight = {});

}  // namespace tapegrad
