// Fashion-MNIST: trains the reference CNN (two 3×3 convolutions, each followed by GroupNorm
// (or --norm's choice), ReLU and 2×2 max-pooling, then two linear layers) with SGD + momentum
// (or --optimizer adam / adamw) and a cosine learning-rate schedule, evaluating on the 10,000
// test images after every epoch.
// Writes metrics.jsonl, a checkpoint per epoch, the final model, and a learning-curve plot
// into --out; --resume continues a run from its checkpoint on the same trajectory.
// --distributed (under mpirun, when built with MPI) trains data-parallel: each rank takes
// batch/world images of every step and gradients are averaged; only rank 0 prints and writes.
// The step, epoch and evaluation loops are examples/common/training.hpp's.
#include <tapegrad/tapegrad.hpp>
#ifdef TAPEGRAD_HAVE_MPI
#include "framework/distributed/distributed.hpp"
#include "framework/distributed/reducer.hpp"
#endif

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "examples/common/training.hpp"

namespace tg = tapegrad;
namespace td = tapegrad::data;
namespace ex = examples;
namespace fs = std::filesystem;

struct Config {
    int64_t epochs = 12;
    int64_t batch_size = 64;
    std::string optimizer = "sgd";  // sgd | adam | adamw; a checkpoint without it is an SGD run's
    double lr = 0.05;               // the optimizer's default unless --lr is given (OptimizerDefaults)
    double momentum = 0.9;
    double weight_decay = 5e-4;     // likewise
    std::string norm = "gn";   // gn | bn | ln | in | none
    int64_t groups = 8;        // GroupNorm groups after conv1; conv2 (twice the channels) gets twice as many
    bool augment = false;
    int threads = 2;
    uint64_t seed = 0;
    int64_t limit_train = 0;   // 0: all 60,000 training images
    int64_t limit_test = 0;    // 0: all 10,000 test images
    int64_t world_size = 1;    // processes sharing each batch (--distributed); a resume needs the same
};

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE_WITH_DEFAULT(Config, epochs, batch_size, optimizer, lr, momentum, weight_decay, norm,
                                                groups, augment, threads, seed, limit_train, limit_test, world_size)

// The flags: a run's Config (saved in its checkpoints) and what only this invocation uses.
struct Options {
    Config config;
    std::string data_dir = td::default_fashion_mnist_dir().string(), out_dir = "runs/fashion_mnist";
    std::string resume, export_path;
    int64_t stop_after = 0;
    bool distributed = false, no_overlap = false;
    double bucket_mb = 25;
};

