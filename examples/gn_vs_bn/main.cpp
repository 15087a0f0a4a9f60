// gn_vs_bn: Wu & He (2018), "Group Normalization", Figure 1 and Table 2, on Fashion-MNIST: the
// test error of a small ResNet against the batch size per worker, with BatchNorm or GroupNorm
// (LayerNorm, InstanceNorm on request) after every convolution. As in the paper, one step
// trains on W workers' batches of B images each (W = 8): the gradient is the mean over all W·B
// images and lr = 0.1·W·B/256, while BatchNorm normalises each worker's B images by their own
// statistics (virtual_batch_size = B: what W data-parallel ranks with local BatchNorm compute).
// So only the normalisation changes with B; every (norm, B) trains for the same epochs from
// several seeds, and the test error after every epoch is kept to show the runs converged.
// Writes results.json (after every run, atomically; --resume skips the runs it holds),
// results.md (mean ± std beside the paper) and two plots into --out.
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
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>
#include <cerrno>
#include <csignal>
#include <cstring>

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

// What a result depends on: a run is (norm, batch size per worker, seed) under these settings,
// and --resume only reuses runs made under equal ones. The thread and job counts are left out:
// they change speed, and the thread count the last bits of GEMM's sums.
struct Settings {
    int64_t train_subset = 0;          // balanced: the first train_subset/10 images of each class
    int64_t test_images = 0;           // the first test_images of the 10,000
    int64_t epoch_test_images = 2000;  // the per-epoch curve's: the first of those
    int64_t epochs = 0;
    int64_t stages = 4;            // at 28×28, 14×14, 7×7, 4×4 (3: without the last)
    int64_t blocks = 1;            // residual blocks per stage
    int64_t width = 8;             // channels of the first stage; the others have 2× and 4×
    bool zero_last_gamma = false;  // each residual block's last norm starts with γ = 0
    int64_t group_channels = 2;    // GroupNorm's channels per group
    int64_t workers = 8;           // W: images per step = W·B, BatchNorm's statistics over each B
    double base_lr = 0.1;          // at base_images images per step; lr = base_lr·W·B/base_images
    int64_t base_images = 256;
    double momentum = 0.9;
    double weight_decay = 5e-4;
};

NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Settings, train_subset, test_images, epoch_test_images, epochs, stages, blocks,
                                   width, zero_last_gamma, group_channels, workers, base_lr, base_images, momentum,
                                   weight_decay)

constexpr std::array<const char*, 4> all_norms = {"bn", "gn", "ln", "in"};

// Wu & He's Table 2: ResNet-50 on ImageNet, 8 workers, top-1 validation error (%) at these
// batch sizes per worker. Only the paper's rows use it.
const std::map<std::string, std::map<int64_t, double>> paper_error = {
    {"bn", {{32, 23.6}, {16, 23.7}, {8, 24.8}, {4, 27.3}, {2, 34.7}}},
    {"gn", {{32, 24.1}, {16, 24.2}, {8, 24.0}, {4, 24.2}, {2, 24.1}}},
};

// The divisor G of C whose group width C/G is nearest `per_group` (the wider group on a tie),
// so a channel count not divisible by it still gets groups of about that width: 12 channels
// at 8 per group → 2 groups of 6. The paper's Table 3 (bottom) explores the group width.
int64_t gn_groups(int64_t channels, int64_t per_group) {
    int64_t best = 1;
    for (int64_t g = 1; g <= channels; ++g) {
        if (channels % g) continue;
        if (std::abs(channels / g - per_group) < std::abs(channels / best - per_group)) best = g;
    }
    return best;
}

// What the model's norms need to know beyond their channels.
struct NormSpec {
    std::string norm;
    std::optional<int64_t> virtual_batch;  // BatchNorm's statistics over groups of this many images
    bool zero_last_gamma = true;
    int64_t group_channels = 8;  // GroupNorm's channels per group
};

// The norm that follows every convolution. LN is GroupNorm(1, C): the paper's LN, statistics
// over (C, H, W) of each sample with a per-channel γ, β, as every norm of the study has;
// tg::LayerNorm({C, H, W}) computes the same statistics but learns one γ and β per element,
// which in this net would be more parameters than all its convolutions hold.
std::shared_ptr<tg::Module> make_norm(const NormSpec& spec, int64_t channels) {
    if (spec.norm == "bn")
        return std::make_shared<tg::BatchNorm2d>(
            tg::BatchNormOptions{.num_features = channels, .virtual_batch_size = spec.virtual_batch});
    if (spec.norm == "gn") return std::make_shared<tg::GroupNorm>(gn_groups(channels, spec.group_channels), channels);
    if (spec.norm == "ln") return std::make_shared<tg::GroupNorm>(1, channels);
    if (spec.norm == "in") return std::make_shared<tg::InstanceNorm2d>(channels, 1e-5, 0.1, /*affine=*/true);
    throw std::invalid_argument("unknown norm '" + spec.norm + "' (expected bn, gn, ln or in)");
}

