// compose: new layers written from tapegrad's primitives — reshape, reductions along dims,
// broadcasting arithmetic, rsqrt, sigmoid — with no backward of their own: the tape
// differentiates the composition. GroupNorm, LayerNorm and RMSNorm take a few lines each, and
// a SiLU-gated residual block a few more. The program then checks the composed GroupNorm and
// LayerNorm against the library's hand-derived kernels (forward and every gradient, in double,
// within 1e-12), prints each composed layer's line count, and times composed against fused in
// float32. It exits non-zero when a check fails (ctest runs it).
#include <tapegrad/tapegrad.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "examples/common/training.hpp"

namespace tg = tapegrad;

namespace {

// A (C) parameter as (C, 1, ..., 1), so that it broadcasts over the trailing dims of (N, C, *).
template <typename T>
tg::BasicTensor<T> per_channel(const tg::BasicTensor<T>& v, int64_t rank) {
    tg::Shape shape(static_cast<size_t>(rank - 1), 1);
    shape[0] = v.numel();
    return tg::reshape(v, shape);
}

}  // namespace

// The composed layers. Each sits between two __LINE__ marks, so that the count printed is the code's.
namespace composed {

constexpr int kGroupNormBegin = __LINE__;
// GroupNorm: statistics over each (sample, group) of (N, C, *), then a per-channel affine map.
template <typename T>
tg::BasicTensor<T> group_norm(const tg::BasicTensor<T>& x, int64_t groups, const tg::BasicTensor<T>& weight,
                              const tg::BasicTensor<T>& bias, double eps) {
    const auto xg = tg::reshape(x, {x.size(0), groups, -1});           // (N, G, C/G · H · W)
    const auto mean = tg::mean(xg, {-1}, /*keepdim=*/true);            // (N, G, 1)
    const auto var = tg::var(xg, {-1}, /*correction=*/0, /*keepdim=*/true);
    const auto xhat = tg::reshape((xg - mean) * tg::rsqrt(var + T(eps)), x.shape());
    return xhat * per_channel(weight, x.dim()) + per_channel(bias, x.dim());
}
constexpr int kGroupNormLines = __LINE__ - kGroupNormBegin - 2;

constexpr int kLayerNormBegin = __LINE__;
// LayerNorm over the last `dims` dimensions, with an elementwise affine map of their shape.
template <typename T>
tg::BasicTensor<T> layer_norm(const tg::BasicTensor<T>& x, int64_t dims, const tg::BasicTensor<T>& weight,
                              const tg::BasicTensor<T>& bias, double eps) {
    std::vector<int64_t> last;
    for (int64_t d = -dims; d < 0; ++d) last.push_back(d);
    const auto mean = tg::mean(x, last, /*keepdim=*/true);
    const auto var = tg::var(x, last, /*correction=*/0, /*keepdim=*/true);
    return (x - mean) * tg::rsqrt(var + T(eps)) * weight + bias;
}
constexpr int kLayerNormLines = __LINE__ - kLayerNormBegin - 2;

constexpr int kRMSNormBegin = __LINE__;
// RMSNorm (Zhang & Sennrich): x / sqrt(mean(x²) + eps) · w over the last dimension, no centring.
template <typename T>
tg::BasicTensor<T> rms_norm(const tg::BasicTensor<T>& x, const tg::BasicTensor<T>& weight, double eps) {
    return x * tg::rsqrt(tg::mean(x * x, {-1}, /*keepdim=*/true) + T(eps)) * weight;
}
constexpr int kRMSNormLines = __LINE__ - kRMSNormBegin - 2;

constexpr int kGatedBlockBegin = __LINE__;
// A SiLU-gated residual block: x + proj(GN(x) → value(·) · sigmoid(gate(·))), its own Module.
template <typename T>
class GatedBlock : public tg::BasicModule<T> {
  public:
    explicit GatedBlock(int64_t channels)
        : norm_(this->register_module("norm", std::make_shared<tg::BasicGroupNorm<T>>(8, channels))),
          value_(this->register_module("value", std::make_shared<tg::BasicConv2d<T>>(channels, channels, 3, 1, 1))),
          gate_(this->register_module("gate", std::make_shared<tg::BasicConv2d<T>>(channels, channels, 3, 1, 1))),
          proj_(this->register_module("proj", std::make_shared<tg::BasicConv2d<T>>(channels, channels, 1))) {}
    tg::BasicTensor<T> forward(const tg::BasicTensor<T>& x) override {
        const auto h = (*norm_)(x);
        return x + (*proj_)((*value_)(h) * tg::sigmoid((*gate_)(h)));
    }
    std::string type_name() const override { return "GatedBlock"; }

