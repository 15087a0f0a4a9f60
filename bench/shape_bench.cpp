// Shape ops against the copy they cannot beat: every shape op is one strided gather, so a
// plain reshape (one contiguous copy of the same bytes) is the floor for each of them.
// Run: ./build/release/bench/bench_shape [--benchmark_filter=transpose]
#include <benchmark/benchmark.h>

#include <vector>

#include <tapegrad/tapegrad.hpp>

namespace tg = tapegrad;

namespace {

const tg::Tensor& activations() {  // (32, 64, 56, 56): a CNN's first feature map, 25 MB
    static const tg::Tensor x = tg::randn({32, 64, 56, 56});
    return x;
}

void reshape_copy(benchmark::State& state) {
    for (auto _ : state) benchmark::DoNotOptimize(tg::reshape(activations(), {32, -1}));
}
void permute_nchw_to_nhwc(benchmark::State& state) {
    for (auto _ : state) benchmark::DoNotOptimize(tg::permute(activations(), {0, 2, 3, 1}));
}
void transpose_square(benchmark::State& state) {
    const tg::Tensor m = tg::randn({state.range(0), state.range(0)});
    for (auto _ : state) benchmark::DoNotOptimize(tg::transpose(m, 0, 1));
}
void narrow_channels(benchmark::State& state) {
    for (auto _ : state) benchmark::DoNotOptimize(tg::narrow(activations(), 1, 16, 32));
}
void cat_channels(benchmark::State& state) {
    const std::vector<tg::Tensor> parts = {activations(), activations()};
    for (auto _ : state) benchmark::DoNotOptimize(tg::cat(parts, 1));
}
void upsample_by_2(benchmark::State& state) {
    for (auto _ : state) benchmark::DoNotOptimize(tg::upsample_nearest2d(activations(), 2));
}

}  // namespace

BENCHMARK(reshape_copy)->Unit(benchmark::kMillisecond);
BENCHMARK(permute_nchw_to_nhwc)->Unit(benchmark::kMillisecond);
BENCHMARK(transpose_square)->Arg(1000)->Arg(2048)->Unit(benchmark::kMillisecond);
BENCHMARK(narrow_channels)->Unit(benchmark::kMillisecond);
BENCHMARK(cat_channels)->Unit(benchmark::kMillisecond);
BENCHMARK(upsample_by_2)->Unit(benchmark::kMillisecond);
BENCHMARK_MAIN();
