// Times one reduction of a float32 tensor as `bench/reduce_compare.py` asks for it, and prints
// the median seconds per call over `rounds` calls (after two warm-up calls), wall-clock time
// and this process's CPU time (less sensitive to a loaded machine at one thread):
//   bench_reduce OP DIM MODE THREADS ROUNDS [SHAPE...]
// OP: sum | mean | amax; DIM: the dimension reduced; MODE: forward | backward (forward and
// backward, the gradient of x freed between calls as PyTorch's x.grad = None does). SHAPE
// defaults to 64 256 784.
#include <tapegrad/tapegrad.hpp>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace tg = tapegrad;

int main(int argc, char** argv) {
    if (argc < 6) {
        std::fprintf(stderr, "usage: bench_reduce OP DIM MODE THREADS ROUNDS [SHAPE...]\n");
        return 2;
    }
    const std::string op = argv[1], mode = argv[3];
    const int64_t dim = std::atoll(argv[2]);
    const int threads = std::atoi(argv[4]), rounds = std::atoi(argv[5]);
    tg::Shape shape;
    for (int i = 6; i < argc; ++i) shape.push_back(std::atoll(argv[i]));
    if (shape.empty()) shape = {64, 256, 784};
    tg::set_num_threads(threads);
    tg::manual_seed(0);
    tg::Tensor x = tg::randn(shape);
    const bool backward = mode == "backward";
    if (backward) x.requires_grad_();
    auto reduce = [&] {
        if (op == "sum") return tg::sum(x, dim);
        if (op == "mean") return tg::mean(x, dim);
        if (op == "amax") return tg::amax(x, dim);
        std::fprintf(stderr, "unknown op %s\n", op.c_str());
        std::exit(2);
    };
    tg::Tensor seed;
    {
        tg::Tensor y = reduce();
        seed = tg::randn(y.shape());
    }
    auto cpu_now = [] {
        timespec t{};
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
        return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
    };
    std::vector<double> seconds, cpu_seconds;
    for (int i = 0; i < rounds + 2; ++i) {
        const double cpu_start = cpu_now();
        const auto start = std::chrono::steady_clock::now();
        if (backward) {
            tg::Tape tape;
            tg::Tensor y = reduce();
            tape.backward(y, seed);
        } else {
            tg::Tensor y = reduce();
        }
        const auto stop = std::chrono::steady_clock::now();
        const double cpu_stop = cpu_now();
        x.zero_grad();
        if (i >= 2) {
            seconds.push_back(std::chrono::duration<double>(stop - start).count());
            cpu_seconds.push_back(cpu_stop - cpu_start);
        }
    }
    auto median = [](std::vector<double>& v) {
        std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
        return v[v.size() / 2];
    };
    std::printf("%.9f %.9f\n", median(seconds), median(cpu_seconds));
    return 0;
}
