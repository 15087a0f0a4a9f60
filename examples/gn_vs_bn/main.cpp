// gn_vs_bn: the batch-size study of Wu & He (2018), "Group Normalization", Figure 1, on
// Fashion-MNIST. A small ResNet whose every norm is BatchNorm, GroupNorm, LayerNorm or
// InstanceNorm is trained at per-step batch sizes 32, 16, 8, 4 and 2 (SGD, momentum 0.9,
// weight decay 5e-4, lr = base·B/32 annealed by a cosine over all steps; same seed and epochs
// for every run) and evaluated on the test set, BatchNorm with its running statistics.
// Writes results.json (after every run, atomically; --resume skips the runs it holds),
// results.md (the table) and study.png (gnuplot: test error against batch size) into --out.
#include <tapegrad/tapegrad.hpp>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "examples/common/training.hpp"

namespace tg = tapegrad;
namespace td = tapegrad::data;
namespace ex = examples;
namespace fs = std::filesystem;
using ex::clock_text;
using ex::Clock;
using ex::seconds_since;
using json = nlohmann::ordered_json;

namespace {

// What a result depends on: a run is (norm, batch size) under these settings, and --resume
// only reuses runs made under equal ones. The thread count is left out: it changes speed.
struct Settings {
    int64_t train_subset = 0;  // balanced: the first train_subset/10 images of each class
    int64_t test_images = 0;   // the first test_images of the 10,000
    int64_t epochs = 0;
    int64_t blocks = 1;        // residual blocks per stage
    double base_lr = 0.1;      // at batch base_batch; lr = base_lr·B/base_batch
    int64_t base_batch = 32;
    double momentum = 0.9;
    double weight_decay = 5e-4;
    uint64_t seed = 0;
};

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Settings, train_subset, test_images, epochs, blocks, base_lr, base_batch, momentum,
                                   weight_decay, seed)

constexpr std::array<const char*, 4> all_norms = {"bn", "gn", "ln", "in"};

// Channels per group in GroupNorm, as the paper's Table 3 (bottom) explores; G = C/8.
constexpr int64_t gn_channels_per_group = 8;

// The divisor G of C whose group width C/G is nearest 8 (the wider group on a tie), so a
// channel count not divisible by 8 still gets groups of about 8 channels: 12 → 2 groups of 6.
int64_t gn_groups(int64_t channels) {
    int64_t best = 1;
    for (int64_t g = 1; g <= channels; ++g) {
        if (channels % g) continue;
        if (std::abs(channels / g - gn_channels_per_group) < std::abs(channels / best - gn_channels_per_group)) best = g;
    }
    return best;
}

// The norm that follows every convolution. LN is GroupNorm(1, C): the paper's LN, statistics
// over (C, H, W) of each sample with a per-channel γ, β, as every norm of the study has;
// tg::LayerNorm({C, H, W}) computes the same statistics but learns one γ and β per element,
// which in this net would be ~130k parameters, more than all its convolutions hold.
std::shared_ptr<tg::Module> make_norm(const std::string& norm, int64_t channels) {
    if (norm == "bn") return std::make_shared<tg::BatchNorm2d>(channels);
    if (norm == "gn") return std::make_shared<tg::GroupNorm>(gn_groups(channels), channels);
    if (norm == "ln") return std::make_shared<tg::GroupNorm>(1, channels);
    if (norm == "in") return std::make_shared<tg::InstanceNorm2d>(channels, 1e-5, 0.1, /*affine=*/true);
    throw std::invalid_argument("unknown norm '" + norm + "' (expected bn, gn, ln or in)");
}

// conv (no bias: the norm's β takes its place), then the norm.
tg::Sequential conv_norm(int64_t in, int64_t out, int64_t kernel, int64_t stride, const std::string& norm) {
    tg::Sequential s;
    s.add(tg::Conv2d(in, out, kernel, stride, /*padding=*/kernel / 2, /*bias=*/false));
    s.add(make_norm(norm, out));
    return s;
}

// ResNet's basic block: relu(conv-norm-relu-conv-norm (x) + shortcut(x)); the shortcut is a
// 1×1 conv + norm where the block changes width or resolution, else the identity.
tg::Residual basic_block(int64_t in, int64_t out, int64_t stride, const std::string& norm) {
    tg::Sequential body;
    body.add(tg::Conv2d(in, out, 3, stride, 1, /*bias=*/false));
    body.add(make_norm(norm, out));
    body.add(tg::ReLU());
    body.add(tg::Conv2d(out, out, 3, 1, 1, /*bias=*/false));
    body.add(make_norm(norm, out));
    if (in == out && stride == 1) return tg::Residual(std::move(body));
    return tg::Residual(std::move(body), conv_norm(in, out, 1, stride, norm));
}

