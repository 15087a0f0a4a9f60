// The convolution's batch drivers (kernels::conv2d_forward / conv2d_backward) against the
// direct reference twins, called as a kernel is: raw pointers, a plan and its workspace.
// Double, where GEMM's order of summation against the reference's leaves only rounding (and
// Winograd's transforms, for 3×3 stride-1 kernels with enough channels; in float below);
// 1 and 2 threads (the samples split over threads, and one sample with GEMM split instead);
// the direct 1×1 path, strides, padding, dilation, groups and depthwise; and each gradient in
// both modes, assigned into an uninitialised buffer (poisoned with NaN here) and accumulated
// onto what was there. Then the same results at 1 and 2 threads, bit for bit.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include "framework/generator.hpp"
#include "framework/kernels/conv2d.hpp"
#include "framework/threading.hpp"

using namespace tapegrad;

namespace {

struct Case {
    int64_t N, C, H, W, O, kh, kw, sh, sw, ph, pw;
    int64_t dh = 1, dw = 1, groups = 1;
};

kernels::Window2d window_of(const Case& k) {
    return {k.H,
            k.W,
            k.kh,
            k.kw,
            k.sh,
            k.sw,
            k.ph,
            k.pw,
            kernels::window_output_extent(k.H, k.kh, k.sh, k.ph, k.dh),
            kernels::window_output_extent(k.W, k.kw, k.sw, k.pw, k.dw),
            k.dh,
            k.dw};
}

std::string describe(const Case& k) {
    std::ostringstream s;
    s << "N=" << k.N << " C=" << k.C << " H=" << k.H << " W=" << k.W << " O=" << k.O << " k=" << k.kh << "x" << k.kw
      << " stride=" << k.sh << "," << k.sw << " pad=" << k.ph << "," << k.pw << " dilation=" << k.dh << "," << k.dw
      << " groups=" << k.groups;
    return s.str();
}

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

// Equal to rounding in double: within 1e-12 of the reference's scale (dW's sums over a batch
// reach tens, and Winograd's transforms scale the rounding by their coefficients).
bool near(const std::vector<double>& a, const std::vector<double>& ref) {
    double scale = 1.0;
    for (double r : ref) scale = std::max(scale, std::abs(r));
    return max_abs_difference(a, ref) < 1e-12 * scale;
}

void check(const Case& k, int threads) {
    set_num_threads(threads);
    const kernels::Window2d g = window_of(k);
    const int64_t G = k.groups;
    Generator gen(static_cast<uint64_t>(k.N * 1000 + k.C * 100 + k.O + threads));
    const size_t xs = static_cast<size_t>(k.N * k.C * k.H * k.W);
    const size_t ws = static_cast<size_t>(k.O * k.C / G * k.kh * k.kw);
    const size_t ys = static_cast<size_t>(k.N * k.O * g.OH * g.OW), bs = static_cast<size_t>(k.O);
    const auto x = normal(xs, gen), w = normal(ws, gen), b = normal(bs, gen), dy = normal(ys, gen);
    const double nan = std::numeric_limits<double>::quiet_NaN();

    std::vector<double> y(ys, nan), y_ref(ys);
    const kernels::Conv2dPlan fplan = kernels::conv2d_forward_plan(k.N, k.C, k.O, G, g);
    std::vector<double> workspace(static_cast<size_t>(fplan.workspace), nan);
    kernels::conv2d_forward(y.data(), x.data(), w.data(), b.data(), k.N, k.C, k.O, G, g, fplan, workspace.data());
    kernels::conv2d_forward_reference(y_ref.data(), x.data(), w.data(), b.data(), k.N, k.C, k.O, G, g);
    BOOST_TEST(near(y, y_ref), "forward, " << describe(k) << " threads=" << threads);

    for (bool accumulate : {false, true}) {
        const auto start_x = normal(xs, gen), start_w = normal(ws, gen), start_b = normal(bs, gen);
        std::vector<double> dx = accumulate ? start_x : std::vector<double>(xs, nan);
        std::vector<double> dw = accumulate ? start_w : std::vector<double>(ws, nan);
        std::vector<double> db = accumulate ? start_b : std::vector<double>(bs, nan);
        std::vector<double> dx_ref = accumulate ? start_x : std::vector<double>(xs, 0.0);
        std::vector<double> dw_ref = accumulate ? start_w : std::vector<double>(ws, 0.0);
        std::vector<double> db_ref = accumulate ? start_b : std::vector<double>(bs, 0.0);
        const kernels::Conv2dPlan bplan = kernels::conv2d_backward_plan(k.N, k.C, k.O, G, g, true, true);
        std::vector<double> bworkspace(static_cast<size_t>(bplan.workspace), nan);
        kernels::conv2d_backward(dx.data(), dw.data(), db.data(), dy.data(), x.data(), w.data(), k.N, k.C, k.O, G, g,
                                 bplan, bworkspace.data(), accumulate, accumulate, accumulate);
        kernels::conv2d_backward_reference(dx_ref.data(), dw_ref.data(), db_ref.data(), dy.data(), x.data(), w.data(),
                                           k.N, k.C, k.O, G, g);
        BOOST_TEST(near(dx, dx_ref), "dx, accumulate=" << accumulate << " threads=" << threads);
        BOOST_TEST(near(dw, dw_ref), "dw, accumulate=" << accumulate << " threads=" << threads);
        BOOST_TEST(near(db, db_ref), "db, accumulate=" << accumulate << " threads=" << threads);

        // One gradient at a time: the plan sizes the workspace for what is asked, no more.
        std::vector<double> only_dx = accumulate ? start_x : std::vector<double>(xs, nan);
        const kernels::Conv2dPlan xplan = kernels::conv2d_backward_plan(k.N, k.C, k.O, G, g, true, false);
        std::vector<double> xworkspace(static_cast<size_t>(xplan.workspace), nan);
        kernels::conv2d_backward(only_dx.data(), static_cast<double*>(nullptr), static_cast<double*>(nullptr),
                                 dy.data(), x.data(), w.data(), k.N, k.C, k.O, G, g, xplan, xworkspace.data(),
                                 accumulate, false, false);
        BOOST_TEST(near(only_dx, dx_ref), "dx alone, accumulate=" << accumulate);
        std::vector<double> only_dw = accumulate ? start_w : std::vector<double>(ws, nan);
        const kernels::Conv2dPlan wplan = kernels::conv2d_backward_plan(k.N, k.C, k.O, G, g, false, true);
        std::vector<double> wworkspace(static_cast<size_t>(wplan.workspace), nan);
        kernels::conv2d_backward(static_cast<double*>(nullptr), only_dw.data(), static_cast<double*>(nullptr),
                                 dy.data(), x.data(), w.data(), k.N, k.C, k.O, G, g, wplan, wworkspace.data(), false,
                                 accumulate, false);
        BOOST_TEST(near(only_dw, dw_ref), "dw alone, accumulate=" << accumulate);
    }
}

// Forward and every gradient at `threads` threads (assigned, not accumulated), in precision T.
template <typename T>
std::vector<std::vector<T>> run_at(const Case& k, int threads) {
    set_num_threads(threads);
    const kernels::Window2d g = window_of(k);
    Generator gen(17);
    const auto draw = [&](int64_t n) {
        std::vector<T> v(static_cast<size_t>(n));
        for (T& e : v) e = static_cast<T>(gen.normal());
        return v;
    };
    const auto x = draw(k.N * k.C * k.H * k.W), w = draw(k.O * k.C / k.groups * k.kh * k.kw), b = draw(k.O);
    const auto dy = draw(k.N * k.O * g.OH * g.OW);
    std::vector<T> y(dy.size()), dx(x.size()), dw(w.size()), db(b.size());
    const kernels::Conv2dPlan fplan = kernels::conv2d_forward_plan(k.N, k.C, k.O, k.groups, g);
    std::vector<T> fworkspace(static_cast<size_t>(fplan.workspace));
    kernels::conv2d_forward(y.data(), x.data(), w.data(), b.data(), k.N, k.C, k.O, k.groups, g, fplan,
                            fworkspace.data());
    const kernels::Conv2dPlan bplan = kernels::conv2d_backward_plan(k.N, k.C, k.O, k.groups, g, true, true);
    std::vector<T> bworkspace(static_cast<size_t>(bplan.workspace));
    kernels::conv2d_backward(dx.data(), dw.data(), db.data(), dy.data(), x.data(), w.data(), k.N, k.C, k.O, k.groups, g,
                             bplan, bworkspace.data(), false, false, false);
    return {y, dx, dw, db};
}

// y, dx and db the same bits at 1 and 2 threads. dW is summed per thread (each thread's
// samples into its partial, the partials then added in thread order), so its rounding depends
// on the thread count, not on timing: the same bits from run to run at 2 threads, and within
// rounding of the 1-thread result.
template <typename T>
void check_bits_at_1_and_2_threads(const Case& k) {
    const auto one = run_at<T>(k, 1), two = run_at<T>(k, 2), again = run_at<T>(k, 2);
    const char* names[] = {"y", "dx", "dw", "db"};
    for (size_t i = 0; i < one.size(); ++i) {
        BOOST_TEST((two[i] == again[i]), names[i] << " differs from run to run, sizeof(T)=" << sizeof(T));
        if (i != 2) BOOST_TEST((one[i] == two[i]), names[i] << " differs at 1 and 2 threads, sizeof(T)=" << sizeof(T));
    }
    double scale = 1.0, diff = 0.0;
    for (size_t e = 0; e < one[2].size(); ++e) {
        scale = std::max(scale, std::abs(static_cast<double>(one[2][e])));
        diff = std::max(diff, std::abs(static_cast<double>(one[2][e]) - static_cast<double>(two[2][e])));
    }
    BOOST_TEST(diff <= scale * 1e3 * std::numeric_limits<T>::epsilon(),
               "dw at 1 and 2 threads, sizeof(T)=" << sizeof(T));
}

// Dilation, groups and depthwise, on every path: im2col's one-copy-per-row ("same" width),
// its general loop, the direct 1×1 path, and batches large enough for 2 threads.
const Case kGeometries[] = {
    {3, 2, 9, 8, 4, 3, 3, 1, 1, 2, 2, 2, 2, 1},       // dilation 2, "same" width: the one-copy rows
    {2, 3, 9, 9, 2, 3, 3, 1, 1, 3, 2, 3, 2, 1},       // rectangular dilation (3, 2), "same" width
    {2, 2, 3, 4, 3, 3, 3, 1, 1, 3, 3, 3, 3, 1},       // dilated taps that miss the input entirely
    {2, 3, 11, 10, 2, 3, 2, 2, 1, 1, 0, 3, 2, 1},     // dilation (3, 2) with stride (2, 1)
    {2, 4, 7, 6, 6, 3, 3, 1, 1, 1, 1, 1, 1, 2},       // groups 2
    {3, 8, 10, 9, 4, 3, 3, 2, 1, 2, 1, 2, 1, 4},      // groups 4 (one output per group), stride, dilation
    {2, 5, 8, 7, 5, 3, 3, 1, 1, 1, 1, 1, 1, 5},       // depthwise
    {2, 4, 8, 8, 12, 3, 3, 2, 2, 2, 2, 2, 2, 4},      // depthwise, channel multiplier 3, dilated, strided
    {2, 6, 5, 4, 4, 1, 1, 1, 1, 0, 0, 1, 1, 2},       // groups on the direct 1×1 path
    {2, 3, 4, 4, 2, 1, 1, 1, 1, 0, 0, 3, 3, 1},       // a dilated 1×1 kernel: still the direct path
    {1, 6, 9, 9, 6, 3, 3, 1, 1, 2, 2, 2, 2, 3},       // one sample: GEMM, not the samples, takes the threads
    {8, 16, 14, 14, 32, 3, 3, 1, 1, 2, 2, 2, 2, 4},   // groups, dilation, the samples on 2 threads
    {8, 32, 16, 16, 64, 3, 3, 1, 1, 1, 1, 1, 1, 32},  // depthwise with multiplier 2, on 2 threads
};

template <typename To, typename From>
std::vector<To> cast(const std::vector<From>& v) {
    return std::vector<To>(v.begin(), v.end());
}

// max |a − ref| / max |ref|: the error relative to the result's scale (an element's own relative
// error means nothing where the sum cancels to near zero).
double relative_error(const std::vector<float>& a, const std::vector<double>& ref) {
    double scale = 0.0;
    for (double r : ref) scale = std::max(scale, std::abs(r));
    return max_abs_difference(cast<double>(a), ref) / scale;
}

// The Winograd path in float32 against the direct reference in double (forward, dx, dW, each
// within 1e-4 of the result's scale), and the forward and dx the same bits at 1 and 2 threads.
// Returns the worst relative error seen.
double check_winograd(const Case& k, bool bias) {
    const kernels::Window2d g = window_of(k);
    Generator gen(static_cast<uint64_t>(k.N * 1000 + k.C * 100 + k.O + k.H));
    const size_t xs = static_cast<size_t>(k.N * k.C * k.H * k.W), ws = static_cast<size_t>(k.O * k.C * k.kh * k.kw);
    const size_t ys = static_cast<size_t>(k.N * k.O * g.OH * g.OW);
    // Inputs after a ReLU (all ≥ 0, so no cancellation hides the error), Kaiming-scaled weights.
    std::vector<double> x = normal(xs, gen), w = normal(ws, gen), b = normal(static_cast<size_t>(k.O), gen);
    for (double& e : x) e = std::abs(e);
    for (double& e : w) e /= std::sqrt(double(k.kh * k.kw * k.C));
    const std::vector<double> dy = normal(ys, gen);
    const auto xf = cast<float>(x), wf = cast<float>(w), bf = cast<float>(b), dyf = cast<float>(dy);
    // The reference of what float32 inputs give, in double.
    const auto xr = cast<double>(xf), wr = cast<double>(wf), br = cast<double>(bf), dyr = cast<double>(dyf);
    std::vector<double> y_ref(ys), dx_ref(xs, 0.0), dw_ref(ws, 0.0);
    kernels::conv2d_forward_reference(y_ref.data(), xr.data(), wr.data(), bias ? br.data() : nullptr, k.N, k.C, k.O, 1,
                                      g);
    kernels::conv2d_backward_reference(dx_ref.data(), dw_ref.data(), static_cast<double*>(nullptr), dyr.data(),
                                       xr.data(), wr.data(), k.N, k.C, k.O, 1, g);
    const float nan = std::numeric_limits<float>::quiet_NaN();
    double worst = 0.0;
    std::vector<float> y1, dx1;
    for (int threads : {1, 2}) {
        set_num_threads(threads);
        const kernels::Conv2dPlan fplan = kernels::conv2d_forward_plan(k.N, k.C, k.O, 1, g);
        BOOST_TEST(fplan.winograd);
        std::vector<float> y(ys, nan), workspace(static_cast<size_t>(fplan.workspace), nan);
        kernels::conv2d_forward(y.data(), xf.data(), wf.data(), bias ? bf.data() : nullptr, k.N, k.C, k.O, 1, g, fplan,
                                workspace.data());
        const kernels::Conv2dPlan bplan = kernels::conv2d_backward_plan(k.N, k.C, k.O, 1, g, true, true);
        std::vector<float> dx(xs, nan), dw(ws, nan), bworkspace(static_cast<size_t>(bplan.workspace), nan);
        kernels::conv2d_backward(dx.data(), dw.data(), static_cast<float*>(nullptr), dyf.data(), xf.data(), wf.data(),
                                 k.N, k.C, k.O, 1, g, bplan, bworkspace.data(), false, false, false);
        const double ey = relative_error(y, y_ref), edx = relative_error(dx, dx_ref), edw = relative_error(dw, dw_ref);
        BOOST_TEST(ey < 1e-4, "forward, N=" << k.N << " C=" << k.C << " O=" << k.O << " H=" << k.H << " W=" << k.W
                                            << " pad=" << k.ph << "," << k.pw << " threads=" << threads);
        BOOST_TEST(edx < 1e-4, "dx, C=" << k.C << " O=" << k.O << " H=" << k.H << " threads=" << threads);
        BOOST_TEST(edw < 1e-4, "dw, C=" << k.C << " O=" << k.O << " H=" << k.H << " threads=" << threads);
        worst = std::max({worst, ey, edx, edw});
        if (threads == 1) {
            y1 = y;
            dx1 = dx;
        } else {
            BOOST_TEST(y == y1, "forward at 1 and 2 threads, C=" << k.C << " H=" << k.H);
            BOOST_TEST(dx == dx1, "dx at 1 and 2 threads, C=" << k.C << " H=" << k.H);
        }
        // Accumulating adds onto what was there.
        std::vector<float> dx_acc(xs, 1.0f), dw_acc(ws, 1.0f);
        kernels::conv2d_backward(dx_acc.data(), dw_acc.data(), static_cast<float*>(nullptr), dyf.data(), xf.data(),
                                 wf.data(), k.N, k.C, k.O, 1, g, bplan, bworkspace.data(), true, true, false);
        double dx_off = 0.0, dw_off = 0.0;
        for (size_t i = 0; i < xs; ++i) dx_off = std::max(dx_off, double(std::abs(dx_acc[i] - 1.0f - dx[i])));
        for (size_t i = 0; i < ws; ++i) dw_off = std::max(dw_off, double(std::abs(dw_acc[i] - 1.0f - dw[i])));
        BOOST_TEST(dx_off < 1e-5 + 1e-6 * std::abs(double(dx[0])));
        BOOST_TEST(dw_off < 1e-4);
    }
    return worst;
}

// Depthwise (groups == C, O = m·C) runs on its own direct kernels (conv2d_depthwise.hpp): every
// combination of multiplier m = 1, 2, 3, kernel 1×1, 3×3, 5×5, 7×7, stride 1 and 2, padding 0
// to 3 and dilation 1 and 2, on N = 1 to 4 samples and planes 17 to 23 wide (whole SIMD batches
// and a tail), then rectangular kernels, strides, paddings and dilations.
std::vector<Case> depthwise_cases() {
    std::vector<Case> cases;
    int64_t e = 0;
    for (int64_t m : {1, 2, 3})
        for (int64_t k : {3, 5, 7, 1})
            for (int64_t s : {1, 2})
                for (int64_t p : {0, 1, 2, 3})
                    for (int64_t d : {1, 2}) {
                        const int64_t C = 2 + e % 3;
                        cases.push_back({1 + e % 4, C, 9 + e % 5, 17 + e % 7, m * C, k, k, s, s, p, p, d, d, C});
                        ++e;
                    }
    cases.push_back({2, 3, 12, 19, 6, 3, 5, 2, 1, 1, 2, 1, 2, 3});  // rectangular kernel, stride, dilation
    cases.push_back({3, 4, 10, 9, 4, 5, 3, 1, 2, 3, 0, 2, 1, 4});   // and the other way round
    cases.push_back({1, 2, 5, 6, 2, 7, 7, 1, 1, 3, 3, 1, 1, 2});    // every tap partly or wholly in the padding
    return cases;
}

// Forward and every gradient at `threads` threads, in float, against the direct reference in
// double of the same (float) inputs; returns the worst error relative to each result's scale.
double depthwise_float_error(const Case& k, int threads) {
    set_num_threads(threads);
    const kernels::Window2d g = window_of(k);
    Generator gen(static_cast<uint64_t>(k.N * 1000 + k.C * 100 + k.O));
    const size_t xs = static_cast<size_t>(k.N * k.C * k.H * k.W), ws = static_cast<size_t>(k.O * k.kh * k.kw);
    const size_t ys = static_cast<size_t>(k.N * k.O * g.OH * g.OW), bs = static_cast<size_t>(k.O);
    const auto xf = cast<float>(normal(xs, gen)), wf = cast<float>(normal(ws, gen)), bf = cast<float>(normal(bs, gen));
    const auto dyf = cast<float>(normal(ys, gen));
    const auto x = cast<double>(xf), w = cast<double>(wf), b = cast<double>(bf), dy = cast<double>(dyf);
    std::vector<double> y_ref(ys), dx_ref(xs, 0.0), dw_ref(ws, 0.0), db_ref(bs, 0.0);
    kernels::conv2d_forward_reference(y_ref.data(), x.data(), w.data(), b.data(), k.N, k.C, k.O, k.groups, g);
    kernels::conv2d_backward_reference(dx_ref.data(), dw_ref.data(), db_ref.data(), dy.data(), x.data(), w.data(), k.N,
                                       k.C, k.O, k.groups, g);
    const kernels::Conv2dPlan fplan = kernels::conv2d_forward_plan(k.N, k.C, k.O, k.groups, g);
    const kernels::Conv2dPlan bplan = kernels::conv2d_backward_plan(k.N, k.C, k.O, k.groups, g, true, true);
    BOOST_TEST((fplan.depthwise && bplan.depthwise && fplan.workspace == 0 && bplan.workspace == 0));
    std::vector<float> y(ys), dx(xs), dw(ws), db(bs);
    kernels::conv2d_forward(y.data(), xf.data(), wf.data(), bf.data(), k.N, k.C, k.O, k.groups, g, fplan,
                            static_cast<float*>(nullptr));
    kernels::conv2d_backward(dx.data(), dw.data(), db.data(), dyf.data(), xf.data(), wf.data(), k.N, k.C, k.O, k.groups,
                             g, bplan, static_cast<float*>(nullptr), false, false, false);
    return std::max(
        {relative_error(y, y_ref), relative_error(dx, dx_ref), relative_error(dw, dw_ref), relative_error(db, db_ref)});
}

}  // namespace

