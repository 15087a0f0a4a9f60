// GroupNorm speed on the reference shapes of ../shared/tools/torch_reference/torch_gn_bench.py,
// float32, at 1 and 2 threads: forward (no tape) and forward + backward (x, γ, β gradients),
// through the public layer as a user calls it. Counters: GB/s of the minimal traffic
// (forward reads x and writes y: 8 B/element; backward reads x and dy and writes dx: 12).
#include <benchmark/benchmark.h>

#include <tapegrad/tapegrad.hpp>

namespace tg = tapegrad;

namespace {

struct GnShape {
    int64_t N, C, H, W, G;
};
constexpr GnShape kShapes[] = {
    {32, 64, 56, 56, 32}, {8, 256, 28, 28, 32}, {128, 32, 14, 14, 8}, {64, 32, 28, 28, 8}, {4, 512, 7, 7, 32},
};

void set_labels(benchmark::State& state, const GnShape& s, double bytes_per_element) {
    const double elements = double(s.N * s.C * s.H * s.W);
    state.counters["GBps"] = benchmark::Counter(elements * bytes_per_element, benchmark::Counter::kIsIterationInvariantRate,
                                                benchmark::Counter::kIs1000);
    state.SetLabel(std::to_string(s.N) + "x" + std::to_string(s.C) + "x" + std::to_string(s.H) + "x" +
                   std::to_string(s.W) + "/" + std::to_string(s.G));
}

void BM_GroupNormForward(benchmark::State& state) {
    const GnShape s = kShapes[state.range(0)];
    tg::set_num_threads(static_cast<int>(state.range(1)));
    tg::GroupNorm gn(s.G, s.C);
    const tg::Tensor x = tg::randn({s.N, s.C, s.H, s.W});
    for (auto _ : state) benchmark::DoNotOptimize(gn(x).data());
    set_labels(state, s, 8.0);
}

void BM_GroupNormForwardBackward(benchmark::State& state) {
    const GnShape s = kShapes[state.range(0)];
    tg::set_num_threads(static_cast<int>(state.range(1)));
    tg::GroupNorm gn(s.G, s.C);
    tg::Tensor x = tg::randn({s.N, s.C, s.H, s.W});
    x.requires_grad_();
    const tg::Tensor dy = tg::randn(x.shape());
    for (auto _ : state) {
        x.zero_grad();
        gn.zero_grad();
        tg::Tape tape;
        tape.backward(gn(x), dy);
        benchmark::DoNotOptimize(x.grad().data());
    }
    set_labels(state, s, 8.0 + 12.0);
}

void shapes_and_threads(benchmark::internal::Benchmark* b) {
    for (int threads : {1, 2})
        for (int64_t i = 0; i < int64_t(std::size(kShapes)); ++i) b->Args({i, threads});
    b->ArgNames({"shape", "threads"})->Unit(benchmark::kMillisecond)->UseRealTime();
}

}  // namespace

BENCHMARK(BM_GroupNormForward)->Apply(shapes_and_threads);
BENCHMARK(BM_GroupNormForwardBackward)->Apply(shapes_and_threads);
BENCHMARK_MAIN();