// (N, 1, 28, 28) → stem 3×3 conv 16 + norm + relu → stages of 16 (28×28), 32 (14×14) and
// 64 (7×7) channels → global average pool → linear 64 → 10.
tg::Sequential make_model(const std::string& norm, int64_t blocks) {
    tg::Sequential net;
    net.add(tg::Conv2d(1, 16, 3, 1, 1, /*bias=*/false));
    net.add(make_norm(norm, 16));
    net.add(tg::ReLU());
    int64_t in = 16;
    for (const int64_t width : {16, 32, 64}) {
        for (int64_t b = 0; b < blocks; ++b) {
            net.add(basic_block(in, width, b == 0 && width != 16 ? 2 : 1, norm));
            in = width;
        }
    }
    net.add(tg::AdaptiveAvgPool2d(1));
    net.add(tg::Flatten());
    net.add(tg::Linear(64, 10));
    return net;
}

int64_t parameter_count(const tg::Module& m) {
    int64_t n = 0;
    for (const auto& p : m.parameters()) n += p.numel();
    return n;
}

// The first n/10 images of each class in file order (the first n % 10 classes one more), so
// the subset is balanced and the same for every run.
td::FashionMNIST balanced_subset(const td::FashionMNIST& all, int64_t n) {
    if (n >= all.size()) return all;
    std::array<int64_t, 10> quota{};
    for (int64_t c = 0; c < 10; ++c) quota[size_t(c)] = n / 10 + (c < n % 10 ? 1 : 0);
    std::vector<uint8_t> images;
    std::vector<int64_t> labels;
    for (int64_t i = 0; i < all.size() && int64_t(labels.size()) < n; ++i) {
        const int64_t y = all.label(i);
        if (quota[size_t(y)] == 0) continue;
        --quota[size_t(y)];
        const auto image = all.image(i);
        images.insert(images.end(), image.begin(), image.end());
        labels.push_back(y);
    }
    return td::FashionMNIST(std::move(images), std::move(labels));
}

// Seconds to train on `images` images at batch B and to evaluate `test` images, from the
// speeds measured on this project's 2-core machine (Intel Xeon Processor, Emerald Rapids VM,
// otherwise idle), GroupNorm, blocks = 1: one thread trains ~700 images/s at every batch
// size, two ~1,080 (B = 4…32) and ~980 (B = 2); evaluation runs ~3,000 images/s. The other
// norms cost about the same. Only the plan's estimate uses this.
double estimated_seconds(int64_t batch, int64_t images, int64_t test, int64_t blocks, int threads) {
    const double per_second = threads == 1 ? 700 : batch >= 4 ? 1080 : 980;
    return (double(images) / per_second + double(test) / 3000.0) * double(blocks);
}

std::string cpu_model() {
    std::ifstream in("/proc/cpuinfo");
    for (std::string line; std::getline(in, line);)
        if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
    return "unknown CPU";
}

struct RunSpec {
    std::string norm;
    int64_t batch_size;
};

std::string key(const std::string& norm, int64_t batch) { return norm + "/" + std::to_string(batch); }

void write_atomically(const fs::path& path, const std::string& text) {
    const fs::path tmp = path.string() + ".tmp";
    {
        std::ofstream out(tmp, std::ios::trunc);
        out << text;
        out.flush();
        if (!out) throw std::runtime_error("cannot write " + tmp.string());
    }
    fs::rename(tmp, path);
}

const json* find_run(const json& results, const std::string& norm, int64_t batch) {
    for (const auto& r : results["runs"])
        if (r["norm"] == norm && r["batch_size"] == batch) return &r;
    return nullptr;
}

// Test error in points for each batch size at which `norm` was run, largest batch first.
std::vector<std::pair<int64_t, double>> errors_of(const json& results, const std::string& norm) {
    std::vector<std::pair<int64_t, double>> out;
    for (const auto& r : results["runs"])
        if (r["norm"] == norm) out.emplace_back(r["batch_size"].get<int64_t>(), 100.0 * (1.0 - r["test_accuracy"].get<double>()));
    std::sort(out.begin(), out.end(), [](auto& l, auto& r) { return l.first > r.first; });
    return out;
}