BOOST_AUTO_TEST_SUITE(conv_kernels)

BOOST_AUTO_TEST_CASE(depthwise_matches_the_direct_reference) {
    const int saved = get_num_threads();
    for (const Case& k : depthwise_cases()) {
        BOOST_TEST_CONTEXT(describe(k)) {
            const kernels::Window2d g = window_of(k);
            BOOST_TEST(kernels::conv2d_forward_plan(k.N, k.C, k.O, k.groups, g).depthwise);
            BOOST_TEST(kernels::conv2d_backward_plan(k.N, k.C, k.O, k.groups, g, true, true).depthwise);
            for (int threads : {1, 2}) check(k, threads);
        }
    }
    set_num_threads(saved);
}

// Each plane of y and dx, and each output channel's dW, is one thread's work, summed in a fixed
// order: all three the same bits at 1 and 2 threads (these shapes are large enough to use both).
BOOST_AUTO_TEST_CASE(depthwise_is_bit_identical_at_1_and_2_threads) {
    const int saved = get_num_threads();
    const Case cases[] = {
        {4, 16, 37, 37, 32, 3, 3, 1, 1, 1, 1, 1, 1, 16},  // multiplier 2, "same" 3×3
        {4, 24, 45, 45, 24, 5, 5, 2, 2, 2, 2, 1, 1, 24},  // strided 5×5
        {4, 12, 30, 29, 36, 3, 3, 1, 1, 2, 2, 2, 2, 12},  // multiplier 3, dilated
    };
    for (const Case& k : cases) {
        BOOST_TEST_CONTEXT(describe(k)) {
            set_num_threads(2);
            BOOST_TEST(kernels::conv2d_forward_plan(k.N, k.C, k.O, k.groups, window_of(k)).threads == 2);
            const auto one = run_at<float>(k, 1), two = run_at<float>(k, 2);
            const auto one_d = run_at<double>(k, 1), two_d = run_at<double>(k, 2);
            const char* names[] = {"y", "dx", "dw", "db"};
            for (size_t i = 0; i < one.size(); ++i) {
                BOOST_TEST((one[i] == two[i]), names[i] << " (float) differs at 1 and 2 threads");
                BOOST_TEST((one_d[i] == two_d[i]), names[i] << " (double) differs at 1 and 2 threads");
            }
        }
    }
    set_num_threads(saved);
}

