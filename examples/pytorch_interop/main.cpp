// pytorch_interop: the reference CNN's weights between PyTorch and tapegrad, as safetensors
// files. Loads weights (e.g. trained in PyTorch by torch_to_safetensors.py), measures their
// Fashion-MNIST test accuracy, can train them further for a few SGD steps, and exports them for
// safetensors_to_torch.py. A tapegrad Sequential of the same layers as PyTorch's nn.Sequential
// has the same state_dict names ("0.weight", ..., "11.bias"), so nothing is renamed.
//   pytorch_interop --load torch_cnn.safetensors --train-steps 200 --export tapegrad_cnn.safetensors
#include <tapegrad/tapegrad.hpp>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>  // to read the metadata

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>

#include "bench/reference_cnn.hpp"  // the layers of torch_to_safetensors.py's reference_cnn()
#include "examples/common/training.hpp"

namespace tg = tapegrad;
namespace td = tapegrad::data;
namespace ex = examples;

int main(int argc, char** argv) {
    std::string load_path, export_path, data_dir = td::default_fashion_mnist_dir().string();
    int64_t train_steps = 0, threads = 2;
    uint64_t seed = 0;
    double lr = 0.01;
    CLI::App app{"The reference CNN's weights between PyTorch and tapegrad (safetensors)"};
    app.add_option("--load", load_path, "Start from these weights (.safetensors, PyTorch's names); else a fresh model");
    app.add_option("--train-steps", train_steps, "Then train this many SGD steps of 64 images")->capture_default_str()
        ->check(CLI::NonNegativeNumber);
    app.add_option("--lr", lr, "Learning rate of those steps (momentum 0.9, weight decay 5e-4)")->capture_default_str()
        ->check(CLI::NonNegativeNumber);
    app.add_option("--export", export_path,
                   "Write the weights here (.safetensors), with the test accuracy as metadata");
    app.add_option("--threads", threads, "Threads for kernels and BLAS")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    app.add_option("--seed", seed, "Seed of a fresh model's initialisation and of the shuffling")
        ->capture_default_str();
    app.add_option("--data-dir", data_dir, "Directory of the Fashion-MNIST .gz files")->capture_default_str();
    CLI11_PARSE(app, argc, argv);

    try {
        tg::set_num_threads(int(threads));
        tg::manual_seed(seed);
        tg::Sequential net = reference_cnn();
        const td::FashionMNIST test = td::load_fashion_mnist(data_dir, td::Split::Test);
        const auto report = [&](const std::string& what) {
            const int64_t correct = ex::evaluate(net, test, 10).correct;  // on the whole test set
            const double accuracy = double(correct) / double(test.size());
            std::printf("tapegrad: %s; test accuracy %.4f (%lld/%lld)\n", what.c_str(), accuracy, (long long)correct,
                        (long long)test.size());
            return accuracy;
        };

        double accuracy = 0.0;
        if (!load_path.empty()) {
            // tg::load(net, load_path) in one call; the StateDict also holds what the writer
            // recorded in its metadata, to compare with what we measure.
            const tg::StateDict file = tg::load_safetensors(load_path);
            net.load_state_dict(file);  // checks every name, dtype and shape before it copies
            const auto& meta = file.metadata();
            accuracy = report("loaded " + std::to_string(file.size()) + " tensors from " + load_path);
            if (meta.contains("test_accuracy"))
                std::printf("the file says %s measured %s\n",
                            meta.contains("producer") ? meta["producer"].get<std::string>().c_str() : "its writer",
                            meta["test_accuracy"].get<std::string>().c_str());
        } else {
            accuracy = report("a fresh model (seed " + std::to_string(seed) + ")");
        }

        if (train_steps > 0) {
            const td::FashionMNIST train = td::load_fashion_mnist(data_dir, td::Split::Train);
            tg::SGD opt(net.parameters(), {.lr = lr, .momentum = 0.9, .weight_decay = 5e-4});
            td::Loader loader(train, {.batch_size = 64, .shuffle = true, .drop_last = true, .seed = seed});
            for (int64_t step = 0; step < train_steps;)  // passes over the data until train_steps
                step += ex::train_epoch(net, opt, loader, {.max_steps = train_steps - step}).batches;
            char what[64];
            std::snprintf(what, sizeof what, "after %lld SGD steps (lr %g)", (long long)train_steps, lr);
            accuracy = report(what);
        }

        if (!export_path.empty()) {
            char text[16];
            std::snprintf(text, sizeof text, "%.4f", accuracy);
            tg::save_safetensors(net, export_path, {{"producer", "tapegrad"}, {"test_accuracy", text}});
            std::printf("wrote %s (%zu tensors)\n", export_path.c_str(), net.state_dict().size());
        }
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "pytorch_interop: %s\n", e.what());
        return 1;
    }
}
