// A consumer of an installed tapegrad: trains a small classifier on four Gaussian clusters in
// the plane (Linear -> BatchNorm1d -> ReLU -> Linear, SGD with momentum) and exits 0 only if
// it learned them (training accuracy of at least 95%, evaluation mode with BatchNorm's running
// statistics). Everything it uses comes from <tapegrad/tapegrad.hpp>.
#include <tapegrad/tapegrad.hpp>

#include <cstdio>
#include <vector>

namespace tg = tapegrad;

int main() {
    tg::manual_seed(0);
    tg::Generator gen(1);
    // 512 points, 128 around each of (±2, ±2); the class is the quadrant.
    const int64_t n = 512;
    std::vector<float> points(static_cast<size_t>(2 * n));
    std::vector<int64_t> labels(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
        const int64_t k = i % 4;
        points[2 * i] = static_cast<float>((k & 1 ? 2.0 : -2.0) + 0.7 * gen.normal());
        points[2 * i + 1] = static_cast<float>((k & 2 ? 2.0 : -2.0) + 0.7 * gen.normal());
        labels[i] = k;
    }
    const tg::Tensor x = tg::from_vector<float>({n, 2}, points);

    tg::Sequential net(tg::Linear(2, 16), tg::BatchNorm1d(16), tg::ReLU(), tg::Linear(16, 4));
    tg::SGD opt(net.parameters(), {.lr = 0.1, .momentum = 0.9});
    float loss_value = 0.0f;
    for (int step = 0; step < 100; ++step) {
        tg::Tape tape;
        const tg::Tensor loss = tg::cross_entropy(net(x), labels);
        tape.backward(loss);
        opt.step();
        opt.zero_grad();
        loss_value = loss.data()[0];
    }
    net.eval();
    const tg::Tensor logits = net(x);
    int64_t correct = 0;
    for (int64_t i = 0; i < n; ++i) {
        int64_t best = 0;
        for (int64_t c = 1; c < 4; ++c)
            if (logits.data()[i * 4 + c] > logits.data()[i * 4 + best]) best = c;
        correct += best == labels[i];
    }
    const double accuracy = static_cast<double>(correct) / static_cast<double>(n);
    std::printf("%s\nfinal loss %.4f, accuracy %.1f%% (tapegrad %s, kernels %s)\n", net.repr().c_str(), loss_value,
                100.0 * accuracy, tg::version(), tg::simd_level());
    return accuracy >= 0.95 ? 0 : 1;
}