// In float: the products and sums of y and dx in float, dW's in double; within 1e-5 of each
// result's scale of the reference in double, including dW's long sums over a batch.
BOOST_AUTO_TEST_CASE(depthwise_in_float_matches_the_reference_in_double) {
    const int saved = get_num_threads();
    const Case cases[] = {
        {4, 8, 28, 28, 8, 3, 3, 1, 1, 1, 1, 1, 1, 8},   // 3×3, "same"
        {2, 6, 23, 21, 12, 7, 7, 2, 2, 3, 3, 1, 1, 6},  // 7×7 strided, multiplier 2
        {3, 5, 19, 26, 15, 5, 5, 1, 1, 4, 4, 2, 2, 5},  // dilated 5×5, multiplier 3
        {16, 4, 30, 30, 4, 3, 3, 1, 1, 1, 1, 1, 1, 4},  // dW over 16 samples of 900 positions
    };
    double worst = 0.0;
    for (const Case& k : cases)
        for (int threads : {1, 2}) {
            const double e = depthwise_float_error(k, threads);
            BOOST_TEST(e < 1e-5, describe(k) << " threads=" << threads << ": error " << e);
            worst = std::max(worst, e);
        }
    BOOST_TEST_MESSAGE("depthwise, float32: worst error relative to the result's scale " << worst);
    set_num_threads(saved);
}

