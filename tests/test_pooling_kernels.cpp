// The 2×2, stride-2 pooling kernels against the general loops on the same window, bit for bit:
// max and average, forward and backward (adding and assigning), float and double, odd and even
// planes from 1×1 up, rows shorter and longer than a SIMD batch, inputs full of ties, ±0,
// ±inf, subnormals and NaNs with distinct payloads (so that which NaN won shows in the bits),
// at 1 and 2 threads.
#include <boost/test/unit_test.hpp>
#include <boost/test/data/test_case.hpp>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "framework/kernels/pooling.hpp"
#include <tapegrad/tapegrad.hpp>
#include "support/tensors.hpp"

using namespace tapegrad;
namespace bdata = boost::unit_test::data;

namespace {

template <typename T>
using Bits = std::conditional_t<std::is_same_v<T, float>, uint32_t, uint64_t>;

// A quiet NaN whose payload is k, so that two NaNs can be told apart by their bits.
template <typename T>
T nan_with_payload(uint64_t k) {
    return std::bit_cast<T>(std::bit_cast<Bits<T>>(std::numeric_limits<T>::quiet_NaN()) | static_cast<Bits<T>>(k + 1));
}

// Normal values with, among them, copies of the previous element (ties), ±0, ±inf,
// subnormals and NaNs (about one in eight, with distinct payloads).
template <typename T>
std::vector<T> awkward_values(size_t n, Generator& gen) {
    std::vector<T> v(n);
    for (size_t i = 0; i < n; ++i) {
        const uint64_t kind = gen.below(40);
        if (kind < 5) v[i] = nan_with_payload<T>(i);
        else if (kind < 10 && i > 0) v[i] = v[i - 1];
        else if (kind == 10) v[i] = T(0);
        else if (kind == 11) v[i] = -T(0);
        else if (kind == 12) v[i] = std::numeric_limits<T>::infinity();
        else if (kind == 13) v[i] = -std::numeric_limits<T>::infinity();
        else if (kind == 14) v[i] = std::numeric_limits<T>::denorm_min() * T(3);  // a quarter of it rounds
        else if (kind == 15) v[i] = -std::numeric_limits<T>::min() * T(0.75);
        else v[i] = static_cast<T>(gen.normal());
    }
    return v;
}

// "" when a and b hold the same bits, else where and what differs first. With any_nan, a NaN
// matches any NaN: which payload a sum of two NaNs keeps is the compiler's choice (it may swap
// the operands of an addition), while a max selects one and must keep its bits.
template <typename V>
std::string bit_mismatch(const V& a, const V& b, bool any_nan = false) {
    if (a.size() != b.size()) return "sizes " + std::to_string(a.size()) + " and " + std::to_string(b.size());
    for (size_t i = 0; i < a.size(); ++i) {
        if (any_nan && std::isnan(a[i]) && std::isnan(b[i])) continue;
        if (std::bit_cast<Bits<typename V::value_type>>(a[i]) != std::bit_cast<Bits<typename V::value_type>>(b[i]))
            return "element " + std::to_string(i) + ": " + std::to_string(a[i]) + " against " + std::to_string(b[i]);
    }
    return "";
}

// The same values, NaNs aside (see bit_mismatch): for results of additions.
template <typename V>
std::string sum_mismatch(const V& a, const V& b) {
    return bit_mismatch(a, b, /*any_nan=*/true);
}

kernels::Window2d window_2x2(int64_t H, int64_t W) {
    return {
        H, W, 2, 2, 2, 2, 0, 0, kernels::window_output_extent(H, 2, 2, 0), kernels::window_output_extent(W, 2, 2, 0)};
}

template <typename T>
void check_max_pool(int64_t NC, int64_t H, int64_t W, uint64_t seed) {
    Generator gen(seed);
    const kernels::Window2d g = window_2x2(H, W);
    const size_t in = static_cast<size_t>(NC * H * W), out = static_cast<size_t>(NC * g.OH * g.OW);
    const std::vector<T> x = awkward_values<T>(in, gen), dy = awkward_values<T>(out, gen);

    std::vector<T> y(out), y_ref(out);
    std::vector<uint8_t> which(out);
    std::vector<int64_t> argmax_ref(out);
    kernels::max_pool2d_2x2_forward<T>(y.data(), which.data(), x.data(), NC, H, W);
    kernels::max_pool2d_forward<T>(y_ref.data(), argmax_ref.data(), x.data(), NC, g);
    BOOST_TEST(bit_mismatch(y, y_ref) == "");
    // `which` names the reference's argmax within its window.
    std::vector<int64_t> argmax(out);
    for (size_t k = 0; k < out; ++k) {
        const int64_t o = static_cast<int64_t>(k) % (g.OH * g.OW), oh = o / g.OW, ow = o % g.OW;
        argmax[k] = (2 * oh + which[k] / 2) * W + 2 * ow + which[k] % 2;
    }
    BOOST_TEST(argmax == argmax_ref);

    // Adding: into the same gradient, whose values (NaNs and −0 included) the elements that
    // get nothing keep.
    std::vector<T> dx = awkward_values<T>(in, gen), dx_ref = dx;
    kernels::max_pool2d_2x2_backward<T>(dx.data(), dy.data(), which.data(), NC, H, W, /*accumulate=*/true);
    kernels::max_pool2d_backward<T>(dx_ref.data(), dy.data(), argmax_ref.data(), NC, g);
    BOOST_TEST(sum_mismatch(dx, dx_ref) == "");
    // Assigning: into garbage, as adding into zeros.
    std::vector<T> dx_fresh(in, nan_with_payload<T>(7)), dx_zeroed(in, T(0));
    kernels::max_pool2d_2x2_backward<T>(dx_fresh.data(), dy.data(), which.data(), NC, H, W, /*accumulate=*/false);
    kernels::max_pool2d_backward<T>(dx_zeroed.data(), dy.data(), argmax_ref.data(), NC, g);
    BOOST_TEST(sum_mismatch(dx_fresh, dx_zeroed) == "");
}

template <typename T>
void check_avg_pool(int64_t NC, int64_t H, int64_t W, uint64_t seed) {
    Generator gen(seed);
    const kernels::Window2d g = window_2x2(H, W);
    const size_t in = static_cast<size_t>(NC * H * W), out = static_cast<size_t>(NC * g.OH * g.OW);
    const std::vector<T> x = awkward_values<T>(in, gen), dy = awkward_values<T>(out, gen);

    std::vector<T> y(out), y_ref(out);
    kernels::avg_pool2d_2x2_forward<T>(y.data(), x.data(), NC, H, W);
    kernels::avg_pool2d_forward<T>(y_ref.data(), x.data(), NC, g);
    BOOST_TEST(sum_mismatch(y, y_ref) == "");

    std::vector<T> dx = awkward_values<T>(in, gen), dx_ref = dx;
    kernels::avg_pool2d_2x2_backward<T>(dx.data(), dy.data(), NC, H, W, /*accumulate=*/true);
    kernels::avg_pool2d_backward<T>(dx_ref.data(), dy.data(), NC, g);
    BOOST_TEST(sum_mismatch(dx, dx_ref) == "");
    std::vector<T> dx_fresh(in, nan_with_payload<T>(7)), dx_zeroed(in, T(0));
    kernels::avg_pool2d_2x2_backward<T>(dx_fresh.data(), dy.data(), NC, H, W, /*accumulate=*/false);
    kernels::avg_pool2d_backward<T>(dx_zeroed.data(), dy.data(), NC, g);
    BOOST_TEST(sum_mismatch(dx_fresh, dx_zeroed) == "");
}

struct Plane {
    int64_t H, W;
};
std::ostream& operator<<(std::ostream& os, const Plane& p) { return os << p.H << "x" << p.W; }

// Odd and even sides; rows of 0 to 48 outputs, so that float and double rows end in every
// kind of tail (none, shorter than a batch, a batch and more) at every SIMD width.
const std::vector<Plane> planes{{1, 1},  {1, 2},   {2, 1},   {2, 2},  {3, 5},  {5, 3},   {7, 7},   {14, 14}, {28, 28},
                                {33, 17}, {4, 32}, {3, 33}, {2, 64}, {5, 70}, {2, 97}, {6, 130}, {9, 45}};

}  // namespace

