// LayerNorm and BatchNorm2d speed, float32, at 1 and 2 threads: forward (no tape) and forward +
// backward (x, γ, β gradients), through the public layers as a user calls them. LayerNorm on
// transformer-like rows, normalised over the last dimension (elementwise_affine on);
// BatchNorm2d in training mode (batch statistics, and the running statistics updated on every
// call, as in a training step) on GroupNorm's reference shapes. PyTorch's side:
// bench/torch_norm_shapes.py. Counters: GB/s of the minimal traffic (forward reads x and writes
// y: 8 B/element; backward reads x and dy and writes dx: 12). The label is the shape, "4096x768".
#include <benchmark/benchmark.h>

#include <tapegrad/tapegrad.hpp>

#include <string>
#include <vector>

namespace tg = tapegrad;

namespace {

// (*, M), normalised over M.
const std::vector<tg::Shape> kLayerNormShapes = {
    {4096, 768},       // BERT-base: 8 sequences of 512 tokens
    {4096, 1024},      // BERT-large
    {64, 197, 384},    // ViT-S/16 at 224×224: 196 patches and the class token
    {8, 1024, 512},    // a 512-wide transformer on 1,024-token sequences
    {16384, 64},       // short rows: a small model's hidden size, or a per-head norm
};

// (N, C, H, W): bench_group_norm's five reference shapes, without the groups.
const std::vector<tg::Shape> kBatchNormShapes = {
    {32, 64, 56, 56},
    {8, 256, 28, 28},
    {128, 32, 14, 14},
    {64, 32, 28, 28},
    {4, 512, 7, 7},
};

std::string label(const tg::Shape& dims) {
    std::string l;
    for (size_t i = 0; i < dims.size(); ++i) l += (i ? "x" : "") + std::to_string(dims[i]);
    return l;
}

void set_labels(benchmark::State& state, const tg::Shape& dims, double bytes_per_element) {
    double elements = 1;
    for (int64_t d : dims) elements *= double(d);
    state.counters["GBps"] = benchmark::Counter(
        elements * bytes_per_element, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
    state.SetLabel(label(dims));
}

void BM_LayerNormForward(benchmark::State& state) {
    const tg::Shape& dims = kLayerNormShapes[state.range(0)];
    tg::set_num_threads(static_cast<int>(state.range(1)));
    tg::LayerNorm ln({dims.back()});
    const tg::Tensor x = tg::randn(dims);
    for (auto _ : state) benchmark::DoNotOptimize(ln(x).data());
    set_labels(state, dims, 8.0);
}

void BM_LayerNormForwardBackward(benchmark::State& state) {
    const tg::Shape& dims = kLayerNormShapes[state.range(0)];
    tg::set_num_threads(static_cast<int>(state.range(1)));
    tg::LayerNorm ln({dims.back()});
    tg::Tensor x = tg::randn(dims);
    x.requires_grad_();
    const tg::Tensor dy = tg::randn(x.shape());
    for (auto _ : state) {
        x.zero_grad();
        ln.zero_grad();
        tg::Tape tape;
        tape.backward(ln(x), dy);
        benchmark::DoNotOptimize(x.grad().data());
    }
    set_labels(state, dims, 8.0 + 12.0);
}

void BM_BatchNorm2dForward(benchmark::State& state) {
    const tg::Shape& dims = kBatchNormShapes[state.range(0)];
    tg::set_num_threads(static_cast<int>(state.range(1)));
    tg::BatchNorm2d bn(dims[1]);  // training mode
    const tg::Tensor x = tg::randn(dims);
    for (auto _ : state) benchmark::DoNotOptimize(bn(x).data());
    set_labels(state, dims, 8.0);
}

void BM_BatchNorm2dForwardBackward(benchmark::State& state) {
    const tg::Shape& dims = kBatchNormShapes[state.range(0)];
    tg::set_num_threads(static_cast<int>(state.range(1)));
    tg::BatchNorm2d bn(dims[1]);
    tg::Tensor x = tg::randn(dims);
    x.requires_grad_();
    const tg::Tensor dy = tg::randn(x.shape());
    for (auto _ : state) {
        x.zero_grad();
        bn.zero_grad();
        tg::Tape tape;
        tape.backward(bn(x), dy);
        benchmark::DoNotOptimize(x.grad().data());
    }
    set_labels(state, dims, 8.0 + 12.0);
}

void shapes_and_threads(benchmark::internal::Benchmark* b, size_t shapes) {
    for (int threads : {1, 2})
        for (int64_t i = 0; i < int64_t(shapes); ++i) b->Args({i, threads});
    b->ArgNames({"shape", "threads"})->Unit(benchmark::kMillisecond)->UseRealTime();
}
void layer_norm_shapes(benchmark::internal::Benchmark* b) { shapes_and_threads(b, kLayerNormShapes.size()); }
void batch_norm_shapes(benchmark::internal::Benchmark* b) { shapes_and_threads(b, kBatchNormShapes.size()); }

}  // namespace

BENCHMARK(BM_LayerNormForward)->Apply(layer_norm_shapes);
BENCHMARK(BM_LayerNormForwardBackward)->Apply(layer_norm_shapes);
BENCHMARK(BM_BatchNorm2dForward)->Apply(batch_norm_shapes);
BENCHMARK(BM_BatchNorm2dForwardBackward)->Apply(batch_norm_shapes);

// BENCHMARK_MAIN, with the SIMD level in the JSON's context beside the CPU Google Benchmark reports.
int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::AddCustomContext("simd", tg::simd_level());
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