  private:
    std::shared_ptr<tg::BasicGroupNorm<T>> norm_;
    std::shared_ptr<tg::BasicConv2d<T>> value_, gate_, proj_;
};
constexpr int kGatedBlockLines = __LINE__ - kGatedBlockBegin - 2;

}  // namespace composed

namespace {

// --- checks against the hand-derived kernels ------------------------------------------------

// The largest |a − b| over a's and b's values, relative to max(1, max |b|).
double relative_difference(const tg::DoubleTensor& a, const tg::DoubleTensor& b) {
    double worst = 0.0, scale = 1.0;
    for (int64_t i = 0; i < b.numel(); ++i) scale = std::max(scale, std::abs(b.data()[i]));
    for (int64_t i = 0; i < b.numel(); ++i) worst = std::max(worst, std::abs(a.data()[i] - b.data()[i]));
    return worst / scale;
}

using DoubleLayer = std::function<tg::DoubleTensor(const std::vector<tg::DoubleTensor>&)>;

// Runs composed and fused on copies of the same inputs with the same seed gradient; returns the
// worst relative difference over the output and the gradient of every input.
double compare(const DoubleLayer& composed, const DoubleLayer& fused, const std::vector<tg::DoubleTensor>& inputs,
               const tg::Shape& out_shape) {
    tg::Generator gen(7);
    const tg::DoubleTensor seed = tg::randn<double>(out_shape, &gen);
    auto run = [&](const DoubleLayer& layer, std::vector<tg::DoubleTensor>& xs) {
        for (const auto& x : inputs) xs.push_back(x.clone().requires_grad_());
        tg::Tape tape;
        tg::DoubleTensor out = layer(xs);
        tape.backward(out, seed);
        return out;
    };
    std::vector<tg::DoubleTensor> a, b;
    const tg::DoubleTensor out_a = run(composed, a), out_b = run(fused, b);
    double worst = relative_difference(out_a, out_b);
    for (size_t k = 0; k < inputs.size(); ++k) worst = std::max(worst, relative_difference(a[k].grad(), b[k].grad()));
    return worst;
}

// Median wall time in ms of forward + backward of `layer` on x (float32), over `rounds` runs.
double time_ms(const std::function<tg::Tensor(const tg::Tensor&)>& layer, const tg::Tensor& x, int rounds) {
    std::vector<double> times;
    for (int r = 0; r < rounds; ++r) {
        tg::Tensor input = x.clone().requires_grad_();
        const auto start = std::chrono::steady_clock::now();
        {
            tg::Tape tape;
            tape.backward(tg::sum(layer(input)));
        }
        times.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
    }
    std::sort(times.begin(), times.end());
    return times[times.size() / 2];
}

}  // namespace