// conv (no bias: the norm's β takes its place), then the norm.
tg::Sequential conv_norm(int64_t in, int64_t out, int64_t kernel, int64_t stride, const NormSpec& norm) {
    tg::Sequential s;
    s.add(tg::Conv2d(in, out, kernel, stride, /*padding=*/kernel / 2, /*bias=*/false));
    s.add(make_norm(norm, out));
    return s;
}

// ResNet's basic block: relu(conv-norm-relu-conv-norm (x) + shortcut(x)); the shortcut is a
// 1×1 conv + norm where the block changes width or resolution, else the identity.
tg::Residual basic_block(int64_t in, int64_t out, int64_t stride, const NormSpec& norm) {
    tg::Sequential body;
    body.add(tg::Conv2d(in, out, 3, stride, 1, /*bias=*/false));
    body.add(make_norm(norm, out));
    body.add(tg::ReLU());
    body.add(tg::Conv2d(out, out, 3, 1, 1, /*bias=*/false));
    // The last norm's γ starts at 0, so that every block starts as its shortcut, as the paper
    // (after Goyal et al., 2017) initialises BN and GN alike.
    const std::shared_ptr<tg::Module> last = make_norm(norm, out);
    if (norm.zero_last_gamma) tg::zeros_(last->parameters().front());
    body.add(last);
    if (in == out && stride == 1) return tg::Residual(std::move(body));
    return tg::Residual(std::move(body), conv_norm(in, out, 1, stride, norm));
}

