// Op speed, float32, at 1 and 2 threads: forward (no tape) and forward + backward (the gradients
// of every operand), through the public ops as a user calls them: broadcast element-wise ops,
// reductions along a dim, and GroupNorm composed from primitives. One row of kRows per
// expression; PyTorch's side is bench/torch_ops.py, whose ROWS carry the same labels (adding an
// expression is one line in each table). The label names the op (with its dim or groups) and
// the operand shapes, "mul 64x256x28x28 256x1x1", "sum(-1) 64x256x784".
#include <benchmark/benchmark.h>

#include <tapegrad/tapegrad.hpp>

#include <functional>
#include <string>
#include <vector>

namespace tg = tapegrad;

namespace {

// GroupNorm as examples/compose/main.cpp composes it: statistics over each (sample, group) of
// (N, C, H, W) through reshape, mean and var, then the per-channel affine map, weight and bias
// of shape (C) viewed as (C, 1, 1).
tg::Tensor composed_group_norm(const tg::Tensor& x, int64_t groups, const tg::Tensor& weight,
                               const tg::Tensor& bias, double eps) {
    const tg::Tensor xg = tg::reshape(x, {x.size(0), groups, -1});
    const tg::Tensor mean = tg::mean(xg, {-1}, /*keepdim=*/true);
    const tg::Tensor var = tg::var(xg, {-1}, /*correction=*/0, /*keepdim=*/true);
    const tg::Tensor xhat = tg::reshape((xg - mean) * tg::rsqrt(var + float(eps)), x.shape());
    const tg::Shape per_channel{weight.numel(), 1, 1};
    return xhat * tg::reshape(weight, per_channel) + tg::reshape(bias, per_channel);
}

struct Row {
    std::string op;
    std::vector<tg::Shape> operands;
    std::function<tg::Tensor(const std::vector<tg::Tensor>&)> f;
};

const std::vector<Row> kRows = {
    {"mul", {{64, 256, 28, 28}, {256, 1, 1}}, [](const auto& in) { return in[0] * in[1]; }},
    {"add", {{64, 256, 28, 28}, {256, 1, 1}}, [](const auto& in) { return in[0] + in[1]; }},
    {"mul", {{64, 256, 28, 28}, {64, 1, 28, 28}}, [](const auto& in) { return in[0] * in[1]; }},
    {"add", {{64, 256, 28, 28}, {64, 1, 28, 28}}, [](const auto& in) { return in[0] + in[1]; }},
    {"sum(1)", {{64, 256, 784}}, [](const auto& in) { return tg::sum(in[0], 1); }},
    {"sum(-1)", {{64, 256, 784}}, [](const auto& in) { return tg::sum(in[0], -1); }},
    {"mean(1)", {{64, 256, 784}}, [](const auto& in) { return tg::mean(in[0], 1); }},
    {"mean(-1)", {{64, 256, 784}}, [](const auto& in) { return tg::mean(in[0], -1); }},
    {"amax(1)", {{64, 256, 784}}, [](const auto& in) { return tg::amax(in[0], 1); }},
    {"amax(-1)", {{64, 256, 784}}, [](const auto& in) { return tg::amax(in[0], -1); }},
    {"group_norm/32", {{16, 64, 32, 32}, {64}, {64}},
     [](const auto& in) { return composed_group_norm(in[0], 32, in[1], in[2], 1e-5); }},
    {"group_norm/32", {{32, 64, 56, 56}, {64}, {64}},
     [](const auto& in) { return composed_group_norm(in[0], 32, in[1], in[2], 1e-5); }},
};

std::string label(const Row& row) {
    std::string l = row.op;
    for (const tg::Shape& s : row.operands) {
        l += ' ';
        for (size_t i = 0; i < s.size(); ++i) l += (i ? "x" : "") + std::to_string(s[i]);
    }
    return l;
}

std::vector<tg::Tensor> operands(const Row& row, bool requires_grad) {
    tg::Generator gen(0);
    std::vector<tg::Tensor> in;
    for (const tg::Shape& s : row.operands) in.push_back(tg::randn<float>(s, &gen, requires_grad));
    return in;
}

void BM_OpsForward(benchmark::State& state) {
    const Row& row = kRows[static_cast<size_t>(state.range(0))];
    tg::set_num_threads(static_cast<int>(state.range(1)));
    const std::vector<tg::Tensor> in = operands(row, false);
    for (auto _ : state) benchmark::DoNotOptimize(row.f(in).data());
    state.SetLabel(label(row));
}

void BM_OpsForwardBackward(benchmark::State& state) {
    const Row& row = kRows[static_cast<size_t>(state.range(0))];
    tg::set_num_threads(static_cast<int>(state.range(1)));
    const std::vector<tg::Tensor> in = operands(row, true);
    const tg::Tensor dy = tg::randn(row.f(in).shape());
    for (auto _ : state) {
        for (const tg::Tensor& x : in) x.zero_grad();
        tg::Tape tape;
        tape.backward(row.f(in), dy);
        benchmark::DoNotOptimize(in.back().grad().data());
    }
    state.SetLabel(label(row));
}

void rows_and_threads(benchmark::internal::Benchmark* b) {
    for (int threads : {1, 2})
        for (int64_t i = 0; i < int64_t(kRows.size()); ++i) b->Args({i, threads});
    b->ArgNames({"row", "threads"})->Unit(benchmark::kMillisecond)->UseRealTime();
}

}  // namespace

BENCHMARK(BM_OpsForward)->Apply(rows_and_threads);
BENCHMARK(BM_OpsForwardBackward)->Apply(rows_and_threads);

// BENCHMARK_MAIN, with the SIMD level in the JSON's context beside the CPU Google Benchmark reports.
int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::AddCustomContext("simd", tg::simd_level());
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
