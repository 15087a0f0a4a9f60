// Shape ops: the shape-only ones (reshape, flatten, ...) are views and cost no pass over the
// values; each other one is one strided gather, whose floor is a contiguous copy of the same
// bytes (clone). group_norm_composed shows what views save in a layer built from primitives.
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

void reshape_view(benchmark::State& state) {
    for (auto _ : state) benchmark::DoNotOptimize(tg::reshape(activations(), {32, -1}));
}
void clone_copy(benchmark::State& state) {
    for (auto _ : state) benchmark::DoNotOptimize(activations().clone());
}
// GroupNorm(8, 64) forward + backward on (16, 64, 56, 56), composed from primitives as
// reshape (1, N·G, -1) → instance_norm (per-group statistics) → reshape back → affine; against
// the fused group_norm op. With views, the two reshapes cost nothing either way.
void group_norm_composed(benchmark::State& state) {
    tg::Generator gen(1);
    tg::Tensor x = tg::randn({16, 64, 56, 56}, &gen, true);
    tg::Tensor w = tg::ones({64}, true), b = tg::zeros({64}, true);
    for (auto _ : state) {
        tg::Tape tape;
        const tg::Tensor groups = tg::reshape(x, {1, 16 * 8, -1});
        const tg::Tensor y = tg::reshape(tg::instance_norm(groups), x.shape()) * w + b;
        tape.backward(tg::sum(y));
        benchmark::DoNotOptimize(x.grad().data());
        x.zero_grad(), w.zero_grad(), b.zero_grad();
    }
}
void group_norm_fused(benchmark::State& state) {
    tg::Generator gen(1);
    tg::Tensor x = tg::randn({16, 64, 56, 56}, &gen, true);
    tg::Tensor w = tg::ones({64}, true), b = tg::zeros({64}, true);
    for (auto _ : state) {
        tg::Tape tape;
        tape.backward(tg::sum(tg::group_norm(x, 8, w, b)));
        benchmark::DoNotOptimize(x.grad().data());
        x.zero_grad(), w.zero_grad(), b.zero_grad();
    }
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

BENCHMARK(reshape_view)->Unit(benchmark::kMicrosecond);
BENCHMARK(clone_copy)->Unit(benchmark::kMillisecond);
BENCHMARK(group_norm_composed)->Unit(benchmark::kMillisecond);
BENCHMARK(group_norm_fused)->Unit(benchmark::kMillisecond);
BENCHMARK(permute_nchw_to_nhwc)->Unit(benchmark::kMillisecond);
BENCHMARK(transpose_square)->Arg(1000)->Arg(2048)->Unit(benchmark::kMillisecond);
BENCHMARK(narrow_channels)->Unit(benchmark::kMillisecond);
BENCHMARK(cat_channels)->Unit(benchmark::kMillisecond);
BENCHMARK(upsample_by_2)->Unit(benchmark::kMillisecond);
BENCHMARK_MAIN();
