// set_num_threads: one count for our OpenMP kernels and for OpenBLAS, and results that do not
// depend on it where the work is split into independent pieces.
#include <boost/test/unit_test.hpp>

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <string>
#include <strings.h>
#include <vector>

#include "framework/kernels/gemm.hpp"
#include <tapegrad/tapegrad.hpp>
#include "support/messages.hpp"

// The environment as the process started, before OpenBLAS was loaded.
const char* const kCoreTypeAtStart = std::getenv("OPENBLAS_CORETYPE");

using namespace tapegrad;

using tapegrad::testing::check_message;

namespace {

// Restores the thread count the other suites expect, whatever a test set.
struct RestoreThreads {
    int saved = get_num_threads();
    ~RestoreThreads() { set_num_threads(saved); }
};

// (forward output, gradients of input and parameters) of one step of `layer` at `threads`.
template <typename Layer>
std::vector<std::vector<float>> step(Layer& layer, const Tensor& x_values, const Tensor& seed, int threads) {
    set_num_threads(threads);
    Tensor x = x_values.clone();
    x.requires_grad_();
    layer.zero_grad();
    std::vector<std::vector<float>> out;
    {
        Tape tape;
        Tensor y = layer(x);
        out.push_back(y.to_vector());
        tape.backward(y, seed);
    }
    out.push_back(x.grad().to_vector());
    for (const Tensor& p : layer.parameters()) out.push_back(p.grad().to_vector());
    return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(threading)

BOOST_AUTO_TEST_CASE(sets_our_pool_and_openblas_alike) {
    RestoreThreads restore;
    for (int n : {1, 2, 3}) {
        set_num_threads(n);
        BOOST_TEST(get_num_threads() == n);
        BOOST_TEST(omp_get_max_threads() == n);
        BOOST_TEST(kernels::blas_num_threads() == n);
    }
}

// OpenBLAS 0.3.21 runs its SSE3 kernels on Intel models it does not know; gemm.hpp names the
// core for the CPU's instruction set instead, unless the user did.
BOOST_AUTO_TEST_CASE(openblas_runs_kernels_for_this_cpu) {
    const std::string core = kernels::blas_core_name();
    BOOST_TEST_MESSAGE("OpenBLAS core: " << core);
    if (kCoreTypeAtStart != nullptr) {
        BOOST_TEST(strcasecmp(core.c_str(), kCoreTypeAtStart) == 0,
                   "OPENBLAS_CORETYPE=" << kCoreTypeAtStart << " gave " << core);
        return;
    }
    BOOST_TEST(std::getenv("OPENBLAS_CORETYPE") == nullptr, "the variable is set only while OpenBLAS loads");
    __builtin_cpu_init();
    if (!__builtin_cpu_is("intel")) return;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512cd"))
        BOOST_TEST((core == "SkylakeX" || core == "Cooperlake" || core == "SapphireRapids"),
                   "AVX-512 CPU runs " << core);
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        BOOST_TEST(core == "Haswell", "AVX2 CPU runs " << core);
}

// GEMMs called outside a parallel region are split over the threads, by columns of C or, when
// C has fewer columns than rows, by rows: every transpose combination, blocks that do not
// divide evenly, against a plain triple loop.
BOOST_AUTO_TEST_CASE(gemm_split_over_threads_matches_a_plain_loop) {
    RestoreThreads restore;
    struct Size {
        int64_t M, N, K;
    };
    Generator gen(11);
    for (const Size z :
         {Size{64, 3136, 128}, Size{3136, 64, 128}, Size{97, 1001, 37}, Size{1001, 97, 37}, Size{8, 8, 8}})
        for (bool ta : {false, true})
            for (bool tb : {false, true}) {
                const DoubleTensor A = randn<double>({z.M * z.K}, &gen), B = randn<double>({z.K * z.N}, &gen);
                const DoubleTensor C0 = randn<double>({z.M * z.N}, &gen);
                std::vector<double> want(static_cast<size_t>(z.M * z.N));
                for (int64_t i = 0; i < z.M; ++i)
                    for (int64_t j = 0; j < z.N; ++j) {
                        double s = 0.0;
                        for (int64_t k = 0; k < z.K; ++k)
                            s += A.data()[ta ? k * z.M + i : i * z.K + k] * B.data()[tb ? j * z.K + k : k * z.N + j];
                        want[static_cast<size_t>(i * z.N + j)] = 0.5 * s + 2.0 * C0.data()[i * z.N + j];
                    }
                for (int threads : {1, 2}) {
                    set_num_threads(threads);
                    DoubleTensor C = C0.clone();
                    kernels::gemm<double>(ta, tb, z.M, z.N, z.K, 0.5, A.data(), B.data(), 2.0, C.data());
                    double worst = 0.0;
                    for (size_t e = 0; e < want.size(); ++e) worst = std::max(worst, std::abs(C.data()[e] - want[e]));
                    BOOST_TEST(worst < 1e-10, "M=" << z.M << " N=" << z.N << " K=" << z.K << " ta=" << ta
                                                   << " tb=" << tb << " threads=" << threads << ": off by " << worst);
                }
            }
}

BOOST_AUTO_TEST_CASE(rejects_counts_below_one) {
    RestoreThreads restore;
    check_message([] { set_num_threads(0); }, {"n >= 1", "got 0"});
    check_message([] { set_num_threads(-2); }, {"got -2"});
    BOOST_TEST(get_num_threads() == restore.saved);
}

// GroupNorm splits the work over (sample, group) slices, each computed the same way
// whichever thread takes it: 1 and 2 threads agree bit for bit. The shapes: rows of 256 (each
// slice's statistics summed alone), rows of 1,024 (the float forward sums a slice's statistics
// while it normalises the slice before, except for each thread's first slice), and one slice of
// 65,536 elements (at 2 threads the threads share the slice's chunks).
BOOST_AUTO_TEST_CASE(group_norm_is_bitwise_the_same_at_1_and_2_threads) {
    RestoreThreads restore;
    manual_seed(3);
    struct Case {
        Shape shape;
        int64_t groups;
    };
    for (const Case& c : {Case{{8, 64, 16, 16}, 8}, Case{{4, 16, 32, 32}, 4}, Case{{1, 4, 128, 128}, 1}}) {
        GroupNorm gn(c.groups, c.shape[1]);
        for (Tensor p : gn.parameters()) {  // γ and β away from their initial 1 and 0 (a handle: p aliases)
            const std::vector<float> v = randn(p.shape()).to_vector();
            std::copy(v.begin(), v.end(), p.data());
        }
        const Tensor x = randn(c.shape), seed = randn(c.shape);
        const auto one = step(gn, x, seed, 1), two = step(gn, x, seed, 2);
        BOOST_REQUIRE_EQUAL(one.size(), two.size());
        for (size_t i = 0; i < one.size(); ++i) BOOST_TEST(one[i] == two[i], boost::test_tools::per_element());
    }
}

// Conv2d runs samples in parallel: the output and the input gradient are bitwise the same;
// the weight and bias gradients add per-thread partial sums, so they agree to rounding.
BOOST_AUTO_TEST_CASE(conv2d_agrees_at_1_and_2_threads) {
    RestoreThreads restore;
    manual_seed(4);
    Conv2d conv(16, 32, 3, 1, 1);
    const Tensor x = randn({8, 16, 16, 16}), seed = randn({8, 32, 16, 16});
    const auto one = step(conv, x, seed, 1), two = step(conv, x, seed, 2);
    BOOST_REQUIRE_EQUAL(one.size(), 4u);
    BOOST_TEST(one[0] == two[0], boost::test_tools::per_element());
    BOOST_TEST(one[1] == two[1], boost::test_tools::per_element());
    for (size_t i = 2; i < one.size(); ++i)
        for (size_t j = 0; j < one[i].size(); ++j)
            BOOST_TEST(two[i][j] == one[i][j], boost::test_tools::tolerance(1e-4f));
}

BOOST_AUTO_TEST_SUITE_END()