// (N, 1, 28, 28) → stem 3×3 conv w + norm + relu → stages of w (28×28), 2w (14×14), 4w (7×7)
// and, with 4 stages, 8w (4×4) channels, each stage but the first opening with stride 2 →
// global average pool → linear → 10.
tg::Sequential make_model(const NormSpec& norm, const Settings& st) {
    const int64_t w = st.width;
    tg::Sequential net;
    net.add(tg::Conv2d(1, w, 3, 1, 1, /*bias=*/false));
    net.add(make_norm(norm, w));
    net.add(tg::ReLU());
    int64_t in = w;
    for (int64_t stage = 0; stage < st.stages; ++stage) {
        const int64_t width = w << stage;
        for (int64_t b = 0; b < st.blocks; ++b) {
            net.add(basic_block(in, width, b == 0 && stage > 0 ? 2 : 1, norm));
            in = width;
        }
    }
    net.add(tg::AdaptiveAvgPool2d(1));
    net.add(tg::Flatten());
    net.add(tg::Linear(in, 10));
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

std::string cpu_model() {
    std::ifstream in("/proc/cpuinfo");
    for (std::string line; std::getline(in, line);)
        if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
    return "unknown CPU";
}

struct RunSpec {
    std::string norm;
    int64_t batch_size;  // per worker
    uint64_t seed;
};

std::string run_name(const RunSpec& r) {
    return r.norm + " B=" + std::to_string(r.batch_size) + " seed " + std::to_string(r.seed);
}

double learning_rate(const Settings& st, int64_t batch) {
    return st.base_lr * double(st.workers * batch) / double(st.base_images);
}

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

const json* find_run(const json& results, const RunSpec& r) {
    for (const auto& run : results["runs"])
        if (run["norm"] == r.norm && run["batch_size"] == r.batch_size && run["seed"] == r.seed) return &run;
    return nullptr;
}

// Mean and sample standard deviation (0 for one value) of a norm's final test error (%) at a
// batch size, over the seeds run; n = 0 when there is none.
struct Spread {
    double mean = 0.0, std = 0.0;
    int64_t n = 0;
};

Spread final_error(const json& results, const std::string& norm, int64_t batch) {
    std::vector<double> e;
    for (const auto& r : results["runs"])
        if (r["norm"] == norm && r["batch_size"] == batch)
            e.push_back(100.0 * (1.0 - r["test_accuracy"].get<double>()));
    Spread s;
    s.n = int64_t(e.size());
    if (e.empty()) return s;
    for (double v : e) s.mean += v / double(e.size());
    if (e.size() > 1) {
        double ss = 0.0;
        for (double v : e) ss += (v - s.mean) * (v - s.mean);
        s.std = std::sqrt(ss / double(e.size() - 1));
    }
    return s;
}

// The mean over seeds of a norm's test error (%) after each epoch at a batch size.
std::vector<double> epoch_errors(const json& results, const std::string& norm, int64_t batch) {
    std::vector<double> mean;
    int64_t n = 0;
    for (const auto& r : results["runs"]) {
        if (r["norm"] != norm || r["batch_size"] != batch) continue;
        const auto& e = r["epoch_test_error"];
        if (mean.empty()) mean.assign(e.size(), 0.0);
        for (size_t i = 0; i < std::min(mean.size(), e.size()); ++i) mean[i] += e[i].get<double>();
        ++n;
    }
    for (double& v : mean) v /= double(n);
    return mean;
}

std::string format(const char* fmt, double a, double b = 0.0) {
    char buf[96];
    std::snprintf(buf, sizeof buf, fmt, a, b);
    return buf;
}

// The paper's three numbers beside ours: GN's spread (max − min of the mean error over the
// batch sizes), BN's error at the smallest batch minus at the largest, GN minus BN at the
// largest, each with the target this study was set.
std::string claims_table(const json& results, const std::vector<int64_t>& batches) {
    const int64_t big = batches.front(), small = batches.back();
    std::ostringstream s;
    s << "| | paper (ImageNet, ResNet-50) | here (mean over seeds) | target |\n|---|---:|---:|---|\n";
    std::vector<double> gn;
    for (int64_t b : batches)
        if (const Spread e = final_error(results, "gn", b); e.n) gn.push_back(e.mean);
    if (gn.size() >= 2) {
        const auto [lo, hi] = std::minmax_element(gn.begin(), gn.end());
        const double spread = *hi - *lo;
        s << "| GN's spread over B = " << big << "…" << small << " | 0.2 | " << format("%.2f", spread)
          << " | ≤ 0.5: " << (spread <= 0.5 ? "met" : "not met") << " |\n";
    }
    const Spread bn_big = final_error(results, "bn", big), bn_small = final_error(results, "bn", small),
                 gn_big = final_error(results, "gn", big);
    if (bn_big.n && bn_small.n && small != big) {
        const double drop = bn_small.mean - bn_big.mean;
        s << "| BN at B=" << small << " minus at B=" << big << " | +11.1 | " << format("%+.2f", drop)
          << " | ≥ +3: " << (drop >= 3.0 ? "met" : "not met") << " |\n";
    }
    if (bn_big.n && gn_big.n) {
        const double gap = gn_big.mean - bn_big.mean;
        s << "| GN minus BN at B=" << big << " | +0.5 | " << format("%+.2f", gap)
          << " | within ±1.5: " << (std::abs(gap) <= 1.5 ? "met" : "not met") << " |\n";
    }
    return s.str();
}

std::string markdown(const json& results, const std::vector<std::string>& norms, const std::vector<int64_t>& batches,
                     int64_t seeds) {
    const json& st = results["settings"];
    std::ostringstream s;
    s << "# GN vs BN: test error against the batch size per worker\n\n"
      << "Test error % on " << st["test_images"].get<int64_t>()
      << " Fashion-MNIST test images, mean ± standard deviation over " << seeds << " seeds, after "
      << st["epochs"].get<int64_t>() << " epochs on " << st["train_subset"].get<int64_t>()
      << " training images (balanced). Each step trains on " << st["workers"].get<int64_t>()
      << " workers' batches of B images (BatchNorm: statistics per worker's B), lr = " << st["base_lr"].get<double>()
      << "·" << st["workers"].get<int64_t>() << "·B/" << st["base_images"].get<int64_t>() << " (cosine), momentum "
      << st["momentum"].get<double>() << ", weight decay " << st["weight_decay"].get<double>()
      << ". The paper's rows: Wu & He (2018), Table 2, ResNet-50 on ImageNet.\n\n"
      << "| norm |";
    for (int64_t b : batches) s << " B=" << b << " |";
    s << "\n|---|";
    for (size_t i = 0; i < batches.size(); ++i) s << "---:|";
    s << "\n";
    for (const auto& norm : norms) {
        if (const auto p = paper_error.find(norm); p != paper_error.end()) {
            s << "| " << norm << ", paper |";
            for (int64_t b : batches) {
                const auto e = p->second.find(b);
                s << (e == p->second.end() ? std::string(" – ") : format(" %.1f ", e->second)) << "|";
            }
            s << "\n";
        }
        s << "| " << norm << " |";
        for (int64_t b : batches) {
            const Spread e = final_error(results, norm, b);
            s << (e.n == 0 ? std::string(" – ") : format(" %.2f ± %.2f ", e.mean, e.std)) << "|";
        }
        s << "\n";
    }
    s << "\n" << claims_table(results, batches);
    double seconds = 0;
    for (const auto& r : results["runs"]) seconds += r["seconds"].get<double>();
    const int threads = results["runs"].back()["threads"].get<int>();
    s << "\nTime: " << clock_text(results.value("wall_seconds", 0.0)) << " wall-clock for the study, "
      << clock_text(seconds) << " summed over its " << results["runs"].size() << " runs ("
      << results["cpu"].get<std::string>() << "; " << results.value("jobs", 1) << " at once, " << threads
      << (threads == 1 ? " thread" : " threads") << " each).\n";
    return s.str();
}

const std::map<std::string, std::string> norm_titles = {
    {"bn", "BatchNorm"}, {"gn", "GroupNorm"}, {"ln", "LayerNorm"}, {"in", "InstanceNorm"}};

bool run_gnuplot(const fs::path& script) {
    if (std::system("command -v gnuplot >/dev/null 2>&1") != 0) {
        static bool said = false;  // once per study, not after every run
        if (!said)
            std::printf("gnuplot is not installed: no %s.png (its data and script are beside it, %s)\n",
                        script.stem().c_str(), script.c_str());
        said = true;
        return false;
    }
    const std::string command = "gnuplot '" + script.string() + "'";
    if (std::system(command.c_str()) != 0) throw std::runtime_error("gnuplot failed on " + script.string());
    return true;
}

// study.png: mean test error against the batch size per worker, with the seeds' standard
// deviation as error bars, the batch size on a log axis from the largest down, as the paper's
// Figure 1. epochs.png: the mean test error after each epoch, a panel per norm and a line per
// batch size, which shows whether the runs had converged.
void plot(const fs::path& dir, const json& results, const std::vector<std::string>& norms,
          const std::vector<int64_t>& batches) {
    // Each plot's y range, set rather than left to gnuplot, which warns when all points are
    // equal (one run of one epoch): the values half a point either way.
    const auto yrange = [](double lo, double hi) {
        return "set yrange [" + std::to_string(lo - 0.5) + ":" + std::to_string(hi + 0.5) + "]\n";
    };
    std::vector<std::string> plotted;
    double lo = 100.0, hi = 0.0;
    {
        std::ofstream dat(dir / "study.dat");
        for (const auto& norm : norms) {
            bool any = false;
            for (int64_t b : batches)
                if (const Spread e = final_error(results, norm, b); e.n) {
                    if (!any) dat << "# " << norm << ": batch size per worker, mean test error %, std\n";
                    dat << b << '\t' << e.mean << '\t' << e.std << '\n';
                    lo = std::min(lo, e.mean - e.std);
                    hi = std::max(hi, e.mean + e.std);
                    any = true;
                }
            if (!any) continue;
            dat << "\n\n";
            plotted.push_back(norm);
        }
    }
    if (plotted.empty()) return;
    {
        std::ofstream gp(dir / "study.gp");
        gp << "set terminal pngcairo size 720,440 font ',10'\n"
           << "set output '" << (dir / "study.png").string() << "'\n"
           << "set title 'tapegrad: ResNet on Fashion-MNIST, test error vs batch size per worker'\n"
           << "set logscale x 2\nset xrange [" << double(batches.front()) * 1.25 << ":" << double(batches.back()) / 1.25
           << "]\nset xtics (";
        for (size_t i = 0; i < batches.size(); ++i) gp << (i ? ", " : "") << batches[i];
        gp << ")\nset xlabel 'batch size per worker (images)'\nset ylabel 'test error (%), mean ± std over seeds'\n"
           << "set grid\nset key outside right top\n"
           << yrange(lo, hi) << "plot ";
        for (size_t i = 0; i < plotted.size(); ++i)
            gp << (i ? ", " : "") << "'" << (dir / "study.dat").string() << "' index " << i
               << " using 1:2:3 with yerrorlines lw 2 pt 7 title '" << norm_titles.at(plotted[i]) << "'";
        gp << "\n";
    }
    {
        double elo = 100.0, ehi = 0.0;
        for (const auto& norm : plotted)
            for (int64_t b : batches)
                for (double v : epoch_errors(results, norm, b)) elo = std::min(elo, v), ehi = std::max(ehi, v);
        std::ofstream dat(dir / "epochs.dat");
        std::ofstream gp(dir / "epochs.gp");
        gp << "set terminal pngcairo size " << 420 * plotted.size() << ",400 font ',10'\n"
           << "set output '" << (dir / "epochs.png").string() << "'\n"
           << "set multiplot layout 1," << plotted.size() << " title 'test error after each epoch, mean over seeds'\n"
           << "set xlabel 'epoch'\nset ylabel 'test error (%)'\nset grid\nset key top right\n"
           << "set xrange [0.5:" << results["settings"]["epochs"].get<int64_t>() << ".5]\n"
           << yrange(elo, ehi);
        int64_t index = 0;
        for (const auto& norm : plotted) {
            gp << "set title '" << norm_titles.at(norm) << "'\nplot ";
            bool first = true;
            for (int64_t b : batches) {
                const auto e = epoch_errors(results, norm, b);
                if (e.empty()) continue;
                dat << "# " << norm << " B=" << b << ": epoch, mean test error %\n";
                for (size_t i = 0; i < e.size(); ++i) dat << i + 1 << '\t' << e[i] << '\n';
                dat << "\n\n";
                gp << (first ? "" : ", ") << "'" << (dir / "epochs.dat").string() << "' index " << index++
                   << " using 1:2 with linespoints lw 2 pt 7 ps 0.6 title 'B=" << b << "'";
                first = false;
            }
            gp << "\n";
        }
        gp << "unset multiplot\n";
    }
    if (run_gnuplot(dir / "study.gp")) run_gnuplot(dir / "epochs.gp");
}

NormSpec norm_spec(const std::string& norm, const Settings& st, int64_t batch) {
    // One worker: BatchNorm's statistics are the whole step's, as a plain BatchNorm2d has them.
    return {norm, st.workers > 1 ? std::optional<int64_t>(batch) : std::nullopt, st.zero_last_gamma, st.group_channels};
}

// Trains one run and returns its record for results.json. After every epoch the test error on
// the first epoch_test_images test images shows the curve; after the last, the whole test set
// gives the run's result.
json train_one(const RunSpec& run, const Settings& st, const td::FashionMNIST& train, const td::FashionMNIST& test,
               int threads) {
    const auto start = Clock::now();
    tg::manual_seed(run.seed);  // a seed's runs start from the same weights at every batch size
    tg::Sequential net = make_model(norm_spec(run.norm, st, run.batch_size), st);
    const double lr = learning_rate(st, run.batch_size);
    tg::SGD opt(net.parameters(), {.lr = lr, .momentum = st.momentum, .weight_decay = st.weight_decay});
    // drop_last: every step has W whole batches of B (BatchNorm needs more than one value).
    const int64_t step_images = st.workers * run.batch_size;
    td::Loader loader(train, {.batch_size = step_images, .shuffle = true, .drop_last = true, .seed = run.seed});
    tg::CosineAnnealingLR schedule(opt, loader.size() * st.epochs);  // stepped after every SGD step
    const td::FashionMNIST monitor = test.subset(std::min(st.epoch_test_images, test.size()));
    std::vector<double> epoch_error;
    ex::Totals last;
    double train_seconds = 0.0;
    for (int64_t epoch = 0; epoch < st.epochs; ++epoch) {
        const auto epoch_start = Clock::now();
        const auto step_schedule = [&](const ex::Totals&) { schedule.step(); };
        last = ex::train_epoch(net, opt, loader, {.after_step = step_schedule});
        train_seconds += seconds_since(epoch_start);
        epoch_error.push_back(100.0 * (1.0 - ex::evaluate(net, monitor, 10).accuracy()));
        std::printf("  %s epoch %lld/%lld  train loss %.4f acc %.4f  test error %.2f%% (first %lld)  %.0f s\n",
                    run_name(run).c_str(), (long long)epoch + 1, (long long)st.epochs, last.mean_loss(),
                    last.accuracy(), epoch_error.back(), (long long)monitor.size(), seconds_since(epoch_start));
        std::fflush(stdout);
    }
    const ex::Evaluation result = ex::evaluate(net, test, 10);  // BatchNorm: its running statistics
    const int64_t steps = loader.size() * st.epochs;
    return {{"norm", run.norm},
            {"batch_size", run.batch_size},
            {"seed", run.seed},
            {"images_per_step", step_images},
            {"lr", lr},
            {"steps", steps},
            {"test_accuracy", result.accuracy()},
            {"test_loss", result.mean_loss()},
            {"epoch_test_error", epoch_error},
            {"train_loss", last.mean_loss()},
            {"train_accuracy", last.accuracy()},
            {"seconds", seconds_since(start)},
            {"train_images_per_second", double(steps * step_images) / train_seconds},
            {"threads", threads}};
}

// Runs `todo`, up to `jobs` at a time, and hands each finished run's record to `done` in the
// order they finish. With jobs > 1 every run trains in a child process of its own (fork): two
// one-thread runs keep two cores busier than one two-thread run, whose small steps (16 images
// at B = 2) leave the threads waiting on each other; and a run's result is the same bits as
// alone, since it depends only on its own thread count. A child sends its record as one line
// of JSON through a pipe; a child that fails ends the study with its message.
void run_all(const std::vector<RunSpec>& todo, int jobs, int threads, const Settings& st, const td::FashionMNIST& train,
             const td::FashionMNIST& test, const std::function<void(json)>& done) {
    if (jobs <= 1) {
        for (const auto& r : todo) done(train_one(r, st, train, test, threads));
        return;
    }
    struct Child {
        int fd;
        std::string name;
    };
    std::map<pid_t, Child> running;
    size_t next = 0;
    while (next < todo.size() || !running.empty()) {
        while (next < todo.size() && int(running.size()) < jobs) {
            int fds[2];
            if (pipe(fds) != 0) throw std::runtime_error("pipe failed: " + std::string(std::strerror(errno)));
            std::fflush(stdout);  // or the child would print the parent's buffered lines again
            const pid_t pid = fork();
            if (pid < 0) throw std::runtime_error("fork failed: " + std::string(std::strerror(errno)));
            if (pid == 0) {
                close(fds[0]);
                std::string line;
                int status = 0;
                try {
                    tg::set_num_threads(threads);
                    line = train_one(todo[next], st, train, test, threads).dump();
                } catch (const std::exception& e) {
                    line = json{{"error", run_name(todo[next]) + ": " + e.what()}}.dump();
                    status = 1;
                }
                line += "\n";
                for (size_t off = 0; off < line.size();) {
                    const ssize_t n = write(fds[1], line.data() + off, line.size() - off);
                    if (n <= 0) _exit(2);
                    off += size_t(n);
                }
                std::fflush(stdout);
                _exit(status);
            }
            close(fds[1]);
            running[pid] = {fds[0], run_name(todo[next])};
            ++next;
        }
        int status = 0;
        const pid_t pid = waitpid(-1, &status, 0);
        if (pid < 0) throw std::runtime_error("waitpid failed: " + std::string(std::strerror(errno)));
        const auto it = running.find(pid);
        if (it == running.end()) continue;
        std::string text;
        char buf[4096];
        for (ssize_t n; (n = read(it->second.fd, buf, sizeof buf)) > 0;) text.append(buf, size_t(n));
        close(it->second.fd);
        const std::string name = it->second.name;
        running.erase(it);
        const json record = text.empty() ? json() : json::parse(text, nullptr, false);
        if (record.is_discarded() || record.is_null() || record.contains("error") || !WIFEXITED(status) ||
            WEXITSTATUS(status) != 0) {
            for (auto& [other, child] : running) kill(other, SIGTERM);
            throw std::runtime_error(record.is_object() && record.contains("error")
                                         ? record["error"].get<std::string>()
                                         : name + ": its process ended without a result (status " +
                                               std::to_string(status) + ")");
        }
        done(record);
    }
}

// Training images/s at a batch size per worker and evaluation images/s, timed on this machine
// for the plan's estimate: three steps after one to warm up, and one pass over (up to) 1,000
// test images.
struct Speed {
    double train = 0.0, evaluate = 0.0;
};

Speed measure_speed(const std::string& norm, const Settings& st, int64_t batch, const td::FashionMNIST& train,
                    const td::FashionMNIST& test) {
    tg::manual_seed(0);
    tg::Sequential net = make_model(norm_spec(norm, st, batch), st);
    tg::SGD opt(net.parameters(), {.lr = 1e-3});
    td::Loader loader(train, {.batch_size = st.workers * batch, .shuffle = false, .drop_last = true});
    const int64_t steps = std::min<int64_t>(3, loader.size());  // each call starts the loader's next epoch
    Speed speed;
    ex::train_epoch(net, opt, loader, {.max_steps = 1});
    const auto t0 = Clock::now();
    ex::train_epoch(net, opt, loader, {.max_steps = steps});
    speed.train = double(steps * st.workers * batch) / seconds_since(t0);
    const td::FashionMNIST probe = test.subset(std::min<int64_t>(1000, test.size()));
    const auto t1 = Clock::now();
    ex::evaluate(net, probe, 10);
    speed.evaluate = double(probe.size()) / seconds_since(t1);
    return speed;
}

std::vector<int64_t> sorted_descending(std::vector<int64_t> v) {
    std::sort(v.begin(), v.end(), std::greater<>());
    v.erase(std::unique(v.begin(), v.end()), v.end());
    return v;
}

}  // namespace

