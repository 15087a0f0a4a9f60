// MPI checks of tapegrad::distributed, run by mpirun (tests/distributed/run.sh); each mode
// exits non-zero with a message when its check fails.
//   equivalence  W ranks × batch 64/W against one process × batch 64 on the same data order,
//                50 SGD steps (momentum, weight decay): per-step losses and final parameters
//                agree within relative 1e-5. Rank 0 runs the one-process reference itself
//                after the distributed run. The only difference between the two is the order
//                of the gradient (and loss) sums: per rank over its 64/W samples, then over
//                ranks, against one sum over 64; the data, the initial model and every update
//                are the same.
//   batch_norm   BatchNorm's virtual batches are the data-parallel path: W ranks, each with a plain
//                BatchNorm2d on its contiguous chunk of B = 16/W samples and averaged gradients,
//                against one process with BatchNorm2d(virtual_batch_size = B) on the whole batch
//                of 16 (every rank also runs that reference), conv + BN + ReLU + linear, 3 SGD
//                steps (momentum): per step the rank's chunk of the output, the loss and the
//                averaged gradients; after them the parameters, and the running statistics
//                AVERAGED over the ranks (each rank's own are its chunk's alone) — all within
//                relative 1e-5. As a control, plain BatchNorm over all 16 must differ by far more.
//   broadcast    replicas seeded differently (and with different buffers of all three dtypes)
//                are identical after broadcast(state_dict()).
//   stall        rank 1 stops answering; rank 0's gradient wait must end in a timeout error.
//   buckets      the bucket layout: reverse registration order, the first bucket closing at
//                first_bucket_bytes (DDP's 1 MiB), the others at bucket_bytes; bad sizes rejected.
#include <tapegrad/tapegrad.hpp>

#include "framework/distributed/distributed.hpp"
#include "framework/distributed/reducer.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace tg = tapegrad;
namespace td = tapegrad::data;
namespace dist = tapegrad::distributed;

namespace {

// 1×12×12 images of a faint fixed pattern per class under strong noise, 10 classes: hard enough
// that the loss stays well above 0 over the 50 steps, so relative loss differences mean something.
class Synthetic final : public td::Dataset {
  public:
    explicit Synthetic(int64_t n) : n_(n) {}
    int64_t size() const override { return n_; }
    tg::Shape sample_shape() const override { return {1, 12, 12}; }
    int64_t get_into(int64_t index, float* out) const override {
        tg::Generator gen(uint64_t(index) * 7919 + 1);
        const int64_t label = index % 10;
        for (int64_t k = 0; k < 144; ++k)
            out[k] = 0.08f * float((k * (label + 3)) % 11) / 11.0f + 0.92f * float(gen.below(1000)) / 1000.0f;
        return label;
    }

