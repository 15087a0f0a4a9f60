// MPI checks of tapegrad::distributed, run by mpirun (tests/distributed/run.sh); each mode
// exits non-zero with a message when its check fails.
//   equivalence  W ranks × batch 64/W against one process × batch 64 on the same data order,
//                50 SGD steps (momentum, weight decay): per-step losses and final parameters
//                agree within relative 1e-5. Rank 0 runs the one-process reference itself
//                after the distributed run. The only difference between the two is the order
//                of the gradient (and loss) sums: per rank over its 64/W samples, then over
//                ranks, against one sum over 64; the data, the initial model and every update
//                are the same.
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
    std::printf("equivalence: %d ranks x batch %lld against 1 x %lld, %lld steps: losses %.6f -> %.6f (reference %.6f -> %.6f); "
                "worst relative difference: loss %.2e, parameters %.2e (limit 1e-5)\n",
                dist::world_size(), (long long)(global_batch / dist::world_size()), (long long)global_batch,
                (long long)steps, distributed.losses.front(), distributed.losses.back(), reference.losses.front(),
                reference.losses.back(), worst_loss, worst_parameter);
    if (dist::world_size() < 2) { std::printf("FAIL: run with at least 2 ranks\n"); return 1; }
    const bool ok = worst_loss <= 1e-5 && worst_parameter <= 1e-5 && reference.losses.back() < reference.losses.front();
    if (!ok) std::printf("FAIL\n");
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
        if (const auto* counter = std::get_if<tg::LongTensor>(&value)) tg::LongTensor(*counter).data()[0] = 7 + dist::rank();
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
        if (mode == "broadcast") return broadcast();
        if (mode == "stall") return stall();
        if (mode == "buckets") return buckets();
        std::fprintf(stderr, "usage: dist_check equivalence|broadcast|stall|buckets\n");
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "dist_check: %s\n", e.what());
        std::fflush(stderr);
        dist::abort(3);
    }
}
