// The convolution's batch drivers (kernels::conv2d_forward / conv2d_backward) against the
// direct reference twins, called as a kernel is: raw pointers, a plan and its workspace.
// Double, where GEMM's order of summation against the reference's leaves only rounding;
// 1 and 2 threads (the samples split over threads, and one sample with GEMM split instead);
// the direct 1×1 path, strides, padding; and each gradient in both modes, assigned into an
// uninitialised buffer (poisoned with NaN here) and accumulated onto what was there.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <limits>
#include <vector>

#include "framework/generator.hpp"
#include "framework/kernels/conv2d.hpp"
#include "framework/threading.hpp"

using namespace tapegrad;

namespace {

struct Case {
    int64_t N, C, H, W, O, kh, kw, sh, sw, ph, pw;
};

std::vector<double> normal(size_t n, Generator& gen) {
    std::vector<double> v(n);
    for (double& e : v) e = gen.normal();
    return v;
}

double max_abs_difference(const std::vector<double>& a, const std::vector<double>& b) {
    double m = 0.0;
    for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::isnan(a[i]) ? INFINITY : std::abs(a[i] - b[i]));
    return a.size() == b.size() ? m : INFINITY;
}

void check(const Case& k, int threads) {
    set_num_threads(threads);
    const kernels::Window2d g{k.H, k.W, k.kh, k.kw, k.sh, k.sw, k.ph, k.pw,
                              kernels::window_output_extent(k.H, k.kh, k.sh, k.ph),
                              kernels::window_output_extent(k.W, k.kw, k.sw, k.pw)};
    Generator gen(static_cast<uint64_t>(k.N * 1000 + k.C * 100 + k.O + threads));
    const size_t xs = static_cast<size_t>(k.N * k.C * k.H * k.W), ws = static_cast<size_t>(k.O * k.C * k.kh * k.kw);
    const size_t ys = static_cast<size_t>(k.N * k.O * g.OH * g.OW), bs = static_cast<size_t>(k.O);
    const auto x = normal(xs, gen), w = normal(ws, gen), b = normal(bs, gen), dy = normal(ys, gen);
    const double tol = 1e-12;
    const double nan = std::numeric_limits<double>::quiet_NaN();

    std::vector<double> y(ys, nan), y_ref(ys);
    const kernels::Conv2dPlan fplan = kernels::conv2d_forward_plan(k.N, k.C, k.O, g);
    std::vector<double> workspace(static_cast<size_t>(fplan.workspace), nan);
    kernels::conv2d_forward(y.data(), x.data(), w.data(), b.data(), k.N, k.C, k.O, g, fplan, workspace.data());
    kernels::conv2d_forward_reference(y_ref.data(), x.data(), w.data(), b.data(), k.N, k.C, k.O, g);
    BOOST_TEST(max_abs_difference(y, y_ref) < tol,
               "forward, N=" << k.N << " C=" << k.C << " O=" << k.O << " threads=" << threads);

    for (bool accumulate : {false, true}) {
        const auto start_x = normal(xs, gen), start_w = normal(ws, gen), start_b = normal(bs, gen);
        std::vector<double> dx = accumulate ? start_x : std::vector<double>(xs, nan);
        std::vector<double> dw = accumulate ? start_w : std::vector<double>(ws, nan);
        std::vector<double> db = accumulate ? start_b : std::vector<double>(bs, nan);
        std::vector<double> dx_ref = accumulate ? start_x : std::vector<double>(xs, 0.0);
        std::vector<double> dw_ref = accumulate ? start_w : std::vector<double>(ws, 0.0);
        std::vector<double> db_ref = accumulate ? start_b : std::vector<double>(bs, 0.0);
        const kernels::Conv2dPlan bplan = kernels::conv2d_backward_plan(k.N, k.C, k.O, g, true, true);
        std::vector<double> bworkspace(static_cast<size_t>(bplan.workspace), nan);
        kernels::conv2d_backward(dx.data(), dw.data(), db.data(), dy.data(), x.data(), w.data(), k.N, k.C, k.O, g,
                                 bplan, bworkspace.data(), accumulate, accumulate, accumulate);
        kernels::conv2d_backward_reference(dx_ref.data(), dw_ref.data(), db_ref.data(), dy.data(), x.data(), w.data(),
                                           k.N, k.C, k.O, g);
        BOOST_TEST(max_abs_difference(dx, dx_ref) < tol, "dx, accumulate=" << accumulate << " threads=" << threads);
        BOOST_TEST(max_abs_difference(dw, dw_ref) < tol, "dw, accumulate=" << accumulate << " threads=" << threads);
        BOOST_TEST(max_abs_difference(db, db_ref) < tol, "db, accumulate=" << accumulate << " threads=" << threads);

        // One gradient at a time: the plan sizes the workspace for what is asked, no more.
        std::vector<double> only_dx = accumulate ? start_x : std::vector<double>(xs, nan);
        const kernels::Conv2dPlan xplan = kernels::conv2d_backward_plan(k.N, k.C, k.O, g, true, false);
        std::vector<double> xworkspace(static_cast<size_t>(xplan.workspace), nan);
        kernels::conv2d_backward(only_dx.data(), static_cast<double*>(nullptr), static_cast<double*>(nullptr),
                                 dy.data(), x.data(), w.data(), k.N, k.C, k.O, g, xplan, xworkspace.data(), accumulate,
                                 false, false);
        BOOST_TEST(max_abs_difference(only_dx, dx_ref) < tol, "dx alone, accumulate=" << accumulate);
        std::vector<double> only_dw = accumulate ? start_w : std::vector<double>(ws, nan);
        const kernels::Conv2dPlan wplan = kernels::conv2d_backward_plan(k.N, k.C, k.O, g, false, true);
        std::vector<double> wworkspace(static_cast<size_t>(wplan.workspace), nan);
        kernels::conv2d_backward(static_cast<double*>(nullptr), only_dw.data(), static_cast<double*>(nullptr),
                                 dy.data(), x.data(), w.data(), k.N, k.C, k.O, g, wplan, wworkspace.data(), false,
                                 accumulate, false);
        BOOST_TEST(max_abs_difference(only_dw, dw_ref) < tol, "dw alone, accumulate=" << accumulate);
    }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(conv_kernels)

BOOST_AUTO_TEST_CASE(drivers_match_the_direct_reference) {
    const int saved = get_num_threads();
    const Case cases[] = {
        {3, 2, 7, 6, 4, 3, 3, 1, 1, 1, 1},      // "same" 3×3, the contiguous-run im2col path
        {2, 3, 9, 8, 2, 3, 2, 2, 1, 0, 1},      // strides, uneven kernel and padding
        {4, 5, 6, 6, 3, 1, 1, 1, 1, 0, 0},      // 1×1 direct: x[n] is its own column matrix
        {1, 4, 10, 10, 6, 3, 3, 1, 1, 1, 1},    // one sample: GEMM, not the samples, takes the threads
        {8, 16, 14, 14, 32, 3, 3, 1, 1, 1, 1},  // large enough for the samples to run on 2 threads
    };
    for (int threads : {1, 2})
        for (const Case& k : cases) check(k, threads);
    set_num_threads(saved);
}

// The plan: samples go over the threads only when there are several and the work pays.
BOOST_AUTO_TEST_CASE(plan_splits_samples_only_when_it_pays) {
    const int saved = get_num_threads();
    set_num_threads(2);
    const kernels::Window2d big{14, 14, 3, 3, 1, 1, 1, 1, 14, 14};
    BOOST_TEST(kernels::conv2d_forward_plan(8, 16, 32, big).threads == 2);
    BOOST_TEST(kernels::conv2d_forward_plan(1, 16, 32, big).threads == 1);
    const kernels::Window2d tiny{3, 3, 3, 3, 1, 1, 1, 1, 3, 3};
    BOOST_TEST(kernels::conv2d_forward_plan(2, 1, 1, tiny).threads == 1);
    const kernels::Window2d pointwise{5, 5, 1, 1, 1, 1, 0, 0, 5, 5};
    BOOST_TEST(kernels::conv2d_forward_plan(2, 3, 4, pointwise).direct);
    BOOST_TEST(kernels::conv2d_forward_plan(2, 3, 4, pointwise).workspace == 0);
    BOOST_TEST(kernels::conv2d_forward_plan(2, 3, 4, big).workspace == 3 * 9 * 14 * 14);
    set_num_threads(1);
    BOOST_TEST(kernels::conv2d_forward_plan(8, 16, 32, big).threads == 1);
    set_num_threads(saved);
}

BOOST_AUTO_TEST_SUITE_END()