BOOST_DATA_TEST_CASE(max_pool2d_2x2_matches_the_general_loop, bdata::make(planes), plane) {
    for (int64_t NC : {1, 3}) {
        check_max_pool<float>(NC, plane.H, plane.W, static_cast<uint64_t>(plane.H * 1000 + plane.W + NC));
        check_max_pool<double>(NC, plane.H, plane.W, static_cast<uint64_t>(plane.H * 1000 + plane.W + NC));
    }
}

BOOST_DATA_TEST_CASE(avg_pool2d_2x2_matches_the_general_loop, bdata::make(planes), plane) {
    for (int64_t NC : {1, 3}) {
        check_avg_pool<float>(NC, plane.H, plane.W, static_cast<uint64_t>(plane.H * 1000 + plane.W + NC));
        check_avg_pool<double>(NC, plane.H, plane.W, static_cast<uint64_t>(plane.H * 1000 + plane.W + NC));
    }
}

// Planes enough to go parallel (the reference CNN's two pools, and odd sides), split over 1
// and 2 threads.
BOOST_DATA_TEST_CASE(pool2d_2x2_matches_the_general_loop_in_parallel, bdata::make({1, 2}), threads) {
    set_num_threads(threads);
    check_max_pool<float>(2 * 32, 28, 28, 1);
    check_max_pool<float>(2 * 64, 14, 14, 2);
    check_max_pool<double>(70, 29, 27, 3);
    check_avg_pool<float>(2 * 32, 28, 28, 4);
    check_avg_pool<double>(70, 29, 27, 5);
}