int main(int argc, char** argv) {
    Settings st;
    std::vector<std::string> norms = {"bn", "gn"};
    std::vector<int64_t> batches = {32, 16, 8, 4, 2};
    std::optional<int64_t> epochs, train_subset, test_subset, seeds_option;
    bool every_norm_everywhere = false, resume = false, quick = false;
    int threads = 1, jobs = 2;
    std::string data_dir = td::default_fashion_mnist_dir().string(), out_dir = "runs/gn_vs_bn";
    CLI::App app{
        "Wu & He (2018), Figure 1 on Fashion-MNIST: test error of a small ResNet against the batch size "
        "per worker, for BatchNorm and GroupNorm (LayerNorm, InstanceNorm on request)"};
    app.add_option("--out", out_dir, "Directory for results.json, results.md and the plots")->capture_default_str();
    app.add_option("--norms", norms, "Norms to train: bn, gn, ln (GroupNorm(1, C)), in")
        ->delimiter(',')
        ->check(CLI::IsMember({"bn", "gn", "ln", "in"}))
        ->capture_default_str();
    app.add_option("--batch-sizes", batches, "Batch sizes per worker (B)")
        ->delimiter(',')
        ->check(CLI::PositiveNumber)
        ->capture_default_str();
    app.add_option("--workers", st.workers, "Workers W: a step trains on W·B images, BatchNorm normalises each B")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    app.add_option("--seeds", seeds_option, "Seeds per (norm, B): 0, 1, … (default 3; --quick: 1)")
        ->check(CLI::PositiveNumber);
    app.add_flag("--all-norms", every_norm_everywhere, "Train LN and IN at every batch size, not only the largest");
    app.add_flag("--resume", resume, "Keep the runs already in results.json (same settings) and train the rest");
    app.add_flag("--quick", quick, "A smoke test: 512 training images, 500 test images, 1 epoch, 1 seed");
    app.add_option("--epochs", epochs, "Epochs of every run (default 24; --quick: 1)")->check(CLI::PositiveNumber);
    app.add_option("--train-subset", train_subset, "Training images, balanced over the classes (default 10,000)")
        ->check(CLI::PositiveNumber);
    app.add_option("--test-subset", test_subset, "Evaluate on the first N test images (default all 10,000)")
        ->check(CLI::PositiveNumber);
    app.add_option("--stages", st.stages, "Stages of the ResNet: 3 (to 7×7) or 4 (to 4×4)")
        ->capture_default_str()
        ->check(CLI::Range(1, 4));
    app.add_option("--blocks", st.blocks, "Residual blocks per stage")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    app.add_option("--width", st.width, "Channels of the first stage (then 2× and 4×)")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    app.add_option("--zero-last-gamma", st.zero_last_gamma, "Start each residual block's last norm with γ = 0")
        ->capture_default_str();
    app.add_option("--group-channels", st.group_channels, "GroupNorm's channels per group (G = C / this)")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    app.add_option("--base-lr", st.base_lr, "Learning rate at 256 images per step (scaled by W·B/256)")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    app.add_option("--jobs", jobs, "Runs trained at once, each in a process of its own")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    app.add_option("--threads", threads, "Threads of each run, for kernels and BLAS")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    app.add_option("--data-dir", data_dir, "Directory of the Fashion-MNIST .gz files")->capture_default_str();
    CLI11_PARSE(app, argc, argv);

    try {
        st.epochs = epochs.value_or(quick ? 1 : 24);
        const int64_t seeds = seeds_option.value_or(quick ? 1 : 3);
        tg::set_num_threads(threads);
        batches = sorted_descending(batches);
        {  // bn, gn, ln, in: the order of the table's rows and the plots' keys
            std::vector<std::string> ordered;
            for (const char* n : all_norms)
                if (std::find(norms.begin(), norms.end(), n) != norms.end()) ordered.emplace_back(n);
            norms = ordered;
        }
        const auto load_start = Clock::now();
        td::FashionMNIST train = td::load_fashion_mnist(data_dir, td::Split::Train);
        td::FashionMNIST test = td::load_fashion_mnist(data_dir, td::Split::Test);
        train = balanced_subset(train, train_subset.value_or(quick ? 512 : 10000));
        test = test.subset(std::min(test_subset.value_or(quick ? 500 : test.size()), test.size()));
        if (train.size() < st.workers * batches.front())
            throw std::invalid_argument("--train-subset " + std::to_string(train.size()) +
                                        " is smaller than one step of " + std::to_string(st.workers) + " workers × " +
                                        std::to_string(batches.front()) + " images");
        st.train_subset = train.size();
        st.test_images = test.size();
        st.epoch_test_images = std::min(st.epoch_test_images, test.size());
        std::printf("data: %lld training images (the first %lld of each class), %lld test images, read in %.1f s\n",
                    (long long)train.size(), (long long)train.size() / 10, (long long)test.size(),
                    seconds_since(load_start));

        std::vector<RunSpec> runs;  // batch size by batch size, so an interrupted study has whole columns
        for (int64_t b : batches)
            for (uint64_t seed = 0; seed < uint64_t(seeds); ++seed)
                for (const auto& norm : norms)
                    if (every_norm_everywhere || norm == "bn" || norm == "gn" || b == batches.front())
                        runs.push_back({norm, b, seed});

        const fs::path dir(out_dir), results_path = dir / "results.json";
        fs::create_directories(dir);
        json results = {{"study", "gn_vs_bn"}, {"settings", json::parse(nlohmann::json(st).dump())},
                        {"cpu", cpu_model()},  {"jobs", jobs},
                        {"wall_seconds", 0.0}, {"runs", json::array()}};
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
            results["wall_seconds"] = old.value("wall_seconds", 0.0);
        } else if (fs::exists(results_path)) {
            std::printf("starting afresh: %s will be replaced after the first run (--resume would continue it)\n",
                        results_path.c_str());
        }

        {
            tg::Sequential first = make_model(norm_spec(norms.front(), st, batches.front()), st);
            std::printf("%s model:\n%s\nparameters:", norms.front().c_str(), first.repr().c_str());
            for (const auto& norm : norms)
                std::printf(" %s %lld", norm.c_str(),
                            (long long)parameter_count(make_model(norm_spec(norm, st, 2), st)));
            const auto groups = [&](int64_t c) { return (long long)gn_groups(c, st.group_channels); };
            std::printf("\nGroupNorm: %lld channels per group (%lld → %lld groups, %lld → %lld, %lld → %lld)\n",
                        (long long)st.group_channels, (long long)st.width, groups(st.width), (long long)(2 * st.width),
                        groups(2 * st.width), (long long)(4 * st.width), groups(4 * st.width));
        }
        // The plan, and its time from speeds measured here (one norm stands for all: they cost
        // about the same).
        std::vector<RunSpec> todo;
        for (const auto& r : runs)
            if (!find_run(results, r)) todo.push_back(r);
        std::map<int64_t, Speed> speed;
        const auto estimated_seconds = [&](const RunSpec& r) {
            const Speed& s = speed.at(r.batch_size);
            return double(st.epochs) * (double(train.size()) / s.train + double(st.epoch_test_images) / s.evaluate) +
                   double(test.size()) / s.evaluate;
        };
        double estimate = 0;
        for (const auto& r : todo) {
            if (!speed.count(r.batch_size))
                speed[r.batch_size] = measure_speed(norms.front(), st, r.batch_size, train, test);
            estimate += estimated_seconds(r) / double(std::min<size_t>(size_t(jobs), todo.size()));
        }
        std::printf("plan: %zu runs: norms", runs.size());
        for (const auto& n : norms) std::printf(" %s", n.c_str());
        std::printf(", B =");
        for (int64_t b : batches) std::printf(" %lld", (long long)b);
        std::printf(
            " per worker, %lld seed%s each; %lld workers (%lld…%lld images per step), %lld epochs of %lld images,\n"
            "      lr %g·W·B/%lld (cosine), momentum %g, weight decay %g, %d run%s at once of %d thread%s each;\n"
            "      %zu to train, estimated %s here (from a few timed steps)\n",
            (long long)seeds, seeds > 1 ? "s" : "", (long long)st.workers, (long long)(st.workers * batches.front()),
            (long long)(st.workers * batches.back()), (long long)st.epochs, (long long)train.size(), st.base_lr,
            (long long)st.base_images, st.momentum, st.weight_decay, jobs, jobs > 1 ? "s" : "", threads,
            threads > 1 ? "s" : "", todo.size(), clock_text(estimate).c_str());
        std::fflush(stdout);

        const auto write_outputs = [&] {
            if (results["runs"].empty()) return;
            write_atomically(results_path, results.dump(2) + "\n");
            write_atomically(dir / "results.md", markdown(results, norms, batches, seeds));
            plot(dir, results, norms, batches);
        };
        for (const auto& r : runs)
            if (find_run(results, r))
                std::printf("%s: skipped, already in %s\n", run_name(r).c_str(), results_path.c_str());
        const auto study_start = Clock::now();
        const double wall_before = results["wall_seconds"].get<double>();
        double done_estimate = 0;
        run_all(todo, jobs, threads, st, train, test, [&](json record) {
            const RunSpec r{record["norm"].get<std::string>(), record["batch_size"].get<int64_t>(),
                            record["seed"].get<uint64_t>()};
            results["runs"].push_back(record);
            results["wall_seconds"] = wall_before + seconds_since(study_start);
            write_outputs();
            done_estimate += estimated_seconds(r) / double(std::min<size_t>(size_t(jobs), todo.size()));
            const double elapsed = seconds_since(study_start);
            std::printf("%s: test error %.2f%%, lr %g, %lld steps, %.0f s (%.0f img/s)  [study %s, about %s left]\n",
                        run_name(r).c_str(), 100.0 * (1.0 - record["test_accuracy"].get<double>()),
                        record["lr"].get<double>(), (long long)record["steps"].get<int64_t>(),
                        record["seconds"].get<double>(), record["train_images_per_second"].get<double>(),
                        clock_text(elapsed).c_str(),
                        clock_text((estimate - done_estimate) * elapsed / done_estimate).c_str());
            std::fflush(stdout);
        });
        write_outputs();
        if (results["runs"].empty()) return 0;
        std::printf("\n%s\nresults: %s, %s, plots study.png and epochs.png in %s (this invocation: %s)\n",
                    markdown(results, norms, batches, seeds).c_str(), results_path.c_str(),
                    (dir / "results.md").c_str(), dir.c_str(), clock_text(seconds_since(study_start)).c_str());
    } catch (const std::exception& e) {
        std::fprintf(stderr, "gn_vs_bn: %s\n", e.what());
        return 1;
    }
}