namespace {

// --lr and --weight-decay when not given, per optimizer. SGD's are the reference's. Adam's are
// PyTorch's (lr 1e-3, no decay). AdamW's reached 93.01% test accuracy in 12 epochs with the
// cosine schedule (seed 0, --threads 1, on a 2-core AMD EPYC, Zen 3); its decoupled decay is
// far larger than SGD's L2 term, as it is multiplied by lr rather than added to the gradient.
struct OptimizerDefaults {
    const char* name;
    double lr, weight_decay;
};
constexpr OptimizerDefaults optimizer_defaults[] = {{"sgd", 0.05, 5e-4}, {"adam", 1e-3, 0.0}, {"adamw", 2e-3, 5e-2}};

const OptimizerDefaults& defaults_of(const std::string& optimizer) {
    for (const auto& d : optimizer_defaults)
        if (optimizer == d.name) return d;
    throw std::runtime_error("unknown optimizer " + optimizer);
}

// " (default: sgd 0.05, adam 0.001, adamw 0.002)" for --help.
std::string defaults_text(double OptimizerDefaults::*value) {
    std::string text = " (default:";
    for (const auto& d : optimizer_defaults) {
        char number[32];
        std::snprintf(number, sizeof number, "%g", d.*value);
        text += std::string(&d == optimizer_defaults ? " " : ", ") + d.name + " " + number;
    }
    return text + ")";
}

// The configured optimizer over the network's parameters, one group.
std::unique_ptr<tg::BasicOptimizer<float>> make_optimizer(const Config& c, const std::vector<tg::Tensor>& params) {
    if (c.optimizer == "adam")
        return std::make_unique<tg::Adam>(params, tg::AdamOptions{.lr = c.lr, .weight_decay = c.weight_decay});
    if (c.optimizer == "adamw")
        return std::make_unique<tg::AdamW>(params, tg::AdamWOptions{.lr = c.lr, .weight_decay = c.weight_decay});
    defaults_of(c.optimizer);  // sgd, or an error naming it
    return std::make_unique<tg::SGD>(
        params, tg::SGDOptions{.lr = c.lr, .momentum = c.momentum, .weight_decay = c.weight_decay});
}

// The reference CNN: conv 1→32 3×3 pad 1, norm, ReLU, maxpool 2; conv 32→64 3×3 pad 1, norm,
// ReLU, maxpool 2; flatten; linear 3136→128, ReLU; linear 128→10. Small enough to train on two
// cores in minutes, with a norm after each convolution to compare. With GroupNorm it is
// bench/reference_cnn.hpp's network, layer for layer (the same state_dict names).
tg::Sequential make_model(const Config& c) {
    tg::Sequential net;
    auto block = [&](int64_t in, int64_t out, int64_t groups) {
        net.add(tg::Conv2d(in, out, 3, /*stride=*/1, /*padding=*/1));
        if (c.norm == "gn") net.add(tg::GroupNorm(groups, out));
        if (c.norm == "bn") net.add(tg::BatchNorm2d(out));
        // LN as Wu & He's (and examples/gn_vs_bn's): statistics over (C, H, W), per-channel γ, β.
        if (c.norm == "ln") net.add(tg::GroupNorm(1, out));
        if (c.norm == "in") net.add(tg::InstanceNorm2d(out, 1e-5, 0.1, /*affine=*/true));
        net.add(tg::ReLU());
        net.add(tg::MaxPool2d(2));
    };
    block(1, 32, c.groups);
    block(32, 64, 2 * c.groups);
    net.add(tg::Flatten());
    net.add(tg::Linear(64 * 7 * 7, 128));
    net.add(tg::ReLU());
    net.add(tg::Linear(128, 10));
    return net;
}

// Reads the flags into o; returns the exit status when the program ends here (--help, a bad flag).
std::optional<int> parse_options(int argc, char** argv, Options& o) {
    Config& c = o.config;
    CLI::App app{"Train the reference CNN on Fashion-MNIST with tapegrad"};
    app.add_option("--epochs", c.epochs, "Epochs (the cosine schedule spans them all)")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    app.add_option("--batch-size", c.batch_size, "Images per optimizer step")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    app.add_option("--optimizer", c.optimizer,
                   "SGD with momentum, Adam (L2 weight decay) or AdamW (decoupled weight decay)")
        ->capture_default_str()
        ->check(CLI::IsMember({"sgd", "adam", "adamw"}));
    auto* lr_option = app.add_option("--lr", c.lr, "Initial learning rate" + defaults_text(&OptimizerDefaults::lr))
                          ->check(CLI::NonNegativeNumber);
    app.add_option("--momentum", c.momentum, "SGD momentum")->capture_default_str()->check(CLI::NonNegativeNumber);
    auto* decay_option = app.add_option("--weight-decay", c.weight_decay,
                                        "Weight decay: SGD's and Adam's an L2 term in the gradient, AdamW's decoupled" +
                                            defaults_text(&OptimizerDefaults::weight_decay))
                             ->check(CLI::NonNegativeNumber);
    app.add_option("--norm", c.norm,
                   "Normalisation after each convolution: GroupNorm, BatchNorm2d, LN = GroupNorm(1, C), "
                   "InstanceNorm2d (affine), or none")
        ->capture_default_str()
        ->check(CLI::IsMember({"gn", "bn", "ln", "in", "none"}));
    app.add_option("--groups", c.groups, "GroupNorm groups after conv1 (32 channels); conv2 (64) gets twice as many")
        ->capture_default_str()
        ->check(CLI::IsMember({1, 2, 4, 8, 16, 32}));
    app.add_flag("--augment", c.augment, "Random crop (padding 2) and horizontal flip");
    app.add_option("--threads", c.threads, "Threads for kernels and BLAS")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    app.add_option("--seed", c.seed, "Seed of initialisation, shuffling and augmentation")->capture_default_str();
    app.add_option("--limit-train", c.limit_train, "Use only the first N training images (0: all)")
        ->capture_default_str();
    app.add_option("--limit-test", c.limit_test, "Use only the first N test images (0: all)")->capture_default_str();
    app.add_option("--data-dir", o.data_dir, "Directory of the Fashion-MNIST .gz files")->capture_default_str();
    app.add_option("--out", o.out_dir, "Directory for metrics, checkpoints and the plot")->capture_default_str();
    app.add_option("--resume", o.resume, "Continue from this checkpoint; its settings replace the flags above");
    app.add_option("--export", o.export_path,
                   "Also write the trained model here as safetensors, for PyTorch "
                   "(docs/io.md: \"Exchanging weights with PyTorch\")");
    app.add_option("--stop-after", o.stop_after, "Stop after this epoch, as if interrupted (0: run to the end)");
    app.add_flag("--distributed", o.distributed,
                 "Data-parallel over the ranks of mpirun: each takes batch-size/world images of a step");
    app.add_option("--bucket-mb", o.bucket_mb, "--distributed: megabytes of gradients per allreduce bucket")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    app.add_flag("--no-overlap", o.no_overlap, "--distributed: reduce all buckets after backward instead of during it");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    }
    if (lr_option->count() == 0) c.lr = defaults_of(c.optimizer).lr;
    if (decay_option->count() == 0) c.weight_decay = defaults_of(c.optimizer).weight_decay;
    return std::nullopt;
}

