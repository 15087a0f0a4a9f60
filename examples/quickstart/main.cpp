// Quickstart: the example from torch.nn.GroupNorm's documentation, in C++.
// Three GroupNorm layers over the same input (20, 6, 10, 10): 3 groups of 2 channels,
// 6 groups of 1 (instance norm), 1 group of 6 (layer norm over C, H, W). For each, the
// output's per-group mean and std (≈ 0 and ≈ 1; std is √(1/(1+ε/σ²)), a hair under 1), then the gradient norms after a
// backward.
#include <tapegrad/tapegrad.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace tg = tapegrad;

namespace {

double norm(const tg::Tensor& t) {
    double s = 0.0;
    for (float v : t.values()) s += double(v) * v;
    return std::sqrt(s);
}

// Per group: the mean and (biased) std of each (sample, group) slice of C/G channels × H × W
// values, summarised over the 20 samples as the largest |mean| and the range of std.
void print_group_statistics(const tg::Tensor& y, int64_t groups) {
    const int64_t samples = y.size(0), per_group = y.numel() / samples / groups;
    for (int64_t g = 0; g < groups; ++g) {
        double worst_mean = 0.0, min_std = INFINITY, max_std = 0.0;
        for (int64_t n = 0; n < samples; ++n) {
            const float* v = y.data() + (n * groups + g) * per_group;
            double mean = 0.0, var = 0.0;
            for (int64_t i = 0; i < per_group; ++i) mean += v[i] / double(per_group);
            for (int64_t i = 0; i < per_group; ++i) var += (v[i] - mean) * (v[i] - mean) / double(per_group);
            worst_mean = std::max(worst_mean, std::abs(mean));
            min_std = std::min(min_std, std::sqrt(var));
            max_std = std::max(max_std, std::sqrt(var));
        }
        std::printf("    group %lld: mean within ±%.1e, std %.6f to %.6f\n", static_cast<long long>(g), worst_mean,
                    min_std, max_std);
    }
}

}  // namespace

int main() {
    tg::manual_seed(0);
    tg::Tensor input = tg::randn({20, 6, 10, 10});
    input.requires_grad_();

    for (int64_t groups : {3, 6, 1}) {
        tg::GroupNorm m(groups, 6);  // Separate 6 channels into `groups` groups
        input.zero_grad();

        tg::Tape tape;               // records the ops below
        tg::Tensor output = m(input);
        // A scalar loss that weights every output differently, so the gradients are not trivial.
        tg::Tensor loss = tg::sum(output * tg::randn(output.shape()));
        tape.backward(loss);

        std::printf("%s\n", m.repr().c_str());
        print_group_statistics(output, groups);
        std::printf("    |d loss/d input| = %.4f   |d loss/d weight| = %.4f   |d loss/d bias| = %.4f\n",
                    norm(input.grad()), norm(m.weight().grad()), norm(m.bias().grad()));
    }
}
