// bench_nets: training throughput of several networks, each beside the same network in
// bench/torch_nets.py (`--net NAME --threads T`: one JSON line per run), the float32 FMA peak
// of the machine (`--peak`), and a 3×3 convolution timed as a share of that peak (`--conv`).
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "fma_peak.hpp"
#include "reference_cnn.hpp"

namespace tg = tapegrad;

namespace {

// Every convolution followed by a GroupNorm has no bias (GN's β takes its place), in torch_nets.py as here.
tg::Conv2d conv_no_bias(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding) {
    return tg::Conv2d(in, out, kernel, stride, padding, /*bias=*/false);
}

// A basic block of a ResNet with GroupNorm(8) after every convolution: relu(conv3×3-GN-ReLU-
// conv3×3-GN (x) + skip(x)), skip the identity, or a 1×1 convolution and GN where the width or
// the resolution changes (the stride is on the first 3×3 and on the 1×1).
tg::Residual basic_block(int64_t in, int64_t out, int64_t stride) {
    tg::Sequential body(conv_no_bias(in, out, 3, stride, 1), tg::GroupNorm(8, out), tg::ReLU(),
                        conv_no_bias(out, out, 3, 1, 1), tg::GroupNorm(8, out));
    if (in == out && stride == 1) return tg::Residual(std::move(body));
    return tg::Residual(std::move(body), tg::Sequential(conv_no_bias(in, out, 1, stride, 0), tg::GroupNorm(8, out)));
}

// For 1×28×28: a 16-channel stem, three stages of three blocks at 16, 32 and 64 channels (28², 14², 7²),
// global average pooling, linear 64 → 10.
tg::Sequential resnet() {
    tg::Sequential net(conv_no_bias(1, 16, 3, 1, 1), tg::GroupNorm(8, 16), tg::ReLU());
    int64_t in = 16;
    for (int64_t width : {16, 32, 64}) {
        for (int b = 0; b < 3; ++b) {
            net.add(basic_block(in, width, b == 0 && width != 16 ? 2 : 1));
            in = width;
        }
    }
    net.add(tg::AdaptiveAvgPool2d(1));
    net.add(tg::Flatten());
    net.add(tg::Linear(64, 10));
    return net;
}

// Pairs of 3×3 convolutions at 64, 128 and 256 channels, GroupNorm(32) and ReLU after each, 2×2 max-pooling
// between the pairs, global average pooling, linear 256 → 10.
tg::Sequential vgg() {
    tg::Sequential net;
    int64_t in = 1;
    for (int64_t width : {64, 128, 256}) {
        if (width != 64) net.add(tg::MaxPool2d(2));
        for (int i = 0; i < 2; ++i) {
            net.add(conv_no_bias(in, width, 3, 1, 1));
            net.add(tg::GroupNorm(32, width));
            net.add(tg::ReLU());
            in = width;
        }
    }
    net.add(tg::AdaptiveAvgPool2d(1));
    net.add(tg::Flatten());
    net.add(tg::Linear(256, 10));
    return net;
}

// Large kernels: 5×5 (1 → 48) and 7×7 (48 → 96), then 3×3 (96 → 128), GroupNorm(8) and ReLU after each;
// max-pooling after the first, average pooling after the second, global average pooling, linear 128 → 10.
tg::Sequential wide_kernels() {
    return tg::Sequential(conv_no_bias(1, 48, 5, 1, 2), tg::GroupNorm(8, 48), tg::ReLU(), tg::MaxPool2d(2),
                          conv_no_bias(48, 96, 7, 1, 3), tg::GroupNorm(8, 96), tg::ReLU(), tg::AvgPool2d(2),
                          conv_no_bias(96, 128, 3, 1, 1), tg::GroupNorm(8, 128), tg::ReLU(), tg::AdaptiveAvgPool2d(1),
                          tg::Flatten(), tg::Linear(128, 10));
}

// The residual block of a diffusion model's U-Net: x + conv3×3(SiLU(GN(conv3×3(SiLU(GN(x)))))), GroupNorm(32),
// convolutions with bias, no activation after the sum (which tg::Residual has, hence this module).
class DiffusionBlock : public tg::Module {
  public:
    explicit DiffusionBlock(int64_t channels)
        : body_(register_module("body", std::make_shared<tg::Sequential>(tg::GroupNorm(32, channels), tg::SiLU(),
                                                                         tg::Conv2d(channels, channels, 3, 1, 1),
                                                                         tg::GroupNorm(32, channels), tg::SiLU(),
                                                                         tg::Conv2d(channels, channels, 3, 1, 1)))) {}
    tg::Tensor forward(const tg::Tensor& x) override { return (*body_)(x) + x; }
    std::string type_name() const override { return "DiffusionBlock"; }