// This process's place among those sharing the training, and all that --distributed needs of
// MPI: a world of one without --distributed, or in a build without MPI (which refuses it).
class World {
  public:
    // Starts MPI when the program was started by mpirun (in a build with MPI).
    World(int& argc, char**& argv)
#ifdef TAPEGRAD_HAVE_MPI
        : mpi_(argc, argv)
#endif
    {
        (void)argc, (void)argv;
    }

    // With --distributed, mpirun's ranks; without MPI, --distributed is an error.
    void join(bool distributed) {
#ifdef TAPEGRAD_HAVE_MPI
        if (distributed) rank_ = tg::distributed::rank(), size_ = tg::distributed::world_size();
#else
        if (distributed)
            throw std::runtime_error(
                "--distributed: this build has no MPI (apt-get install libopenmpi-dev, then rebuild)");
#endif
    }
    int rank() const { return rank_; }
    int size() const { return size_; }
    bool is_main() const { return rank_ == 0; }

    // Sums over the ranks (nothing in a world of one).
    void sum(std::vector<double>& values, std::vector<int64_t>& counts) const {
#ifdef TAPEGRAD_HAVE_MPI
        if (size_ > 1) {
            tg::distributed::allreduce_sum(std::span<double>(values), "the metrics' sums");
            tg::distributed::allreduce_sum(std::span<int64_t>(counts), "the metrics' counts");
        }
#else
        (void)values, (void)counts;
#endif
    }

    // In a world of more than one: every replica starts from rank 0's parameters and buffers,
    // and a reducer averages the gradients of each step, bucket by bucket.
    void share(tg::Sequential& net, const Options& o) {
#ifdef TAPEGRAD_HAVE_MPI
        if (size_ == 1) return;
        tg::distributed::broadcast(net.state_dict());
        const int64_t bucket_bytes = int64_t(o.bucket_mb * 1024 * 1024);
        reducer_.emplace(net.parameters(),
                         tg::distributed::ReducerOptions{.bucket_bytes = bucket_bytes, .overlap = !o.no_overlap});
        std::printf("%d processes x batch %lld, %lld gradient bucket%s, reduced %s backward\n", size_,
                    (long long)(o.config.batch_size / size_), (long long)reducer_->num_buckets(),
                    reducer_->num_buckets() > 1 ? "s" : "", o.no_overlap ? "after" : "during");
#else
        (void)net, (void)o;
#endif
    }