// Stride-1 convolutions of 3×3 to 9×9 run as Winograd: 7×7 as F(2×2, 7×7), the others as
// F(4×4, 3×3) in 3×3 pieces. These shapes cover whole and partial tiles (sizes that are not
// multiples of the block, smaller than one tile), padding from 0 to k − 1, tiles that cross
// samples within a chunk, and channel counts on both sides of the GEMMs.
BOOST_AUTO_TEST_CASE(winograd_matches_the_direct_reference_in_float) {
    const int saved = get_num_threads();
    const Case f4x4_3x3[] = {
        {2, 8, 8, 8, 8, 3, 3, 1, 1, 1, 1},       // whole tiles
        {3, 16, 7, 13, 8, 3, 3, 1, 1, 1, 1},     // partial tiles, rectangular
        {2, 8, 9, 6, 16, 3, 3, 1, 1, 0, 0},      // no padding: 7×4 output
        {2, 12, 5, 5, 10, 3, 3, 1, 1, 2, 2},     // padding 2: output larger than input
        {1, 8, 3, 3, 8, 3, 3, 1, 1, 0, 1},       // a 1×3 output
        {4, 64, 14, 14, 64, 3, 3, 1, 1, 1, 1},   // the reference CNN's scale
        {2, 128, 28, 28, 32, 3, 3, 1, 1, 1, 1},  // many chunks, long sums for dW
        // Larger kernels as 3×3 pieces: 2×2 pieces (5×5, 4×4 with a zero row and column of
        // padding taps), 3×3 pieces (7×5), rectangular, 9×9, and padding from 0 to k − 1.
        {2, 8, 12, 11, 16, 5, 5, 1, 1, 2, 2},
        {2, 16, 9, 10, 8, 4, 4, 1, 1, 1, 2},
        {3, 8, 10, 13, 8, 7, 5, 1, 1, 0, 4},
        {1, 8, 11, 12, 8, 9, 9, 1, 1, 8, 1},
    };
    const Case f2x2_7x7[] = {
        {2, 12, 14, 14, 24, 7, 7, 1, 1, 3, 3},  // "same" padding, whole tiles
        {3, 8, 13, 10, 8, 7, 7, 1, 1, 3, 2},    // partial tiles, rectangular
        {2, 8, 9, 16, 16, 7, 7, 1, 1, 0, 0},    // no padding: 3×10 output
        {1, 8, 7, 7, 8, 7, 7, 1, 1, 0, 6},      // a 1×13 output, padding up to k − 1
        {2, 16, 5, 6, 8, 7, 7, 1, 1, 6, 5},     // output larger than input, windows mostly padding
        {2, 48, 14, 14, 96, 7, 7, 1, 1, 3, 3},  // the wide-kernel net's 7×7
        {8, 24, 20, 20, 16, 7, 7, 1, 1, 3, 3},  // many chunks, long sums for dW
    };
    for (const auto& [name, cases] : {std::pair{"F(4x4, 3x3)", std::span<const Case>(f4x4_3x3)},
                                      std::pair{"F(2x2, 7x7)", std::span<const Case>(f2x2_7x7)}}) {
        double worst = 0.0;
        for (const Case& k : cases) {
            BOOST_TEST_CONTEXT(describe(k)) { worst = std::max(worst, check_winograd(k, /*bias=*/k.C % 16 == 0)); }
        }
        BOOST_TEST_MESSAGE("Winograd " << name << ", float32: worst error relative to the result's scale " << worst);
    }
    set_num_threads(saved);
}