  private:
    std::shared_ptr<tg::Sequential> body_;
};

// A depthwise-separable net: a 3×3 stem (1 → 32), then three blocks of depthwise 3×3 (groups = C; stride 2 in
// the second and third) and pointwise 1×1 to 2C, GroupNorm(8) and ReLU after each convolution; global average
// pooling, linear 256 → 10.
tg::Sequential depthwise() {
    tg::Sequential net(conv_no_bias(1, 32, 3, 1, 1), tg::GroupNorm(8, 32), tg::ReLU());
    for (int64_t c : {32, 64, 128}) {
        net.add(tg::Conv2d(tg::Conv2dOptions{.in_channels = c,
                                             .out_channels = c,
                                             .kernel_size = 3,
                                             .stride = c == 32 ? 1 : 2,
                                             .padding = 1,
                                             .groups = c,
                                             .bias = false}));
        net.add(tg::GroupNorm(8, c));
        net.add(tg::ReLU());
        net.add(conv_no_bias(c, 2 * c, 1, 1, 0));
        net.add(tg::GroupNorm(8, 2 * c));
        net.add(tg::ReLU());
    }
    net.add(tg::AdaptiveAvgPool2d(1));
    net.add(tg::Flatten());
    net.add(tg::Linear(256, 10));
    return net;
}

struct NetSpec {
    std::string name;
    tg::Shape input;  // one sample's shape
    int64_t batch;    // the default batch
    bool classifier;  // cross-entropy on labels 0..9; else mse_loss to a random target of the output's shape
    std::function<std::shared_ptr<tg::Module>()> build;
};

template <typename Net>
std::function<std::shared_ptr<tg::Module>()> builder(Net (*make)()) {
    return [make] { return std::make_shared<Net>(make()); };
}

const std::vector<NetSpec>& nets() {
    static const std::vector<NetSpec> specs = {
        {"reference", {1, 28, 28}, 64, true, builder(&reference_cnn)},
        {"resnet", {1, 28, 28}, 64, true, builder(&resnet)},
        {"vgg", {1, 28, 28}, 64, true, builder(&vgg)},
        {"wide_kernels", {1, 28, 28}, 64, true, builder(&wide_kernels)},
        {"diffusion", {128, 64, 64}, 4, false, [] { return std::make_shared<DiffusionBlock>(128); }},
        {"depthwise", {1, 28, 28}, 64, true, builder(&depthwise)},
    };
    return specs;
}

double peak_rss_mb() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return double(usage.ru_maxrss) / 1024.0;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// SGD steps (lr 0.01, momentum 0.9, weight decay 5e-4) on one fixed random batch: `warmup` steps, then timed
// steps, `steps` of them or, with steps 0, as many as start within `seconds`.
void train(const NetSpec& spec, int threads, int64_t batch, double seconds, int steps, int warmup) {
    tg::set_num_threads(threads);
    tg::manual_seed(0);
    std::shared_ptr<tg::Module> net = spec.build();
    tg::Generator gen(0);
    tg::Shape shape{batch};
    shape.insert(shape.end(), spec.input.begin(), spec.input.end());
    const tg::Tensor x = tg::randn(shape, &gen);
    std::vector<int64_t> labels(static_cast<size_t>(batch));
    std::mt19937_64 draw(0);
    for (int64_t& y : labels) y = std::uniform_int_distribution<int64_t>(0, 9)(draw);
    const tg::Tensor target = spec.classifier ? tg::Tensor() : tg::randn((*net)(x).shape(), &gen);
    tg::SGD opt(net->parameters(), {.lr = 0.01, .momentum = 0.9, .weight_decay = 5e-4});

    auto step = [&] {
        tg::Tape tape;
        const tg::Tensor out = (*net)(x);
        const tg::Tensor loss = spec.classifier ? tg::cross_entropy(out, labels) : tg::mse_loss(out, target);
        opt.zero_grad();
        tape.backward(loss);
        opt.step();
        return double(loss.item());
    };
    const double loss_first = step();
    for (int i = 1; i < warmup; ++i) step();
    int done = 0;
    double loss_last = loss_first;
    const auto start = std::chrono::steady_clock::now();
    while (steps > 0 ? done < steps : done == 0 || seconds_since(start) < seconds) {
        loss_last = step();
        ++done;
    }
    const double elapsed = seconds_since(start);
    int64_t parameters = 0;  // compare.py checks the count against PyTorch's: the same architecture on both sides
    for (const tg::Tensor& p : net->parameters()) parameters += p.numel();
    std::printf(
        "{\"net\": \"%s\", \"threads\": %d, \"batch\": %lld, \"parameters\": %lld, \"steps\": %d, "
        "\"seconds\": %.3f, \"images_per_s\": %.2f, \"loss_first\": %.6g, \"loss_last\": %.6g, "
        "\"max_rss_mb\": %.1f}\n",
        spec.name.c_str(), threads, static_cast<long long>(batch), static_cast<long long>(parameters), done, elapsed,
        double(done) * double(batch) / elapsed, loss_first, loss_last, peak_rss_mb());
}

// The median of `calls` timed calls of f, after one untimed call; at least 3 calls, more while the calls
// so far took under `seconds`.
double median_seconds(const std::function<void()>& f, double seconds) {
    f();
    std::vector<double> times;
    const auto start = std::chrono::steady_clock::now();
    while (times.size() < 3 || seconds_since(start) < seconds) {
        const auto t0 = std::chrono::steady_clock::now();
        f();
        times.push_back(seconds_since(t0));
    }
    std::sort(times.begin(), times.end());
    return times[times.size() / 2];
}

void print_peak(const FmaPeak& p) {
    std::printf(
        "{\"peak\": \"%s\", \"lanes\": %d, \"chains\": %d, \"threads\": %d, \"gflops\": %.2f, "
        "\"gflops_per_core\": %.2f}\n",
        p.isa, p.lanes, p.chains, p.threads, p.gflops, p.gflops_per_core);
}

// A convolution for --conv: N×C×H×H input, O outputs, a K×K kernel, stride 1, padding K/2, no bias.
struct ConvShape {
    int64_t n = 32, c = 64, h = 56, o = 64, k = 3;
    std::string text() const {
        const auto s = [](int64_t v) { return std::to_string(v); };
        return s(k) + "x" + s(k) + " " + s(c) + "->" + s(o) + " pad " + s(k / 2) + " on " + s(n) + "x" + s(c) + "x" +
               s(h) + "x" + s(h);
    }
};

// The convolution `shape` (by default 3×3, 64 → 64, padding 1, on 32×64×56×56), no bias, float32: forward
// (no tape), and forward + backward (dx and dW, from a random dy), each the median of its calls; as seconds
// and GFLOP/s of the direct convolution's multiply-adds (2·N·O·H·W·C·K² forward, twice that backward),
// beside the FMA peak measured by the same process just before at the same thread count.
void conv(int threads, double seconds, const ConvShape& shape) {
    tg::set_num_threads(threads);
    const FmaPeak peak = fma_peak(threads);
    const auto [n, c, hw, o, k] = shape;
    tg::manual_seed(0);
    tg::Conv2d layer(c, o, k, 1, k / 2, /*bias=*/false);
    tg::Tensor x = tg::randn({n, c, hw, hw});
    const tg::Tensor dy = tg::randn({n, o, hw, hw});
    const double fwd = median_seconds([&] { (void)layer(x); }, seconds / 3);
    x.requires_grad_();
    const double fb = median_seconds(
        [&] {
            x.zero_grad();
            layer.zero_grad();
            tg::Tape tape;
            tape.backward(layer(x), dy);
        },
        2 * seconds / 3);
    const double fwd_gflop = 2.0 * double(n * o * hw * hw * c * k * k) / 1e9;
    const double fb_gflop = 3 * fwd_gflop;
    std::printf(
        "{\"conv\": \"%s\", \"threads\": %d, \"simd\": \"%s\", \"peak\": \"%s\", "
        "\"peak_gflops\": %.2f, \"fwd_s\": %.5f, \"fb_s\": %.5f, \"fwd_gflop\": %.3f, \"fb_gflop\": %.3f, "
        "\"fwd_gflops\": %.2f, \"fb_gflops\": %.2f, \"fwd_of_peak\": %.3f, \"fb_of_peak\": %.3f}\n",
        shape.text().c_str(), threads, tg::simd_level(), peak.isa, peak.gflops, fwd, fb, fwd_gflop, fb_gflop,
        fwd_gflop / fwd, fb_gflop / fb, fwd_gflop / fwd / peak.gflops, fb_gflop / fb / peak.gflops);
}

}  // namespace