// The paper's two numbers, measured here: GN's spread (max − min test error over the batch
// sizes) and BN's drop (error at the smallest batch − error at the largest).
std::string summary_lines(const json& results) {
    std::ostringstream s;
    char buf[256];
    const auto gn = errors_of(results, "gn"), bn = errors_of(results, "bn");
    if (gn.size() >= 2) {
        auto [lo, hi] = std::minmax_element(gn.begin(), gn.end(), [](auto& l, auto& r) { return l.second < r.second; });
        std::snprintf(buf, sizeof buf,
                      "- GN's spread across batch sizes %lld…%lld: %.2f points (test error %.2f–%.2f%%); paper: 0.2 "
                      "(24.0–24.2%%), target ≤ 0.5\n",
                      (long long)gn.front().first, (long long)gn.back().first, hi->second - lo->second, lo->second,
                      hi->second);
        s << buf;
    }
    if (bn.size() >= 2) {
        std::snprintf(buf, sizeof buf,
                      "- BN's drop from batch %lld to batch %lld: %+.2f points of test error (%.2f%% → %.2f%%); paper, "
                      "32 → 2: +11.1 (23.6%% → 34.7%%)\n",
                      (long long)bn.front().first, (long long)bn.back().first, bn.back().second - bn.front().second,
                      bn.front().second, bn.back().second);
        s << buf;
    }
    return s.str();
}

std::string markdown_table(const json& results, const std::vector<std::string>& norms, const std::vector<int64_t>& batches) {
    const json& st = results["settings"];
    std::ostringstream s;
    s << "Test accuracy % (error % in parentheses) on " << st["test_images"].get<int64_t>()
      << " Fashion-MNIST test images, by norm (rows) and per-step batch size (columns); "
      << st["train_subset"].get<int64_t>() << " training images (balanced), " << st["epochs"].get<int64_t>()
      << " epochs, lr = " << st["base_lr"].get<double>() << "·B/" << st["base_batch"].get<int64_t>()
      << " (cosine), seed " << st["seed"].get<uint64_t>() << ".\n\n| norm |";
    for (int64_t b : batches) s << " B=" << b << " |";
    s << "\n|---|";
    for (size_t i = 0; i < batches.size(); ++i) s << "---:|";
    s << "\n";
    for (const auto& norm : norms) {
        s << "| " << norm << " |";
        for (int64_t b : batches) {
            char cell[64] = " – ";
            if (const json* r = find_run(results, norm, b)) {
                const double acc = 100.0 * (*r)["test_accuracy"].get<double>();
                std::snprintf(cell, sizeof cell, " %.2f (%.2f) ", acc, 100.0 - acc);
            }
            s << cell << "|";
        }
        s << "\n";
    }
    s << "\n" << summary_lines(results);
    double seconds = 0;
    for (const auto& r : results["runs"]) seconds += r["seconds"].get<double>();
    const int threads = results["runs"].back()["threads"].get<int>();
    s << "\nTraining and evaluation time, all runs: " << clock_text(seconds) << " (" << results["cpu"].get<std::string>()
      << ", " << threads << (threads == 1 ? " thread" : " threads") << ").\n";
    return s.str();
}

// study.dat (one block per norm: batch size, test error %) and study.gp → study.png, batch
// size on a log axis from 32 down to 2, as the paper's Figure 1.
void plot(const fs::path& dir, const json& results, const std::vector<std::string>& norms, const std::vector<int64_t>& batches) {
    const std::map<std::string, std::string> titles = {
        {"bn", "BatchNorm"}, {"gn", "GroupNorm"}, {"ln", "LayerNorm"}, {"in", "InstanceNorm"}};
    std::ofstream dat(dir / "study.dat");
    std::vector<std::string> plotted;
    for (const auto& norm : norms) {
        const auto errors = errors_of(results, norm);
        if (errors.empty()) continue;
        dat << "# " << norm << "\n";
        for (auto [b, e] : errors) dat << b << '\t' << e << '\n';
        dat << "\n\n";
        plotted.push_back(norm);
    }
    dat.close();
    if (plotted.empty()) return;
    std::ofstream gp(dir / "study.gp");
    gp << "set terminal pngcairo size 720,440 font ',10'\n"
       << "set output '" << (dir / "study.png").string() << "'\n"
       << "set title 'tapegrad: ResNet on Fashion-MNIST, test error vs batch size'\n"
       << "set logscale x 2\nset xrange [" << double(batches.front()) * 1.25 << ":" << double(batches.back()) / 1.25
       << "]\nset xtics (";
    for (size_t i = 0; i < batches.size(); ++i) gp << (i ? ", " : "") << batches[i];
    gp << ")\nset xlabel 'batch size (images per step)'\nset ylabel 'test error (%)'\n"
       << "set grid\nset key outside right top\nplot ";
    for (size_t i = 0; i < plotted.size(); ++i)
        gp << (i ? ", " : "") << "'" << (dir / "study.dat").string() << "' index " << i
           << " using 1:2 with linespoints lw 2 pt 7 title '" << titles.at(plotted[i]) << "'";
    gp << "\n";
    gp.close();
    if (std::system("command -v gnuplot >/dev/null 2>&1") != 0) {
        std::printf("gnuplot is not installed: no study.png (its data and script: %s, %s)\n",
                    (dir / "study.dat").c_str(), (dir / "study.gp").c_str());
        return;
    }
    const std::string command = "gnuplot '" + (dir / "study.gp").string() + "'";
    if (std::system(command.c_str()) != 0) throw std::runtime_error("gnuplot failed on " + (dir / "study.gp").string());
}