BOOST_AUTO_TEST_CASE(drivers_match_the_direct_reference) {
    const int saved = get_num_threads();
    const Case cases[] = {
        {3, 2, 7, 6, 4, 3, 3, 1, 1, 1, 1},      // "same" 3×3, the contiguous-run im2col path
        {2, 3, 9, 8, 2, 3, 2, 2, 1, 0, 1},      // strides, uneven kernel and padding
        {4, 5, 6, 6, 3, 1, 1, 1, 1, 0, 0},      // 1×1 direct: x[n] is its own column matrix
        {1, 4, 10, 10, 6, 3, 3, 1, 1, 1, 1},    // one sample: GEMM, not the samples, takes the threads
        {8, 16, 14, 14, 32, 3, 3, 1, 1, 1, 1},  // Winograd, on 2 threads
        {3, 8, 11, 12, 16, 5, 5, 1, 1, 2, 1},   // Winograd with 2×2 pieces
        {2, 8, 9, 9, 8, 7, 6, 1, 1, 3, 0},      // Winograd with 3×2 pieces
    };
    for (int threads : {1, 2})
        for (const Case& k : cases) check(k, threads);
    set_num_threads(saved);
}

BOOST_AUTO_TEST_CASE(dilation_and_groups_match_the_direct_reference) {
    const int saved = get_num_threads();
    for (int threads : {1, 2})
        for (const Case& k : kGeometries) {
            BOOST_TEST_CONTEXT(describe(k)) { check(k, threads); }
        }
    set_num_threads(saved);
}