  private:
    int64_t n_;
};

tg::Sequential make_model() {
    tg::Sequential net;
    net.add(tg::Conv2d(1, 8, 3, 1, 1));
    net.add(tg::GroupNorm(4, 8));
    net.add(tg::ReLU());
    net.add(tg::MaxPool2d(2));
    net.add(tg::Flatten());
    net.add(tg::Linear(8 * 6 * 6, 32));
    net.add(tg::ReLU());
    net.add(tg::Linear(32, 10));
    return net;
}

constexpr int64_t global_batch = 64, steps = 50;

struct Run {
    std::vector<double> losses;
    std::vector<std::vector<float>> parameters;
};

// `world` ranks of batch global_batch/world when sharded; one process of global_batch otherwise.
Run train(bool sharded, int64_t bucket_bytes) {
    tg::manual_seed(0);
    tg::Sequential net = make_model();
    const Synthetic data(global_batch * 10);
    const int world = sharded ? dist::world_size() : 1;
    td::LoaderOptions o{.batch_size = global_batch / world, .seed = 3, .mean = {0.5f}, .std = {0.3f}};
    if (sharded) o.shard = td::ShardOptions{.rank = dist::rank(), .world = world};
    td::Loader loader(data, o);
    tg::SGD opt(net.parameters(), {.lr = 0.05, .momentum = 0.9, .weight_decay = 5e-4});
    dist::Reducer reducer(net.parameters(), {.bucket_bytes = bucket_bytes});
    if (sharded && reducer.num_buckets() < 2) throw std::logic_error("the check needs at least two buckets");
    Run run;
    while (int64_t(run.losses.size()) < steps)
        for (auto& [x, y] : loader) {
            if (int64_t(run.losses.size()) == steps) break;
            tg::Tape tape;
            const tg::Tensor loss = tg::cross_entropy(net(x), y);
            opt.zero_grad();
            if (sharded) reducer.attach(tape);
            tape.backward(loss);
            if (sharded) reducer.finish();
            opt.step();
            std::vector<double> l{double(loss.item()) / world};
            if (sharded) dist::allreduce_sum(std::span<double>(l), "the step's loss");
            run.losses.push_back(l[0]);
        }
    for (const tg::Tensor& p : net.parameters()) run.parameters.push_back(p.to_vector());
    return run;
}

int equivalence() {
    // Buckets of 4 KB: several per step, so reductions really overlap backward here.
    const Run distributed = train(true, 4096);
    if (!dist::is_main()) return 0;
    const Run reference = train(false, 4096);
    double worst_loss = 0, worst_parameter = 0;
    for (int64_t s = 0; s < steps; ++s)
        worst_loss = std::max(worst_loss, std::abs(distributed.losses[size_t(s)] - reference.losses[size_t(s)]) /
                                              std::abs(reference.losses[size_t(s)]));
    for (size_t i = 0; i < reference.parameters.size(); ++i) {
        double diff = 0, norm = 0;
        for (size_t j = 0; j < reference.parameters[i].size(); ++j) {
            diff += std::pow(double(distributed.parameters[i][j]) - double(reference.parameters[i][j]), 2);
            norm += std::pow(double(reference.parameters[i][j]), 2);
        }
        worst_parameter = std::max(worst_parameter, std::sqrt(diff / norm));
    }
    std::printf(
        "equivalence: %d ranks x batch %lld against 1 x %lld, %lld steps: losses %.6f -> %.6f (reference %.6f -> "
        "%.6f); "
        "worst relative difference: loss %.2e, parameters %.2e (limit 1e-5)\n",
        dist::world_size(), (long long)(global_batch / dist::world_size()), (long long)global_batch, (long long)steps,
        distributed.losses.front(), distributed.losses.back(), reference.losses.front(), reference.losses.back(),
        worst_loss, worst_parameter);
    if (dist::world_size() < 2) { std::printf("FAIL: run with at least 2 ranks\n"); return 1; }
    const bool ok = worst_loss <= 1e-5 && worst_parameter <= 1e-5 && reference.losses.back() < reference.losses.front();
    if (!ok) std::printf("FAIL\n");
    return ok ? 0 : 1;
}

// conv + BatchNorm2d (ghost batches of `group` when set) + ReLU + linear, on 2×6×6 inputs. The
// convolution has no bias: BatchNorm removes any per-channel constant, so its gradient would be
// 0 plus rounding, which no relative comparison can hold.
tg::Sequential make_bn_model(std::optional<int64_t> group) {
    tg::manual_seed(0);  // the same initial parameters for every model and rank
    tg::Sequential net;
    net.add(tg::Conv2d(2, 4, 3, 1, 1, /*bias=*/false));
    net.add(tg::BatchNorm2d(tg::BatchNormOptions{.num_features = 4, .virtual_batch_size = group}));
    net.add(tg::ReLU());
    net.add(tg::Flatten());
    net.add(tg::Linear(4 * 6 * 6, 5));
    return net;
}

// Rows [first, first + count) of x as a tensor of their own.
tg::Tensor rows(const tg::Tensor& x, int64_t first, int64_t count) {
    tg::Shape shape = x.shape();
    const int64_t row = x.numel() / shape[0];
    shape[0] = count;
    const std::vector<float> all = x.to_vector();
    return tg::from_vector<float>(shape,
                                  std::vector<float>(all.begin() + first * row, all.begin() + (first + count) * row));
}

// sqrt(Σ(a − b)² / Σ b²): the distance of a from b relative to b's size.
double relative(const std::vector<double>& a, const std::vector<double>& b) {
    double diff = 0, norm = 0;
    for (size_t i = 0; i < b.size(); ++i) {
        diff += (a[i] - b[i]) * (a[i] - b[i]);
        norm += b[i] * b[i];
    }
    return a.size() == b.size() ? std::sqrt(diff / norm) : INFINITY;
}
std::vector<double> doubles(const tg::Tensor& t) {
    const std::vector<float> v = t.to_vector();
    return {v.begin(), v.end()};
}

int batch_norm() {
    constexpr int64_t batch = 16, steps = 3;
    const int world = dist::world_size(), rank = dist::rank();
    if (world < 2 || batch % world != 0) {
        std::printf("FAIL: run with 2 or 4 ranks (a batch of %lld shared evenly)\n", (long long)batch);
        return 1;
    }
    const int64_t group = batch / world;
    tg::Sequential local = make_bn_model(std::nullopt), ghost = make_bn_model(group);
    dist::broadcast(local.state_dict());  // as the data-parallel path starts (already equal here)
    tg::SGD local_opt(local.parameters(), {.lr = 0.1, .momentum = 0.9});
    tg::SGD ghost_opt(ghost.parameters(), {.lr = 0.1, .momentum = 0.9});
    dist::Reducer reducer(local.parameters());
    double worst = 0, control = 0;
    std::string worst_what = "nothing";
    auto compare = [&](const std::string& what, const std::vector<double>& ours, const std::vector<double>& want) {
        const double d = relative(ours, want);
        if (!(d <= worst)) worst = d, worst_what = what;
    };
    for (int64_t step = 1; step <= steps; ++step) {
        tg::Generator gen(uint64_t(100 + step));  // the same batch on every rank
        const tg::Tensor x = tg::randn({batch, 2, 6, 6}, &gen);
        std::vector<int64_t> labels(batch);
        for (int64_t& l : labels) l = int64_t(gen.below(5));
        const std::string at = "step " + std::to_string(step) + ": ";

        // The reference: one process, the whole batch in ghost batches of `group`.
        tg::Tensor ghost_out, ghost_loss;
        ghost_opt.zero_grad();
        {
            tg::Tape tape;
            ghost_out = ghost(x);
            ghost_loss = tg::cross_entropy(ghost_out, labels);
            tape.backward(ghost_loss);
        }
        if (step == 1) {  // plain BatchNorm over the whole batch: what the check must tell apart
            tg::Sequential plain = make_bn_model(std::nullopt);
            control = relative(doubles(plain(x)), doubles(ghost_out));
        }
        // This rank's share: its chunk, its own BatchNorm statistics, gradients averaged.
        const std::vector<int64_t> mine(labels.begin() + rank * group, labels.begin() + (rank + 1) * group);
        tg::Tensor out, loss;
        local_opt.zero_grad();
        {
            tg::Tape tape;
            out = local(rows(x, rank * group, group));
            loss = tg::cross_entropy(out, mine);
            reducer.attach(tape);
            tape.backward(loss);
            reducer.finish();
        }
        std::vector<double> mean_loss{double(loss.item()) / world};
        dist::allreduce_sum(std::span<double>(mean_loss), "the step's loss");
        compare(at + "output", doubles(out), doubles(rows(ghost_out, rank * group, group)));
        compare(at + "loss", mean_loss, {double(ghost_loss.item())});
        const auto named = local.named_parameters(), ghost_named = ghost.named_parameters();
        for (size_t i = 0; i < named.size(); ++i)
            compare(at + "gradient of " + named[i].first, doubles(named[i].second.grad()),
                    doubles(ghost_named[i].second.grad()));
        local_opt.step();
        ghost_opt.step();
    }
    const auto named = local.named_parameters(), ghost_named = ghost.named_parameters();
    for (size_t i = 0; i < named.size(); ++i)
        compare("parameter " + named[i].first + " after the steps", doubles(named[i].second),
                doubles(ghost_named[i].second));
    const tg::StateDict state = local.state_dict(), ghost_state = ghost.state_dict();
    for (const std::string name : {"1.running_mean", "1.running_var"}) {
        std::vector<double> averaged = doubles(state.get<float>(name));
        for (double& v : averaged) v /= world;
        dist::allreduce_sum(std::span<double>(averaged), "the running statistics");
        compare(name + " averaged over the ranks", averaged, doubles(ghost_state.get<float>(name)));
    }
    const int64_t counted = state.get<int64_t>("1.num_batches_tracked").data()[0];
    const int64_t ghost_counted = ghost_state.get<int64_t>("1.num_batches_tracked").data()[0];
    // Every rank's verdict, so that rank 0 can say which failed.
    std::vector<double> verdicts(size_t(world) * 2, 0.0);
    verdicts[size_t(rank) * 2] = worst;
    verdicts[size_t(rank) * 2 + 1] = counted == steps && ghost_counted == steps ? 0.0 : 1.0;
    dist::allreduce_sum(std::span<double>(verdicts), "the verdicts");
    bool ok = control > 1e-3;
    double worst_all = 0;
    for (int r = 0; r < world; ++r) {
        worst_all = std::max(worst_all, verdicts[size_t(r) * 2]);
        ok = ok && verdicts[size_t(r) * 2] <= 1e-5 && verdicts[size_t(r) * 2 + 1] == 0.0;
    }
    if (worst > 1e-5) std::printf("rank %d: worst %s, relative difference %.2e\n", rank, worst_what.c_str(), worst);
    if (dist::is_main()) {
        std::printf(
            "batch_norm: %d ranks x batch %lld with local BatchNorm against 1 x %lld with virtual_batch_size "
            "%lld, %lld SGD steps: worst relative difference %.2e over outputs, loss, averaged gradients, "
            "parameters and averaged running statistics (limit 1e-5; on rank 0: %s); plain BatchNorm over "
            "the whole batch differs by %.2e (must exceed 1e-3)\n",
            world, (long long)group, (long long)batch, (long long)group, (long long)steps, worst_all,
            worst_what.c_str(), control);
        if (!ok) std::printf("FAIL\n");
    }
    return ok ? 0 : 1;
}

uint64_t fingerprint(const tg::StateDict& state) {
    uint64_t h = 1469598103934665603ull;
    for (const auto& [name, value] : state.entries())
        std::visit([&](const auto& t) {
            const auto* bytes = reinterpret_cast<const unsigned char*>(t.data());
            for (size_t k = 0; k < size_t(t.numel()) * sizeof(*t.data()); ++k) h = (h ^ bytes[k]) * 1099511628211ull;
        }, value);
    return h;
}

int broadcast() {
    tg::manual_seed(100 + uint64_t(dist::rank()));  // a different initialisation on every rank
    tg::Sequential net = make_model();
    net.add(tg::BatchNorm2d(4));  // float running statistics and an int64 counter
    tg::StateDict state = net.state_dict();
    tg::DoubleTensor extra = tg::full<double>({3}, 1.5 + dist::rank());
    state.add("extra_float64", extra);
    for (const auto& [name, value] : state.entries())
        if (const auto* counter = std::get_if<tg::LongTensor>(&value))
            tg::LongTensor(*counter).data()[0] = 7 + dist::rank();
    auto spread = [&] {  // 1 when the ranks' fingerprints differ
        const uint64_t h = fingerprint(state);
        std::vector<int64_t> low{int64_t(h & 0xffffffff)}, count{1};
        std::vector<double> sum{double(low[0])}, sq{double(low[0]) * double(low[0])};
        dist::allreduce_sum(std::span<double>(sum), "fingerprint");
        dist::allreduce_sum(std::span<double>(sq), "fingerprint");
        const double n = dist::world_size(), mean = sum[0] / n;
        return sq[0] / n - mean * mean > 0.5;
    };
    if (!spread()) { std::printf("FAIL: the replicas should differ before the broadcast\n"); return 1; }
    dist::broadcast(state);
    if (spread()) { std::printf("FAIL: rank %d differs after the broadcast\n", dist::rank()); return 1; }
    if (extra.data()[0] != 1.5) { std::printf("FAIL: float64 entry not broadcast\n"); return 1; }
    if (dist::is_main()) std::printf("broadcast: %d replicas seeded differently are identical after it (%zu tensors)\n",
                                     dist::world_size(), state.size());
    return 0;
}

int stall() {
    dist::set_timeout(2.0);
    if (dist::rank() == 1) {  // a rank that stops answering: it never joins the reduction
        std::this_thread::sleep_for(std::chrono::seconds(30));
        return 0;
    }
    tg::manual_seed(0);
    tg::Sequential net = make_model();
    dist::Reducer reducer(net.parameters());
    tg::Tape tape;
    const tg::Tensor loss = tg::sum(net(tg::randn({2, 1, 12, 12})));
    reducer.attach(tape);
    tape.backward(loss);
    reducer.finish();  // must throw
    std::printf("FAIL: finish() returned although rank 1 never reduced\n");
    return 1;
}

// Five parameters of 1.2 MB, 40 B, 800 KB, 400 KB and 40 B, registered in that order.
int buckets() {
    const std::vector<tg::Tensor> params{tg::Tensor({300000}), tg::Tensor({10}), tg::Tensor({200000}),
                                         tg::Tensor({100000}), tg::Tensor({10})};
    int failures = 0;
    auto expect = [&](const char* what, dist::ReducerOptions options, std::vector<int64_t> want) {
        dist::Reducer reducer(params, options);
        std::vector<int64_t> got;
        for (size_t i = 0; i < params.size(); ++i) got.push_back(reducer.bucket_of(i));
        if (got != want || reducer.num_buckets() != 1 + *std::max_element(want.begin(), want.end())) {
            std::string text;
            for (int64_t b : got) text += " " + std::to_string(b);
            std::printf("FAIL: %s: buckets of the parameters%s, %lld buckets\n", what, text.c_str(),
                        (long long)reducer.num_buckets());
            ++failures;
        }
    };
    // Backward finishes the last parameters first: 40 B + 400 KB is under 1 MiB, + 800 KB closes
    // the first bucket; the rest (40 B, 1.2 MB) go into one 25 MB bucket.
    expect("defaults", {}, {1, 1, 0, 0, 0});
    expect("first bucket as large as the others", {.first_bucket_bytes = 25 << 20}, {0, 0, 0, 0, 0});
    // bucket_bytes below first_bucket_bytes caps the first bucket too: 300 KB closes after 400 KB.
    expect("300 KB buckets", {.bucket_bytes = 300 << 10}, {2, 2, 1, 0, 0});
    expect("1-byte buckets: one parameter each", {.bucket_bytes = 1}, {4, 3, 2, 1, 0});
    for (auto bad : {dist::ReducerOptions{.bucket_bytes = 0}, dist::ReducerOptions{.first_bucket_bytes = -1}}) {
        try {
            dist::Reducer reducer(params, bad);
            std::printf("FAIL: a bucket size below 1 was accepted\n");
            ++failures;
        } catch (const std::invalid_argument& e) {
            if (std::string(e.what()).find("expected") == std::string::npos) {
                std::printf("FAIL: unclear message: %s\n", e.what());
                ++failures;
            }
        }
    }
    if (failures == 0 && dist::is_main()) std::printf("bucket layouts as expected\n");
    return failures == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    dist::Environment env(argc, argv);
    tg::set_num_threads(1);
    const std::string mode = argc > 1 ? argv[1] : "";
    try {
        if (mode == "equivalence") return equivalence();
        if (mode == "batch_norm") return batch_norm();
        if (mode == "broadcast") return broadcast();
        if (mode == "stall") return stall();
        if (mode == "buckets") return buckets();
        std::fprintf(stderr, "usage: dist_check equivalence|batch_norm|broadcast|stall|buckets\n");
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "dist_check: %s\n", e.what());
        std::fflush(stderr);
        dist::abort(3);
    }
}
