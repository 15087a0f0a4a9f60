// custom_layer: adding a layer with its own backward (ws_conv2d.hpp), checking that backward
// against finite differences, and training with it: Weight Standardization + GroupNorm, the
// pairing its authors recommend for small batches.
#include <tapegrad/tapegrad.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <exception>

#include "examples/common/training.hpp"
#include "ws_conv2d.hpp"

namespace tg = tapegrad;

namespace {

// Σ seed · weight_standardize(w) differentiated by the tape and by central differences, in
// double; returns the largest difference. (The test suite does the same with its shared
// check: tests/test_custom_layer.cpp.)
double gradient_check() {
    tg::Generator gen(1);
    tg::DoubleTensor w = tg::randn<double>({4, 3, 3, 3}, &gen, /*requires_grad=*/true);
    const tg::DoubleTensor seed = tg::randn<double>(w.shape(), &gen);
    auto loss = [&] { return tg::sum(ws::weight_standardize(w) * seed); };
    {
        tg::Tape tape;
        tape.backward(loss());
    }
    double worst = 0.0;
    const double h = 1e-6;
    for (int64_t i = 0; i < w.numel(); ++i) {
        const double saved = w.data()[i];
        w.data()[i] = saved + h;
        const double plus = loss().item();
        w.data()[i] = saved - h;
        const double minus = loss().item();
        w.data()[i] = saved;
        worst = std::max(worst, std::abs((plus - minus) / (2 * h) - w.grad().data()[i]));
    }
    return worst;
}

}  // namespace

int main() {
    std::printf("weight_standardize: backward vs finite differences, max |difference| = %.2e\n", gradient_check());

    tg::manual_seed(0);
    tg::Sequential net;
    net.add(ws::WSConv2d(1, 16, 3, 1, 1));
    net.add(tg::GroupNorm(4, 16));
    net.add(tg::ReLU());
    net.add(tg::MaxPool2d(2));
    net.add(ws::WSConv2d(16, 32, 3, 1, 1));
    net.add(tg::GroupNorm(8, 32));
    net.add(tg::ReLU());
    net.add(tg::AdaptiveAvgPool2d(1));
    net.add(tg::Flatten());
    net.add(tg::Linear(32, 10));
    std::printf("%s\n", net.repr().c_str());

    try {
        const auto train = tg::data::load_fashion_mnist(tg::data::Split::Train).subset(4096);
        tg::SGD opt(net.parameters(), {.lr = 0.1, .momentum = 0.9});
        tg::data::Loader loader(train, {.batch_size = 64, .seed = 0});
        for (int epoch = 1; epoch <= 3; ++epoch) {
            const examples::Totals t = examples::train_epoch(net, opt, loader);
            std::printf("epoch %d: mean training loss %.4f on 4,096 Fashion-MNIST images\n", epoch, t.mean_loss());
        }
    } catch (const std::exception& e) {
        std::printf("training skipped: %s\n", e.what());
    }
}