// The rule itself, on windows whose answer is known: the first maximum on ties (−0 and +0 tie),
// a NaN over any number, and of several NaNs the last.
BOOST_AUTO_TEST_CASE(max_pool2d_2x2_keeps_the_first_maximum_and_the_last_nan) {
    const float nan1 = nan_with_payload<float>(1), nan2 = nan_with_payload<float>(2);
    const float inf = std::numeric_limits<float>::infinity();
    struct Case {
        float a, b, c, d;  // (a, b; c, d)
        float y;
        uint8_t which;
    };
    const std::vector<Case> cases{{3, 3, 3, 3, 3, 0},           {1, 5, 5, 2, 5, 1},
                                  {-0.0f, 0.0f, 0.0f, -0.0f, -0.0f, 0}, {0.0f, -0.0f, 1, -0.0f, 1, 2},
                                  {-inf, -inf, -inf, -inf, -inf, 0},     {1, nan1, 7, 2, nan1, 1},
                                  {nan1, 1, nan2, 5, nan2, 2},           {1, nan1, 2, nan2, nan2, 3},
                                  {nan2, nan1, 9, inf, nan1, 1},         {-1, -2, -0.5f, -3, -0.5f, 2}};
    // Each window in the first columns of a 2×W plane wide enough to fill whole batches, and
    // the same windows again in the tail.
    const int64_t W = 2 * (16 + static_cast<int64_t>(cases.size()));
    std::vector<float> x(static_cast<size_t>(2 * W), 0.0f);
    for (size_t i = 0; i < x.size() / 2; i += 2) {
        const Case& c = cases[(i / 2) % cases.size()];
        x[i] = c.a, x[i + 1] = c.b, x[static_cast<size_t>(W) + i] = c.c, x[static_cast<size_t>(W) + i + 1] = c.d;
    }
    std::vector<float> y(static_cast<size_t>(W / 2));
    std::vector<uint8_t> which(y.size());
    kernels::max_pool2d_2x2_forward<float>(y.data(), which.data(), x.data(), 1, 2, W);
    for (size_t k = 0; k < y.size(); ++k) {
        const Case& c = cases[k % cases.size()];
        BOOST_TEST(std::bit_cast<uint32_t>(y[k]) == std::bit_cast<uint32_t>(c.y), "window " << k);
        BOOST_TEST(which[k] == c.which, "window " << k);
    }
}

// The mean in double lanes, on windows whose answer is known: an all −0 window gives +0 (the
// sum starts from 0.0), and float windows whose float sum would round or overflow.
BOOST_AUTO_TEST_CASE(avg_pool2d_2x2_sums_in_double_from_zero) {
    const float tiny = std::ldexp(1.0f, -24), big = 3e38f;
    struct Case {
        float a, b, c, d;
        float y;
    };
    const std::vector<Case> cases{{-0.0f, -0.0f, -0.0f, -0.0f, 0.0f},
                                  {1, 2, 3, 4, 2.5f},
                                  {1, tiny, tiny, 0, 0.25f + std::ldexp(1.0f, -25)},  // 0.25 summed in float
                                  {big, big, -big, -big, 0.0f},                       // inf summed in float
                                  {-1, 0.5f, -0.0f, 0.5f, 0.0f}};
    const int64_t W = 2 * (16 + static_cast<int64_t>(cases.size()));
    std::vector<float> x(static_cast<size_t>(2 * W), 0.0f);
    for (size_t i = 0; i < x.size() / 2; i += 2) {
        const Case& c = cases[(i / 2) % cases.size()];
        x[i] = c.a, x[i + 1] = c.b, x[static_cast<size_t>(W) + i] = c.c, x[static_cast<size_t>(W) + i + 1] = c.d;
    }
    std::vector<float> y(static_cast<size_t>(W / 2));
    kernels::avg_pool2d_2x2_forward<float>(y.data(), x.data(), 1, 2, W);
    for (size_t k = 0; k < y.size(); ++k)
        BOOST_TEST(std::bit_cast<uint32_t>(y[k]) == std::bit_cast<uint32_t>(cases[k % cases.size()].y), "window " << k);
}

// Through the op: the first backward into x assigns its gradient, the second adds to it.
BOOST_AUTO_TEST_CASE(pool2d_2x2_ops_assign_then_add_the_gradient) {
    Generator gen(11);
    Tensor x = randn({2, 3, 6, 7}, &gen);
    x.requires_grad_();
    const Tensor seed = randn({2, 3, 3, 3}, &gen);
    for (const bool max : {true, false}) {
        const auto pool = [&] { return max ? max_pool2d(x, 2) : avg_pool2d(x, 2); };
        x.zero_grad();
        {
            Tape tape;
            tape.backward(pool(), seed);
        }
        const Tensor once = x.grad().clone();
        {
            Tape tape;
            tape.backward(pool(), seed);
        }
        BOOST_TEST(tapegrad::testing::max_difference(x.grad(), once * 2.0f) == 0.0);
        for (int64_t i = 0; i < 2 * 3 * 6; ++i) BOOST_TEST(once.data()[i * 7 + 6] == 0.0f);  // the odd last column
    }
}