    // What each step does around its backward: the reducer's work, when there is one.
    ex::StepHooks step_hooks() {
#ifdef TAPEGRAD_HAVE_MPI
        if (reducer_)
            return {.before_backward = [this](tg::Tape& tape) { reducer_->attach(tape); },
                    .after_backward =
                        [this] {
                            reducer_->finish();
                            wait_seconds_ += reducer_->last_finish_seconds();
                        }};
#endif
        return {};
    }

    // Seconds the steps since the last call waited, from the end of backward to averaged gradients.
    double take_wait_seconds() { return std::exchange(wait_seconds_, 0.0); }

    // Reports e (naming the rank in a world of more than one) and stops the other ranks too.
    int fail(const std::exception& e) const {
        if (size_ > 1)
            std::fprintf(stderr, "fashion_mnist: rank %d: %s\n", rank_, e.what());
        else
            std::fprintf(stderr, "fashion_mnist: %s\n", e.what());
#ifdef TAPEGRAD_HAVE_MPI
        if (size_ > 1) tg::distributed::abort(1);
#endif
        return 1;
    }

  private:
#ifdef TAPEGRAD_HAVE_MPI
    tg::distributed::Environment mpi_;
    std::optional<tg::distributed::Reducer> reducer_;
#endif
    int rank_ = 0, size_ = 1;
    double wait_seconds_ = 0.0;
};

// metrics.jsonl, keeping the lines of epochs up to `keep_through` (a resumed run rewrites the rest).
void truncate_metrics(const fs::path& path, int64_t keep_through) {
    std::ifstream in(path);
    std::vector<std::string> kept;
    for (std::string line; std::getline(in, line);)
        if (!line.empty() && nlohmann::json::parse(line).at("epoch").get<int64_t>() <= keep_through)
            kept.push_back(line);
    in.close();
    const fs::path tmp = path.string() + ".tmp";
    {
        std::ofstream out(tmp, std::ios::trunc);
        for (const auto& line : kept) out << line << '\n';
    }
    fs::rename(tmp, path);
}

void plot_learning_curve(const fs::path& dir) {
    const fs::path script = dir / "learning_curve.gp";
    std::ofstream gp(script);
    gp << "set terminal png size 900,400\n"
       << "set output '" << (dir / "learning_curve.png").string() << "'\n"
       << "set multiplot layout 1,2 title 'tapegrad: reference CNN on Fashion-MNIST'\n"
       << "set xlabel 'epoch'\nset grid\nset key right top\n"
       << "set ylabel 'loss'\n"
       << "plot '" << (dir / "metrics.tsv").string()
       << "' using 1:2 with linespoints title 'train', '' using 1:4 with linespoints title 'test'\n"
       << "set ylabel 'accuracy'\nset key right bottom\n"
       << "plot '' using 1:3 with linespoints title 'train', '' using 1:5 with linespoints title 'test'\n"
       << "unset multiplot\n";
    gp.close();
    {
        std::ifstream metrics(dir / "metrics.jsonl");
        std::ofstream tsv(dir / "metrics.tsv");
        for (std::string line; std::getline(metrics, line);) {
            const auto m = nlohmann::json::parse(line);
            tsv << m["epoch"] << '\t' << m["train_loss"] << '\t' << m["train_accuracy"] << '\t' << m["test_loss"]
                << '\t' << m["test_accuracy"] << '\n';
        }
    }
    const std::string command = "gnuplot '" + script.string() + "' 2>&1";
    if (std::system(command.c_str()) == 0)
        std::printf("learning curve: %s\n", (dir / "learning_curve.png").c_str());
    else
        std::printf("gnuplot is not available or failed; the data is in %s\n", (dir / "metrics.tsv").c_str());
}

