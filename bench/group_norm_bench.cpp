// GroupNorm speed, float32, at 1 and 2 threads: forward (no tape) and forward + backward
// (x, γ, β gradients), through the public layer as a user calls it. The shapes: first the five
// reference shapes, then shapes users meet elsewhere; PyTorch's side of all of them is
// bench/torch_gn_shapes.py, whose SHAPES lists the same in the same order. Counters: GB/s of
// the minimal traffic (forward reads x and writes y: 8 B/element; backward reads x and dy and
// writes dx: 12). The label is the shape as "32x64x56x56/32" (dims, then G).
#include <benchmark/benchmark.h>

#include <tapegrad/tapegrad.hpp>

#include <string>
#include <vector>

namespace tg = tapegrad;

namespace {

struct GnShape {
    tg::Shape dims;  // (N, C, *), rank >= 3
    int64_t G;
};
const std::vector<GnShape> kShapes = {
    // The five reference shapes, first: the 32x64x56x56 one is also compare.py's STREAM size.
    {{32, 64, 56, 56}, 32},
    {{8, 256, 28, 28}, 32},
    {{128, 32, 14, 14}, 8},
    {{64, 32, 28, 28}, 8},
    {{4, 512, 7, 7}, 32},
    // Diffusion-model U-Nets at 64×64 latents (GroupNorm(32, C) in every ResNet block).
    {{1, 512, 64, 64}, 32},
    {{2, 320, 64, 64}, 32},
    // (N, C, L): a 1-D conv net on sequences (audio, time series).
    {{16, 256, 1024}, 32},
    // (N, C, D, H, W): a video / 3-D conv net, 8 frames of 32×32.
    {{2, 64, 8, 32, 32}, 32},
};

std::string label(const GnShape& s) {
    std::string l;
    for (size_t i = 0; i < s.dims.size(); ++i) l += (i ? "x" : "") + std::to_string(s.dims[i]);
    return l + "/" + std::to_string(s.G);
}

void set_labels(benchmark::State& state, const GnShape& s, double bytes_per_element) {
    double elements = 1;
    for (int64_t d : s.dims) elements *= double(d);
    state.counters["GBps"] = benchmark::Counter(
        elements * bytes_per_element, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
    state.SetLabel(label(s));
}

void BM_GroupNormForward(benchmark::State& state) {
    const GnShape& s = kShapes[state.range(0)];
    tg::set_num_threads(static_cast<int>(state.range(1)));
    tg::GroupNorm gn(s.G, s.dims[1]);
    const tg::Tensor x = tg::randn(s.dims);
    for (auto _ : state) benchmark::DoNotOptimize(gn(x).data());
    set_labels(state, s, 8.0);
}

void BM_GroupNormForwardBackward(benchmark::State& state) {
    const GnShape& s = kShapes[state.range(0)];
    tg::set_num_threads(static_cast<int>(state.range(1)));
    tg::GroupNorm gn(s.G, s.dims[1]);
    tg::Tensor x = tg::randn(s.dims);
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
        for (int64_t i = 0; i < int64_t(kShapes.size()); ++i) b->Args({i, threads});
    b->ArgNames({"shape", "threads"})->Unit(benchmark::kMillisecond)->UseRealTime();
}

}  // namespace

BENCHMARK(BM_GroupNormForward)->Apply(shapes_and_threads);
BENCHMARK(BM_GroupNormForwardBackward)->Apply(shapes_and_threads);

// BENCHMARK_MAIN, with the SIMD level and OpenBLAS's kernel set in the JSON's context beside the CPU Google Benchmark
// reports.
int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::AddCustomContext("simd", tg::simd_level());
    benchmark::AddCustomContext("blas", tg::blas_core());
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
