// Our side of bench/torch_cnn.py's loop, step for step: load Fashion-MNIST, build the
// reference CNN, SGD (lr 0.05, momentum 0.9, weight decay 5e-4), 5 warm-up steps on the first
// batch, then --steps timed steps on consecutive batches of --batch. Prints one JSON line
// with the training images/s and the process's peak RSS (MB).
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>

#include "reference_cnn.hpp"

namespace tg = tapegrad;
namespace td = tapegrad::data;

int main(int argc, char** argv) {
    int threads = 1, steps = 100;
    int64_t batch = 64;
    CLI::App app{"Training throughput of the reference CNN (tapegrad's side of bench/torch_cnn.py)"};
    app.add_option("--threads", threads)->capture_default_str()->check(CLI::PositiveNumber);
    app.add_option("--steps", steps)->capture_default_str()->check(CLI::PositiveNumber);
    app.add_option("--batch", batch)->capture_default_str()->check(CLI::PositiveNumber);
    CLI11_PARSE(app, argc, argv);

    tg::set_num_threads(threads);
    tg::manual_seed(0);
    const td::FashionMNIST train = td::load_fashion_mnist(td::Split::Train);
    tg::Sequential net = reference_cnn();
    tg::SGD opt(net.parameters(), {.lr = 0.05, .momentum = 0.9, .weight_decay = 5e-4});
    td::Loader loader(train, {.batch_size = batch, .shuffle = false, .drop_last = true});

    auto step = [&](const tg::Tensor& x, const std::vector<int64_t>& y) {
        tg::Tape tape;
        const tg::Tensor loss = tg::cross_entropy(net(x), y);
        opt.zero_grad();
        tape.backward(loss);
        opt.step();
    };
    auto it = loader.begin();
    for (int i = 0; i < 5; ++i) step((*it).x, (*it).y);
    int done = 0;
    const auto start = std::chrono::steady_clock::now();
    while (done < steps) {
        for (auto& [x, y] : loader) {
            step(x, y);
            if (++done == steps) break;
        }
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    std::printf("{\"threads\": %d, \"batch\": %lld, \"train_images_per_s\": %.1f, \"max_rss_mb\": %.1f}\n", threads,
                static_cast<long long>(batch), double(steps) * double(batch) / seconds,
                double(usage.ru_maxrss) / 1024.0);
}