struct RunResult {
    ex::Evaluation test;  // BatchNorm evaluated with its running statistics
    double train_loss = 0.0, train_accuracy = 0.0, train_seconds = 0.0, seconds = 0.0;
    int64_t steps = 0;
};

RunResult train_one(const RunSpec& run, const Settings& st, const td::FashionMNIST& train, const td::FashionMNIST& test) {
    const auto start = Clock::now();
    tg::manual_seed(st.seed);  // the same initial convolutions and Linear for every run
    tg::Sequential net = make_model(run.norm, st.blocks);
    const double lr = st.base_lr * double(run.batch_size) / double(st.base_batch);
    tg::SGD opt(net.parameters(), {.lr = lr, .momentum = st.momentum, .weight_decay = st.weight_decay});
    // drop_last: a batch of one would leave BatchNorm without a variance.
    td::Loader loader(train, {.batch_size = run.batch_size, .shuffle = true, .drop_last = true, .seed = st.seed});
    RunResult result;
    const int64_t total_steps = loader.size() * st.epochs;
    tg::CosineAnnealingLR schedule(opt, total_steps);  // stepped after every SGD step, not every epoch
    for (int64_t epoch = 0; epoch < st.epochs; ++epoch) {
        const auto epoch_start = Clock::now();
        const auto step_schedule = [&](const ex::Totals&) { schedule.step(); };
        const ex::Totals t = ex::train_epoch(net, opt, loader, {.after_step = step_schedule});
        result.steps += loader.size();
        result.train_seconds += seconds_since(epoch_start);
        result.train_loss = t.mean_loss();
        result.train_accuracy = t.accuracy();
        std::printf("  %s B=%lld epoch %lld/%lld  train loss %.4f acc %.4f  %.0f s\n", run.norm.c_str(),
                    (long long)run.batch_size, (long long)epoch + 1, (long long)st.epochs, result.train_loss,
                    result.train_accuracy, seconds_since(epoch_start));
        std::fflush(stdout);
    }
    result.test = ex::evaluate(net, test, 10);
    result.seconds = seconds_since(start);
    return result;
}

std::vector<int64_t> sorted_descending(std::vector<int64_t> v) {
    std::sort(v.begin(), v.end(), std::greater<>());
    v.erase(std::unique(v.begin(), v.end()), v.end());
    return v;
}

}  // namespace