void print_confusion(const ex::Evaluation& e) {
    std::printf("\nconfusion matrix (rows: true class, columns: predicted)\n%14s", "");
    for (int p = 0; p < 10; ++p) std::printf("%6d", p);
    std::printf("   accuracy\n");
    for (size_t t = 0; t < 10; ++t) {
        int64_t total = 0;
        for (int64_t v : e.confusion[t]) total += v;
        std::printf("%d %-12s", int(t), std::string(td::FashionMNIST::class_names[t]).c_str());
        for (int64_t v : e.confusion[t]) std::printf("%6lld", (long long)v);
        std::printf("   %.3f\n", total ? double(e.confusion[t][t]) / double(total) : 0.0);
    }
}

// The checkpoint of --resume, whose settings replace the flags', and the checks of the world:
// the same number of processes as the run it continues, and a batch they can share.
std::optional<tg::Checkpoint> settle_config(Options& o, const World& world) {
    Config& c = o.config;
    std::optional<tg::Checkpoint> checkpoint;
    if (!o.resume.empty()) {
        checkpoint = tg::Checkpoint::load(o.resume);
        c = nlohmann::json::parse(checkpoint->config().dump()).get<Config>();
        if (c.world_size != world.size())
            throw std::runtime_error("--resume: " + o.resume + " was written by a run on " +
                                     std::to_string(c.world_size) + " process(es), but this run has " +
                                     std::to_string(world.size()) + "; resume with the same world size (mpirun -np " +
                                     std::to_string(c.world_size) + ")");
        std::printf("resuming %s after epoch %lld (settings from the checkpoint)\n", o.resume.c_str(),
                    (long long)checkpoint->epoch);
    }
    c.world_size = world.size();
    if (c.batch_size % world.size() != 0)
        throw std::runtime_error("--batch-size " + std::to_string(c.batch_size) + " must be a multiple of the " +
                                 std::to_string(world.size()) + " processes");
    return checkpoint;
}

// The training images, shuffled per epoch (and augmented), this rank's share of each batch.
td::LoaderOptions train_options(const Config& c, const World& world) {
    td::LoaderOptions o{.batch_size = c.batch_size / world.size(),
                        .shuffle = true,
                        .seed = c.seed,
                        .augment = {.crop_padding = c.augment ? 2 : 0, .horizontal_flip = c.augment}};
    if (world.size() > 1) o.shard = td::ShardOptions{.rank = world.rank(), .world = world.size()};
    return o;
}

void print_setup(const Config& c, int64_t train_images, int64_t test_images) {
    std::printf("%lld training images, %lld test images, batch %lld, %d thread%s\n", (long long)train_images,
                (long long)test_images, (long long)c.batch_size, c.threads, c.threads > 1 ? "s" : "");
    std::printf("optimizer %s, lr %g (cosine over %lld epochs), weight decay %g", c.optimizer.c_str(), c.lr,
                (long long)c.epochs, c.weight_decay);
    if (c.optimizer == "sgd") std::printf(", momentum %g", c.momentum);
    std::printf("\n");
}

// What an epoch works on.
struct Run {
    const Options& o;
    World& world;
    tg::Sequential& net;
    tg::BasicOptimizer<float>& opt;
    tg::CosineAnnealingLR& schedule;
    td::Loader& loader;
    const td::Dataset& test;
    fs::path out;
};

// The model, optimizer, schedule and random state of the checkpoint; metrics.jsonl keeps its
// epochs. Returns the epoch to continue with.
int64_t restore(const tg::Checkpoint& checkpoint, const Run& r) {
    r.net.load_state_dict(checkpoint.model);  // float32 tensors and, with --norm bn, int64 counts
    r.opt.load_state_dict(checkpoint.optimizer);
    r.schedule.load_state_dict(checkpoint.scheduler);
    tg::default_generator().set_state(checkpoint.rng_state("default"));
    if (r.world.is_main()) truncate_metrics(r.out / "metrics.jsonl", checkpoint.epoch);
    return checkpoint.epoch;
}