// Each sample's GEMMs run on one thread whatever the count (see check_bits_at_1_and_2_threads).
BOOST_AUTO_TEST_CASE(y_dx_db_are_bit_identical_at_1_and_2_threads) {
    const int saved = get_num_threads();
    const Case plain[] = {{8, 16, 14, 14, 32, 3, 3, 1, 1, 1, 1}, {4, 32, 14, 14, 16, 1, 1, 1, 1, 0, 0}};
    std::vector<Case> cases(std::begin(plain), std::end(plain));
    cases.insert(cases.end(), std::begin(kGeometries), std::end(kGeometries));
    for (const Case& k : cases) {
        BOOST_TEST_CONTEXT(describe(k)) {
            check_bits_at_1_and_2_threads<float>(k);
            check_bits_at_1_and_2_threads<double>(k);
        }
    }
    set_num_threads(saved);
}

// The plan: samples go over the threads only when there are several and the work pays.
BOOST_AUTO_TEST_CASE(plan_splits_samples_only_when_it_pays) {
    const int saved = get_num_threads();
    set_num_threads(2);
    const kernels::Window2d big{14, 14, 3, 3, 1, 1, 1, 1, 14, 14};
    BOOST_TEST(kernels::conv2d_forward_plan(8, 16, 32, 1, big).threads == 2);
    BOOST_TEST(kernels::conv2d_forward_plan(1, 16, 32, 1, big).threads == 1);
    // Depthwise does 1/16 of the work: not enough for a second thread.
    BOOST_TEST(kernels::conv2d_forward_plan(8, 16, 32, 16, big).threads == 1);
    BOOST_TEST(kernels::conv2d_forward_plan(8, 16, 32, 16, big).depthwise);
    // kGeometries' last two cases do run on 2 threads (the last one depthwise, a plane a task).
    BOOST_TEST(kernels::conv2d_forward_plan(8, 16, 32, 4, window_of(kGeometries[11])).threads == 2);
    BOOST_TEST(kernels::conv2d_forward_plan(8, 32, 64, 32, window_of(kGeometries[12])).threads == 2);
    const kernels::Window2d tiny{3, 3, 3, 3, 1, 1, 1, 1, 3, 3};
    BOOST_TEST(kernels::conv2d_forward_plan(2, 1, 1, 1, tiny).threads == 1);
    const kernels::Window2d pointwise{5, 5, 1, 1, 1, 1, 0, 0, 5, 5};
    BOOST_TEST(kernels::conv2d_forward_plan(2, 3, 4, 1, pointwise).direct);
    BOOST_TEST(kernels::conv2d_forward_plan(2, 3, 4, 1, pointwise).workspace == 0);
    BOOST_TEST(kernels::conv2d_forward_plan(2, 3, 4, 1, big).workspace == 3 * 9 * 14 * 14);
    // Groups share one column matrix of the whole sample; dW is (O, C/groups, kh, kw).
    BOOST_TEST(kernels::conv2d_forward_plan(2, 4, 8, 2, big).workspace == 4 * 9 * 14 * 14);
    BOOST_TEST(kernels::conv2d_backward_plan(2, 4, 8, 2, big, false, true).workspace == 4 * 9 * 14 * 14 + 8 * 2 * 9);
    // Depthwise (groups == C) needs no workspace; one channel (groups == C == 1) is a plain convolution.
    BOOST_TEST(kernels::conv2d_forward_plan(2, 4, 8, 4, big).workspace == 0);
    BOOST_TEST(kernels::conv2d_backward_plan(2, 4, 8, 4, big, true, true).workspace == 0);
    BOOST_TEST(!kernels::conv2d_forward_plan(2, 1, 8, 1, big).depthwise);
    const kernels::Window2d dilated{14, 14, 3, 3, 1, 1, 0, 0, 10, 10, 2, 2};
    BOOST_TEST(kernels::window_output_extent(14, 3, 1, 0, 2) == 10);
    BOOST_TEST(kernels::conv2d_forward_plan(2, 3, 4, 1, dilated).workspace == 3 * 9 * 10 * 10);
    set_num_threads(1);
    BOOST_TEST(kernels::conv2d_forward_plan(8, 16, 32, 1, big).threads == 1);
    set_num_threads(saved);
}

BOOST_AUTO_TEST_SUITE_END()