int main(int argc, char** argv) {
    std::string net_name;
    int threads = 1, steps = 0, warmup = 2;
    int64_t batch = 0;
    double seconds = 3.0;
    bool list = false, info = false, peak = false, conv_bench = false;
    std::vector<int64_t> conv_shape;
    std::vector<std::string> names;
    for (const NetSpec& s : nets()) names.push_back(s.name);
    CLI::App app{
        "Training throughput of several networks (tapegrad's side of bench/torch_nets.py), the FMA peak, "
        "and a 3x3 convolution as a share of it"};
    app.add_option("--net", net_name, "the network to train")->check(CLI::IsMember(names));
    app.add_option("--threads", threads)->capture_default_str()->check(CLI::PositiveNumber);
    app.add_option("--batch", batch, "0: the net's own (64; the diffusion block 4)")->capture_default_str();
    app.add_option("--seconds", seconds, "timed training (or convolution) seconds")->capture_default_str();
    app.add_option("--steps", steps, "timed steps instead of --seconds (0: by time)")->capture_default_str();
    app.add_option("--warmup", warmup, "untimed steps first")->capture_default_str()->check(CLI::PositiveNumber);
    app.add_flag("--list", list, "one JSON line per net: name, default batch, whether this build has it");
    app.add_flag("--info", info, "one JSON line: the SIMD level of tapegrad's kernels and OpenBLAS's kernel set");
    app.add_flag("--peak", peak, "the float32 FMA peak at --threads threads");
    app.add_flag("--conv", conv_bench, "Conv2d 3x3 64->64 on 32x64x56x56, forward and forward+backward, and the peak");
    app.add_option("--conv-shape", conv_shape,
                   "with --conv, another convolution: N,C,H,O,K for N×C×H×H in, O out, K×K (K odd), padding K/2")
        ->delimiter(',')
        ->expected(5)
        ->check(CLI::PositiveNumber);
    CLI11_PARSE(app, argc, argv);
    if (batch < 0 || steps < 0 || !(seconds > 0)) {
        std::fprintf(stderr, "bench_nets: expected --batch >= 0, --steps >= 0 and --seconds > 0, got %lld, %d and %g\n",
                     static_cast<long long>(batch), steps, seconds);
        return 2;
    }
    if (list) {
        for (const NetSpec& s : nets())
            std::printf("{\"net\": \"%s\", \"batch\": %lld}\n", s.name.c_str(), static_cast<long long>(s.batch));
    } else if (info) {
        std::printf("{\"simd\": \"%s\", \"blas\": \"%s\"}\n", tg::simd_level(), tg::blas_core());
    } else if (peak) {
        print_peak(fma_peak(threads));
    } else if (conv_bench) {
        ConvShape shape;
        if (!conv_shape.empty()) {
            if (conv_shape[4] % 2 == 0) {
                std::fprintf(stderr, "bench_nets: --conv-shape expects an odd kernel size K, got %lld\n",
                             static_cast<long long>(conv_shape[4]));
                return 2;
            }
            shape = {conv_shape[0], conv_shape[1], conv_shape[2], conv_shape[3], conv_shape[4]};
        }
        conv(threads, seconds, shape);
    } else {
        const auto spec =
            std::find_if(nets().begin(), nets().end(), [&](const NetSpec& s) { return s.name == net_name; });
        if (spec == nets().end()) {
            std::fprintf(stderr, "bench_nets: give --net (one of %s), --list, --peak or --conv\n",
                         CLI::detail::join(names, ", ").c_str());
            return 2;
        }
        try {
            train(*spec, threads, batch > 0 ? batch : spec->batch, seconds, steps, warmup);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "%s\n", e.what());
            return 1;
        }
    }
}
