// One SGD training step of the reference CNN (bench/reference_cnn.hpp) at batch 64, float32,
// 1 and 2 threads: forward, cross-entropy, backward and the SGD update (lr 0.05, momentum 0.9,
// weight decay 5e-4). Counter: images per second. Also conv2d forward and forward+backward at
// the reference network's two shapes.
#include <benchmark/benchmark.h>

#include <tapegrad/tapegrad.hpp>

#include "reference_cnn.hpp"

namespace tg = tapegrad;

namespace {

void BM_TrainStep(benchmark::State& state) {
    tg::set_num_threads(static_cast<int>(state.range(0)));
    tg::manual_seed(0);
    const int64_t batch = 64;
    tg::Sequential net = reference_cnn();
    tg::SGD opt(net.parameters(), {.lr = 0.05, .momentum = 0.9, .weight_decay = 5e-4});
    const tg::Tensor x = tg::randn({batch, 1, 28, 28});
    std::vector<int64_t> y(batch);
    for (int64_t i = 0; i < batch; ++i) y[size_t(i)] = i % 10;
    for (auto _ : state) {
        tg::Tape tape;
        const tg::Tensor loss = tg::cross_entropy(net(x), y);
        opt.zero_grad();
        tape.backward(loss);
        opt.step();
    }
    state.counters["images_per_s"] =
        benchmark::Counter(double(batch), benchmark::Counter::kIsIterationInvariantRate);
}

// conv (in → out, 3×3, padding 1) on (64, in, hw, hw): forward, and forward + backward.
void BM_Conv2d(benchmark::State& state) {
    const int64_t in = state.range(0), out = state.range(1), hw = state.range(2);
    const bool backward = state.range(3) != 0;
    tg::set_num_threads(static_cast<int>(state.range(4)));
    tg::Conv2d conv(in, out, 3, 1, 1);
    tg::Tensor x = tg::randn({64, in, hw, hw});
    x.requires_grad_(backward);
    const tg::Tensor dy = tg::randn({64, out, hw, hw});
    for (auto _ : state) {
        if (!backward) {
            benchmark::DoNotOptimize(conv(x).data());
            continue;
        }
        x.zero_grad();
        conv.zero_grad();
        tg::Tape tape;
        tape.backward(conv(x), dy);
    }
}

}  // namespace

BENCHMARK(BM_TrainStep)->ArgName("threads")->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Conv2d)
    ->ArgNames({"in", "out", "hw", "backward", "threads"})
    ->ArgsProduct({{1}, {32}, {28}, {0, 1}, {1, 2}})
    ->ArgsProduct({{32}, {64}, {14}, {0, 1}, {1, 2}})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_MAIN();