int main(int argc, char** argv) {
    Settings st;
    std::vector<std::string> norms = {"bn", "gn", "ln", "in"};
    std::vector<int64_t> batches = {32, 16, 8, 4, 2};
    std::optional<int64_t> epochs, train_subset;
    int64_t test_subset = 0;
    bool full = false, every_norm_everywhere = false, resume = false;
    int threads = 2;
    std::string data_dir = td::default_fashion_mnist_dir().string(), out_dir = "runs/gn_vs_bn";
    CLI::App app{"Wu & He (2018), Figure 1 on Fashion-MNIST: test error of a small ResNet against the batch size, "
                 "for BatchNorm, GroupNorm, LayerNorm and InstanceNorm"};
    app.add_option("--out", out_dir, "Directory for results.json, results.md and study.png")->capture_default_str();
    app.add_flag("--full", full, "The whole training set (60,000 images) for 10 epochs instead of the default's subset");
    app.add_option("--norms", norms, "Norms to train: bn, gn, ln (GroupNorm(1, C)), in")
        ->delimiter(',')->check(CLI::IsMember({"bn", "gn", "ln", "in"}))->capture_default_str();
    app.add_option("--batch-sizes", batches, "Per-step batch sizes")->delimiter(',')->check(CLI::PositiveNumber)
        ->capture_default_str();
    app.add_flag("--all-norms", every_norm_everywhere, "Train LN and IN at every batch size, not only the largest");
    app.add_flag("--resume", resume, "Keep the runs already in results.json (same settings) and train the rest");
    app.add_option("--epochs", epochs, "Epochs of every run (default 4; --full: 10)")->check(CLI::PositiveNumber);
    app.add_option("--train-subset", train_subset, "Training images, balanced over the classes (default 16,000; --full: 60,000)")
        ->check(CLI::PositiveNumber);
    app.add_option("--test-subset", test_subset, "Evaluate on the first N test images (0: all 10,000)")->capture_default_str()
        ->check(CLI::NonNegativeNumber);
    app.add_option("--blocks", st.blocks, "Residual blocks per stage")->capture_default_str()->check(CLI::PositiveNumber);
    app.add_option("--base-lr", st.base_lr, "Learning rate at batch 32 (scaled by B/32)")->capture_default_str()
        ->check(CLI::PositiveNumber);
    app.add_option("--seed", st.seed, "Seed of initialisation and shuffling, the same for every run")->capture_default_str();
    app.add_option("--threads", threads, "Threads for kernels and BLAS")->capture_default_str()->check(CLI::PositiveNumber);
    app.add_option("--data-dir", data_dir, "Directory of the Fashion-MNIST .gz files")->capture_default_str();
    CLI11_PARSE(app, argc, argv);

    try {
        st.epochs = epochs.value_or(full ? 10 : 4);
        tg::set_num_threads(threads);
        batches = sorted_descending(batches);
        {  // bn, gn, ln, in: the order of the table's rows and the plot's key
            std::vector<std::string> ordered;
            for (const char* n : all_norms)
                if (std::find(norms.begin(), norms.end(), n) != norms.end()) ordered.emplace_back(n);
            norms = ordered;
        }
        const auto load_start = Clock::now();
        td::FashionMNIST train = td::load_fashion_mnist(data_dir, td::Split::Train);
        td::FashionMNIST test = td::load_fashion_mnist(data_dir, td::Split::Test);
        train = balanced_subset(train, train_subset.value_or(full ? train.size() : 16000));
        if (test_subset > 0) test = test.subset(std::min(test_subset, test.size()));
        if (train.size() < batches.front())
            throw std::invalid_argument("--train-subset " + std::to_string(train.size()) +
                                        " is smaller than one batch of " + std::to_string(batches.front()));
        st.train_subset = train.size();
        st.test_images = test.size();
        std::printf("data: %lld training images (the first %lld of each class), %lld test images, read in %.1f s\n",
                    (long long)train.size(), (long long)train.size() / 10, (long long)test.size(), seconds_since(load_start));

        std::vector<RunSpec> runs;  // column by column, so an interrupted study has whole columns
        for (int64_t b : batches)
            for (const auto& norm : norms)
                if (every_norm_everywhere || norm == "bn" || norm == "gn" || b == batches.front()) runs.push_back({norm, b});

        const fs::path dir(out_dir), results_path = dir / "results.json";
        fs::create_directories(dir);
        json results = {{"study", "gn_vs_bn"}, {"settings", json::parse(nlohmann::json(st).dump())},
                        {"cpu", cpu_model()}, {"runs", json::array()}};
        if (resume && fs::exists(results_path)) {
            std::ifstream in(results_path);
            json old = json::parse(in);
            if (old["settings"] != results["settings"]) {
                std::string diff;
                for (auto& [k, v] : results["settings"].items())
                    if (!old["settings"].contains(k) || old["settings"][k] != v)
                        diff += " " + k + " " + (old["settings"].contains(k) ? old["settings"][k].dump() : "(absent)") +
                                " vs " + v.dump() + ";";
                throw std::runtime_error("--resume: " + results_path.string() +
                                         " was made with other settings (there vs here):" + diff +
                                         " run with its settings, or without --resume to start afresh");
            }
            results["runs"] = old["runs"];
        } else if (fs::exists(results_path)) {
            std::printf("starting afresh: %s will be replaced after the first run (--resume would continue it)\n",
                        results_path.c_str());
        }

        {
            tg::Sequential first = make_model(norms.front(), st.blocks);
            std::printf("%s model:\n%s\nparameters:", norms.front().c_str(), first.repr().c_str());
            for (const auto& norm : norms) std::printf(" %s %lld", norm.c_str(), (long long)parameter_count(make_model(norm, st.blocks)));
            std::printf("\nGroupNorm: %lld channels per group (16 → %lld groups, 32 → %lld, 64 → %lld)\n",
                        (long long)gn_channels_per_group, (long long)gn_groups(16), (long long)gn_groups(32),
                        (long long)gn_groups(64));
        }
        double estimate = 0;
        int64_t todo = 0;
        for (const auto& r : runs) {
            if (find_run(results, r.norm, r.batch_size)) continue;
            ++todo;
            estimate += estimated_seconds(r.batch_size, st.epochs * train.size(), test.size(), st.blocks, threads);
        }
        std::printf("plan: %zu runs (", runs.size());
        for (size_t i = 0; i < runs.size(); ++i) std::printf("%s%s/%lld", i ? " " : "", runs[i].norm.c_str(), (long long)runs[i].batch_size);
        std::printf("), %lld epochs of %lld images each, lr %g·B/%lld, momentum %g, weight decay %g, seed %llu, %d thread%s;\n"
                    "      %lld to train, estimated %s on this project's 2-core Xeon\n",
                    (long long)st.epochs, (long long)train.size(), st.base_lr, (long long)st.base_batch, st.momentum,
                    st.weight_decay, (unsigned long long)st.seed, threads, threads > 1 ? "s" : "", (long long)todo,
                    clock_text(estimate).c_str());
        std::fflush(stdout);

        const auto write_outputs = [&] {
            if (results["runs"].empty()) return;
            write_atomically(results_path, results.dump(2) + "\n");
            write_atomically(dir / "results.md", markdown_table(results, norms, batches));
            plot(dir, results, norms, batches);
        };
        const auto study_start = Clock::now();
        double done_estimate = 0;
        for (const auto& r : runs) {
            if (find_run(results, r.norm, r.batch_size)) {
                std::printf("%s B=%lld: skipped, already in %s\n", r.norm.c_str(), (long long)r.batch_size,
                            results_path.c_str());
                continue;
            }
            const RunResult res = train_one(r, st, train, test);
            results["runs"].push_back(
                {{"norm", r.norm},
                 {"batch_size", r.batch_size},
                 {"lr", st.base_lr * double(r.batch_size) / double(st.base_batch)},
                 {"steps", res.steps},
                 {"test_accuracy", res.test.accuracy()},
                 {"test_loss", res.test.mean_loss()},
                 {"train_loss", res.train_loss},
                 {"train_accuracy", res.train_accuracy},
                 {"seconds", res.seconds},
                 {"train_images_per_second", double(res.steps * r.batch_size) / res.train_seconds},
                 {"threads", threads}});
            write_outputs();
            done_estimate += estimated_seconds(r.batch_size, st.epochs * train.size(), test.size(), st.blocks, threads);
            const double elapsed = seconds_since(study_start);
            std::printf(
                "%s B=%lld: test accuracy %.4f (error %.2f%%), lr %g, %lld steps, %.0f s (%.0f img/s)  "
                "[study %s, about %s left]\n",
                r.norm.c_str(), (long long)r.batch_size, res.test.accuracy(), 100.0 * (1.0 - res.test.accuracy()),
                st.base_lr * double(r.batch_size) / double(st.base_batch), (long long)res.steps, res.seconds,
                double(res.steps * r.batch_size) / res.train_seconds, clock_text(elapsed).c_str(),
                clock_text((estimate - done_estimate) * elapsed / done_estimate).c_str());
            std::fflush(stdout);
        }
        write_outputs();
        if (results["runs"].empty()) return 0;
        std::printf("\n%s\nresults: %s, %s%s (this invocation: %s)\n", markdown_table(results, norms, batches).c_str(),
                    results_path.c_str(), (dir / "results.md").c_str(),
                    fs::exists(dir / "study.png") ? (", " + (dir / "study.png").string()).c_str() : "",
                    clock_text(seconds_since(study_start)).c_str());
    } catch (const std::exception& e) {
        std::fprintf(stderr, "gn_vs_bn: %s\n", e.what());
        return 1;
    }
}
