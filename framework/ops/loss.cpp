// log_softmax and cross_entropy; see loss.hpp. Both subtract the row maximum before exp, so
// large logits do not overflow.
#include "framework/ops/loss.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "framework/kernels/softmax.hpp"
#include "framework/ops/autograd.hpp"

namespace tapegrad {

namespace {

template <typename T>
void check_logits(const char* op, const BasicTensor<T>& x) {
    if (x.dim() != 2)
        throw std::invalid_argument(std::string(op) + ": expected logits of shape (N, C), but got " + to_string(x.shape()));
}

}  // namespace

template <typename T>
BasicTensor<T> log_softmax(const BasicTensor<T>& x, int64_t dim) {
    check_logits("log_softmax", x);
    if (dim != 1 && dim != -1)
        throw std::invalid_argument("log_softmax: expected dim 1 (or -1) of an (N, C) input, but got dim=" + std::to_string(dim));
    const int64_t N = x.size(0), C = x.size(1);
    BasicTensor<T> out = empty<T>(x.shape());
    kernels::log_softmax_forward(out.data(), x.data(), N, C);
    // y = x − logsumexp(x):  dx_j = dy_j − softmax_j · Σ_k dy_k,  softmax = exp(y)
    record_op("log_softmax", out, any_requires_grad(x), [x, y = out, N, C](const T* dy) mutable {
        kernels::log_softmax_backward(x.grad_data_for_accumulation(), dy, y.data(), N, C);
    });
    return out;
}

template <typename T>
BasicTensor<T> cross_entropy(const BasicTensor<T>& logits, std::span<const int64_t> target) {
    check_logits("cross_entropy", logits);
    const int64_t N = logits.size(0), C = logits.size(1);
    if (static_cast<int64_t>(target.size()) != N)
        throw std::invalid_argument("cross_entropy: expected " + std::to_string(N) + " targets for logits of shape " +
                                    to_string(logits.shape()) + ", but got " + std::to_string(target.size()));
    for (size_t n = 0; n < target.size(); ++n)
        if (target[n] < 0 || target[n] >= C)
            throw std::invalid_argument("cross_entropy: target " + std::to_string(target[n]) + " at position " +
                                        std::to_string(n) + " is out of bounds for " + std::to_string(C) + " classes");

    // Keep log-probabilities for the backward: dlogits = (softmax − onehot) · dy / N.
    BasicTensor<T> logp = empty<T>(logits.shape());
    kernels::log_softmax_forward(logp.data(), logits.data(), N, C);
    double total = 0.0;
    for (int64_t n = 0; n < N; ++n) total -= static_cast<double>(logp.data()[n * C + target[static_cast<size_t>(n)]]);
    BasicTensor<T> out(Shape{});
    out.data()[0] = static_cast<T>(N > 0 ? total / static_cast<double>(N) : std::numeric_limits<double>::quiet_NaN());

    std::vector<int64_t> labels(target.begin(), target.end());
    record_op("cross_entropy", out, any_requires_grad(logits),
                      [logits, logp, labels = std::move(labels), N, C](const T* dy) mutable {
                          T* gx = logits.grad_data_for_accumulation();
                          const double scale = static_cast<double>(dy[0]) / static_cast<double>(N);
                          for (int64_t n = 0; n < N; ++n) {
                              const T* lp = logp.data() + n * C;
                              const int64_t t = labels[static_cast<size_t>(n)];
                              for (int64_t j = 0; j < C; ++j) {
                                  const double p = std::exp(static_cast<double>(lp[j])) - (j == t ? 1.0 : 0.0);
                                  gx[n * C + j] += static_cast<T>(p * scale);
                              }
                          }
                      });
    return out;
}

template BasicTensor<float> log_softmax(const BasicTensor<float>&, int64_t);
template BasicTensor<double> log_softmax(const BasicTensor<double>&, int64_t);
template BasicTensor<float> cross_entropy(const BasicTensor<float>&, std::span<const int64_t>);
template BasicTensor<double> cross_entropy(const BasicTensor<double>&, std::span<const int64_t>);

}  // namespace tapegrad
