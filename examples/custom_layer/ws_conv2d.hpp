// How to add a layer with its own hand-derived backward, shown with Weight Standardization
// (Qiao et al., 2019), GroupNorm's companion: a Conv2d whose weight is standardised per
// output channel before every use, ŵ = (w − mean) / sqrt(var + eps) over (in, kH, kW).
// Header-only so that the example and its test (tests/test_custom_layer.cpp) share it.
#pragma once

#include <tapegrad/tapegrad.hpp>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

namespace ws {

using tapegrad::BasicTensor;

// The op. Step 1: compute the forward on raw memory and keep what the backward needs (here
// the per-row rstd and the output ŵ itself). Step 2: record a closure that turns dŵ into dw.
//
// Per row o of K = in·kH·kW weights, with μ, σ² the row's mean and biased variance and
// r = (σ² + ε)^(−1/2):  ŵ_i = (w_i − μ)·r  and, exactly as for GroupNorm without γ,
//   dw_j = Σ_i dŵ_i · ∂ŵ_i/∂w_j = r·(dŵ_j − mean(dŵ) − ŵ_j·mean(dŵ·ŵ)).
template <typename T>
BasicTensor<T> weight_standardize(const BasicTensor<T>& w, double eps = 1e-5) {
    const int64_t O = w.size(0), K = w.numel() / O;  // (O, K)
    BasicTensor<T> out = tapegrad::empty<T>(w.shape());
    auto rstd = std::make_shared<std::vector<double>>(static_cast<size_t>(O));
    for (int64_t o = 0; o < O; ++o) {
        const T* row = w.data() + o * K;
        double mean = 0.0, var = 0.0;
        for (int64_t i = 0; i < K; ++i) mean += double(row[i]) / double(K);
        for (int64_t i = 0; i < K; ++i) var += (double(row[i]) - mean) * (double(row[i]) - mean) / double(K);
        const double r = 1.0 / std::sqrt(var + eps);
        (*rstd)[size_t(o)] = r;
        for (int64_t i = 0; i < K; ++i) out.data()[o * K + i] = static_cast<T>((double(row[i]) - mean) * r);
    }
    // The closure captures tensors by value (they are handles) and gets dŵ as a raw pointer.
    tapegrad::record_op(
        "weight_standardize", out, tapegrad::any_requires_grad(w), [w, what = out, rstd, O, K](const T* dout) {
            T* dw = w.grad_data_for_accumulation();  // += : w may feed other ops too
            for (int64_t o = 0; o < O; ++o) {
                const T* g = dout + o * K;
                const T* what_row = what.data() + o * K;
                // First: two reductions, mean(dŵ) and mean(dŵ·ŵ).
                double mean_g = 0.0, mean_g_what = 0.0;
                for (int64_t i = 0; i < K; ++i) {
                    mean_g += double(g[i]) / double(K);
                    mean_g_what += double(g[i]) * double(what_row[i]) / double(K);
                }
                // Then dw in one pass.
                const double r = (*rstd)[size_t(o)];
                for (int64_t i = 0; i < K; ++i)
                    dw[o * K + i] += static_cast<T>(r * (double(g[i]) - mean_g - double(what_row[i]) * mean_g_what));
            }
        });
    return out;
}

// The layer: a Conv2d (same constructor, parameters "weight" and "bias", same init) whose
// forward standardises the weight first. Printing names the new type.
template <typename T>
class BasicWSConv2d : public tapegrad::BasicConv2d<T> {
  public:
    using tapegrad::BasicConv2d<T>::BasicConv2d;

    BasicTensor<T> forward(const BasicTensor<T>& x) override {
        const auto& o = this->options();
        return tapegrad::conv2d(x, weight_standardize(this->weight()), this->bias(), o.stride, o.padding, o.dilation,
                                o.groups);
    }
    std::string type_name() const override { return "WSConv2d"; }
};

using WSConv2d = BasicWSConv2d<float>;

}  // namespace ws