// Loss, correct predictions and images summed over the ranks; batches stay this rank's (all take as many).
void sum_over_ranks(ex::Totals& t, const World& world) {
    std::vector<double> sums{t.loss_sum};
    std::vector<int64_t> counts{t.correct, t.images};
    world.sum(sums, counts);
    t.loss_sum = sums[0];
    t.correct = counts[0];
    t.images = counts[1];
}

// Each rank evaluates its share of the test set (every world-th image); the sums are reduced.
ex::Evaluation evaluate_on_ranks(const Run& r) {
    td::LoaderOptions o{.batch_size = 1000, .shuffle = false};
    if (r.world.size() > 1)
        o.shard = td::ShardOptions{
            .rank = r.world.rank(), .world = r.world.size(), .balance = td::ShardOptions::Balance::none};
    ex::Evaluation e = ex::evaluate(r.net, r.test, 10, o);
    std::vector<double> sums{e.loss_sum};
    std::vector<int64_t> counts{e.correct, e.images};
    for (const auto& row : e.confusion) counts.insert(counts.end(), row.begin(), row.end());
    r.world.sum(sums, counts);
    e.loss_sum = sums[0];
    e.correct = counts[0];
    e.images = counts[1];
    for (size_t t = 0; t < 10; ++t)
        for (size_t p = 0; p < 10; ++p) e.confusion[t][p] = counts[2 + t * 10 + p];
    return e;
}

// One epoch: trains with a progress line, steps the schedule, evaluates, prints the epoch's
// summary and appends it to metrics.jsonl.
ex::Evaluation run_epoch(int64_t epoch, const Run& r) {
    const Config& c = r.o.config;
    r.loader.set_epoch(epoch);
    ex::Progress progress(epoch + 1, c.epochs, r.loader.size());
    const auto start = ex::Clock::now();
    const auto show = [&](const ex::Totals& so_far) {
        // Rank 0's own loss, and every rank's images (all take the same steps).
        progress.update(so_far.batches, so_far.mean_loss(), so_far.images * r.world.size());
    };
    ex::Totals t = ex::train_epoch(r.net, r.opt, r.loader, {.hooks = r.world.step_hooks(), .after_step = show});
    sum_over_ranks(t, r.world);
    const double wait_seconds = r.world.take_wait_seconds();
    if (r.world.size() > 1)
        std::printf("gradient allreduce: %.2f ms a step waited for after backward\n",
                    1e3 * wait_seconds / double(t.batches));
    const double train_seconds = ex::seconds_since(start);
    const double lr = r.opt.lr();
    r.schedule.step();
    const ex::Evaluation e = evaluate_on_ranks(r);
    const double seconds = ex::seconds_since(start);
    std::printf("epoch %lld/%lld  train loss %.4f acc %.4f  test loss %.4f acc %.4f  lr %.4f  %.1f s (%.0f img/s)\n",
                (long long)epoch + 1, (long long)c.epochs, t.mean_loss(), t.accuracy(), e.mean_loss(), e.accuracy(), lr,
                seconds, double(t.images) / train_seconds);
    const nlohmann::json m = {{"epoch", epoch + 1},
                              {"train_loss", t.mean_loss()},
                              {"train_accuracy", t.accuracy()},
                              {"test_loss", e.mean_loss()},
                              {"test_accuracy", e.accuracy()},
                              {"lr", lr},
                              {"seconds", seconds},
                              {"images_per_second", double(t.images) / train_seconds}};
    if (r.world.is_main()) std::ofstream(r.out / "metrics.jsonl", std::ios::app) << m.dump() << '\n';
    return e;
}