int main() {
    constexpr double kTolerance = 1e-12;
    bool ok = true;
    tg::Generator gen(0);
    auto check = [&](const char* what, double difference) {
        const bool pass = difference <= kTolerance;
        ok = ok && pass;
        std::printf("%-44s max relative difference %.2e  %s\n", what, difference, pass ? "ok" : "FAILED");
    };

    // GroupNorm on (4, 6, 5, 7) in 3 groups, and on a rank-3 input.
    for (const tg::Shape& shape : {tg::Shape{4, 6, 5, 7}, tg::Shape{3, 6, 11}}) {
        const int64_t C = shape[1];
        std::vector<tg::DoubleTensor> in{tg::randn<double>(shape, &gen), tg::randn<double>({C}, &gen),
                                         tg::randn<double>({C}, &gen)};
        const double d = compare([](const auto& v) { return composed::group_norm(v[0], 3, v[1], v[2], 1e-5); },
                                 [](const auto& v) { return tg::group_norm(v[0], 3, v[1], v[2], 1e-5); }, in, shape);
        check(("composed GroupNorm vs kernel, " + tg::to_string(shape)).c_str(), d);
    }
    // LayerNorm over the last two dims of (5, 4, 6, 8).
    {
        const tg::Shape shape{5, 4, 6, 8};
        std::vector<tg::DoubleTensor> in{tg::randn<double>(shape, &gen), tg::randn<double>({6, 8}, &gen),
                                         tg::randn<double>({6, 8}, &gen)};
        const double d = compare([](const auto& v) { return composed::layer_norm(v[0], 2, v[1], v[2], 1e-5); },
                                 [](const auto& v) {
                                     return tg::layer_norm(v[0], {6, 8}, v[1], v[2], 1e-5);
                                 },
                                 in, shape);
        check("composed LayerNorm vs kernel, [5, 4, 6, 8]", d);
    }

    std::printf("\nlines of code: GroupNorm %d, LayerNorm %d, RMSNorm %d, SiLU-gated residual block %d\n",
                composed::kGroupNormLines, composed::kLayerNormLines, composed::kRMSNormLines,
                composed::kGatedBlockLines);

    // The composed layers train: a gated block, RMSNorm over channels-last features, a classifier.
    {
        tg::manual_seed(0);
        composed::GatedBlock<float> block(16);
        tg::Tensor w = tg::ones({16}, /*requires_grad=*/true);
        tg::Linear head(16, 4);
        std::vector<tg::Tensor> params = block.parameters();
        params.push_back(w);
        for (const auto& p : head.parameters()) params.push_back(p);
        tg::SGD opt(params, {.lr = 0.05, .momentum = 0.9});
        const tg::Tensor x = tg::randn({8, 16, 6, 6});
        const std::vector<int64_t> labels{0, 1, 2, 3, 0, 1, 2, 3};
        double first = 0.0, last = 0.0;
        const auto forward = [&] {
            const tg::Tensor features = tg::mean(block(x), {2, 3});  // (8, 16)
            return head(composed::rms_norm(features, w, 1e-6));
        };
        for (int step = 0; step < 30; ++step)
            (step == 0 ? first : last) = examples::train_step(opt, forward, labels).loss.item();
        const bool learned = last < 0.5 * first;
        ok = ok && learned;
        std::printf("GatedBlock + RMSNorm + Linear, 30 SGD steps on 8 samples: loss %.4f -> %.4f  %s\n", first, last,
                    learned ? "ok" : "FAILED (did not learn)");
    }

    // Composed against fused, float32, forward + backward, median of 15 runs.
    {
        const tg::Tensor x = tg::randn({16, 64, 32, 32});
        const tg::Tensor w = tg::ones({64}), b = tg::zeros({64});
        const double composed =
            time_ms([&](const tg::Tensor& v) { return composed::group_norm(v, 32, w, b, 1e-5); }, x, 15);
        const double fused = time_ms([&](const tg::Tensor& v) { return tg::group_norm(v, 32, w, b, 1e-5); }, x, 15);
        std::printf("\nGroupNorm(32, 64) on [16, 64, 32, 32], forward + backward, %d thread%s: composed %.2f ms, "
                    "kernel %.2f ms (%.1fx)\n",
                    tg::get_num_threads(), tg::get_num_threads() == 1 ? "" : "s", composed, fused, composed / fused);
    }
    std::printf("%s\n", ok ? "compose: all checks passed" : "compose: a check FAILED");
    return ok ? 0 : 1;
}