void save_checkpoint(int64_t epochs_done, const Run& r) {
    tg::Checkpoint ck;
    ck.model = r.net.state_dict();
    ck.optimizer = r.opt.state_dict();
    ck.scheduler = r.schedule.state_dict();
    ck.epoch = epochs_done;
    ck.rng = {{"default", tg::default_generator().state()}};
    ck.config() = nlohmann::ordered_json::parse(nlohmann::json(r.o.config).dump());
    if (r.world.is_main()) ck.save(r.out / "checkpoint.cbor");
}

// The end of a run: the model (and its export), the learning curve, the confusion matrix and
// the final line.
void finish(ex::Evaluation last, ex::Clock::time_point run_start, const Run& r) {
    if (last.confusion.empty()) last = evaluate_on_ranks(r);  // a resume with no epoch left to train
    if (r.world.is_main()) tg::save(r.net, r.out / "model.cbor");
    if (!r.o.export_path.empty() && r.world.is_main()) {
        tg::save_safetensors(r.net, r.o.export_path,
                             {{"format", "pt"}, {"norm", r.o.config.norm}, {"producer", "tapegrad fashion_mnist"}});
        std::printf("exported the model to %s (safetensors)\n", r.o.export_path.c_str());
    }
    if (r.world.is_main()) plot_learning_curve(r.out);
    print_confusion(last);
    std::printf("\nfinal test accuracy %.4f after %lld epochs (this run: %s); model: %s\n", last.accuracy(),
                (long long)r.o.config.epochs, ex::clock_text(ex::seconds_since(run_start)).c_str(),
                (r.out / "model.cbor").c_str());
}

}  // namespace

int main(int argc, char** argv) {
    World world(argc, argv);  // first: MPI_Init when started by mpirun
    Options o;
    if (const std::optional<int> status = parse_options(argc, argv, o)) return *status;
    try {
        world.join(o.distributed);
        // Only rank 0 prints; the others keep stderr for errors.
        if (!world.is_main() && std::freopen("/dev/null", "w", stdout) == nullptr) return 1;
        const std::optional<tg::Checkpoint> checkpoint = settle_config(o, world);
        const Config& c = o.config;
        tg::set_num_threads(c.threads);
        tg::manual_seed(c.seed);
        fs::create_directories(o.out_dir);

        td::FashionMNIST train = td::load_fashion_mnist(o.data_dir, td::Split::Train);
        td::FashionMNIST test = td::load_fashion_mnist(o.data_dir, td::Split::Test);
        if (c.limit_train > 0) train = train.subset(std::min(c.limit_train, train.size()));
        if (c.limit_test > 0) test = test.subset(std::min(c.limit_test, test.size()));

        tg::Sequential net = make_model(c);
        const auto optimizer = make_optimizer(c, net.parameters());
        tg::CosineAnnealingLR schedule(*optimizer, c.epochs);
        td::Loader loader(train, train_options(c, world));
        const Run run{o, world, net, *optimizer, schedule, loader, test, o.out_dir};
        int64_t start_epoch = 0;
        if (checkpoint) {
            start_epoch = restore(*checkpoint, run);
        } else {
            std::printf("%s\n", net.repr().c_str());
            if (world.is_main()) std::ofstream(run.out / "metrics.jsonl", std::ios::trunc);
        }
        print_setup(c, train.size(), test.size());
        world.share(net, o);  // only with --distributed: under mpirun without it, each process trains alone

        ex::Evaluation last;
        const auto run_start = ex::Clock::now();
        for (int64_t epoch = start_epoch; epoch < c.epochs; ++epoch) {
            last = run_epoch(epoch, run);
            save_checkpoint(epoch + 1, run);
            if (o.stop_after > 0 && epoch + 1 >= o.stop_after && epoch + 1 < c.epochs) {
                std::printf("stopping after epoch %lld as asked; continue with --resume %s\n", (long long)epoch + 1,
                            (run.out / "checkpoint.cbor").c_str());
                return 0;
            }
        }
        finish(last, run_start, run);
    } catch (const std::exception& e) {
        return world.fail(e);
    }
}
