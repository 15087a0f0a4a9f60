// The strided kernels against their scalar references: strided_gather and strided_scatter_add
// over random views (permuted, narrowed, stepped, expanded with stride 0, size-1 and empty
// dims), index_select/index_add with repeated indices, and nearest upsampling; small shapes and
// shapes large enough to go parallel (including few long runs, which are cut into pieces), at
// 1 and 2 threads, float and double. Copies must match bit for bit, and so must adds that reach
// each element once; sums of several terms (stride 0, upsampling's blocks) may round differently.
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

#include "framework/kernels/strided.hpp"
#include "framework/kernels/upsample.hpp"
#include <tapegrad/tapegrad.hpp>

using namespace tapegrad;

namespace {

// A view of a contiguous source of `numel` elements: out[idx] = src[offset + Σ idx·strides].
struct View {
    std::vector<int64_t> sizes, strides;
    int64_t offset = 0, numel = 1;
    bool has_zero_stride = false;
    int64_t count() const {
        int64_t n = 1;
        for (int64_t s : sizes) n *= s;
        return n;
    }
};

// A random source shape, permuted, with each dimension narrowed and stepped at random, and
// now and then a new dimension of stride 0 (expand) or a size-1 one.
View random_view(Generator& gen, int64_t max_rank, int64_t max_size) {
    const auto rank = static_cast<int64_t>(1 + gen.below(static_cast<uint64_t>(max_rank)));
    std::vector<int64_t> shape(static_cast<size_t>(rank));
    for (int64_t& s : shape) s = static_cast<int64_t>(gen.below(static_cast<uint64_t>(max_size))) + 1;
    if (gen.below(10) == 0) shape[gen.below(shape.size())] = 0;  // now and then an empty source
    std::vector<int64_t> cstrides(shape.size());
    int64_t stride = 1;
    for (size_t d = shape.size(); d-- > 0;) {
        cstrides[d] = stride;
        stride *= std::max<int64_t>(shape[d], 1);
    }
    View v;
    v.numel = stride;
    for (int64_t s : shape) v.numel = s == 0 ? 0 : v.numel;
    std::vector<size_t> order(shape.size());
    std::iota(order.begin(), order.end(), size_t{0});
    for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[gen.below(i)]);
    for (size_t d : order) {
        int64_t size = shape[d], start = 0, step = 1;
        if (size > 1 && gen.below(3) == 0) {
            start = static_cast<int64_t>(gen.below(static_cast<uint64_t>(size)));
            step = static_cast<int64_t>(1 + gen.below(3));
            size = (size - start + step - 1) / step;
        }
        v.offset += start * cstrides[d];
        v.sizes.push_back(size);
        v.strides.push_back(cstrides[d] * step);
        if (gen.below(6) == 0) {
            const int64_t repeat = static_cast<int64_t>(1 + gen.below(4));
            v.sizes.push_back(repeat);
            v.strides.push_back(0);
            v.has_zero_stride = v.has_zero_stride || repeat > 1;
        }
    }
    return v;
}

template <typename T>
std::vector<T> random_values(int64_t n, Generator& gen) {
    std::vector<T> v(static_cast<size_t>(n));
    for (T& e : v) e = static_cast<T>(gen.normal());
    return v;
}

std::vector<int64_t> contiguous(const std::vector<int64_t>& sizes) {
    std::vector<int64_t> s(sizes.size());
    int64_t stride = 1;
    for (size_t d = sizes.size(); d-- > 0;) {
        s[d] = stride;
        stride *= std::max<int64_t>(sizes[d], 1);
    }
    return s;
}

template <typename T>
double max_relative_difference(const std::vector<T>& a, const std::vector<T>& b) {
    double m = 0.0;
    for (size_t i = 0; i < a.size(); ++i)
        m = std::max(m, std::abs(double(a[i]) - double(b[i])) / std::max(1.0, std::abs(double(b[i]))));
    return m;
}

// Gather and scatter-add of one view against the references.
template <typename T>
void check_view(const View& v, Generator& gen, const std::string& what) {
    BOOST_TEST_CONTEXT(what) {
        const auto rank = static_cast<int64_t>(v.sizes.size());
        const int64_t n = v.count();
        const std::vector<T> src = random_values<T>(v.numel, gen);
        std::vector<T> out(static_cast<size_t>(n), T(-7)), ref(static_cast<size_t>(n), T(-7));
        kernels::strided_gather(out.data(), src.data(), v.sizes.data(), v.strides.data(), rank, v.offset);
        const std::vector<int64_t> cs = contiguous(v.sizes);
        if (n > 0)
            kernels::strided_copy_reference(ref.data(), cs.data(), src.data() + v.offset, v.strides.data(),
                                            v.sizes.data(), rank);
        BOOST_TEST(out == ref, boost::test_tools::per_element());

        const std::vector<T> dy = random_values<T>(n, gen);
        std::vector<T> dx = random_values<T>(v.numel, gen), dx_ref = dx;
        kernels::strided_scatter_add(dx.data(), dy.data(), v.sizes.data(), v.strides.data(), rank, v.offset);
        if (n > 0)
            kernels::strided_add_reference(dx_ref.data() + v.offset, v.strides.data(), dy.data(), cs.data(),
                                           v.sizes.data(), rank);
        if (v.has_zero_stride)
            BOOST_TEST(max_relative_difference(dx, dx_ref) <= (sizeof(T) == 4 ? 1e-5 : 1e-13));
        else
            BOOST_TEST(dx == dx_ref, boost::test_tools::per_element());
    }
}

template <typename T>
void random_views(int threads) {
    set_num_threads(threads);
    Generator gen(static_cast<uint64_t>(11 + threads));
    for (int i = 0; i < 300; ++i) check_view<T>(random_view(gen, 5, 6), gen, "small view " + std::to_string(i));
    for (int i = 0; i < 12; ++i) check_view<T>(random_view(gen, 3, 90), gen, "large view " + std::to_string(i));
}

View plain(std::vector<int64_t> sizes, std::vector<int64_t> strides, int64_t offset, int64_t numel) {
    View v;
    v.sizes = std::move(sizes);
    v.strides = std::move(strides);
    v.offset = offset;
    v.numel = numel;
    v.has_zero_stride = std::find(v.strides.begin(), v.strides.end(), 0) != v.strides.end();
    return v;
}

// Views large enough for the parallel path: many short runs (a transpose, walked in tiles;
// and one too small for the parallel path, with partial tiles), two long runs (a narrow of two
// rows: cut into pieces), one run (a plain copy), and expand's stride 0 outside and inside the run.
template <typename T>
void large_views(int threads) {
    set_num_threads(threads);
    Generator gen(static_cast<uint64_t>(23 + threads));
    check_view<T>(plain({3, 300, 200}, {60000, 1, 300}, 0, 180000), gen, "transpose (3, 200, 300)");
    check_view<T>(plain({5, 77, 13}, {1001, 1, 77}, 0, 5005), gen, "transpose (5, 13, 77): partial tiles");
    check_view<T>(plain({2, 90000}, {100000, 1}, 7, 200000), gen, "narrow of two long rows");
    check_view<T>(plain({140001}, {1}, 0, 140001), gen, "one run");
    check_view<T>(plain({3, 70001}, {0, 1}, 0, 70001), gen, "expand (1, 70001) to (3, 70001)");
    check_view<T>(plain({70001, 3}, {1, 0}, 0, 70001), gen, "expand (70001, 1) to (70001, 3)");
    check_view<T>(plain({400, 3, 170}, {170, 0, 1}, 0, 68000), gen, "expand a middle dim");
}

// index_select against the definition, index_add against a loop in the order of k.
template <typename T>
void check_index(int64_t outer, int64_t dim_size, int64_t inner, const std::vector<int64_t>& index, Generator& gen) {
    const auto n = static_cast<int64_t>(index.size());
    BOOST_TEST_CONTEXT("outer " << outer << ", dim " << dim_size << ", inner " << inner << ", " << n << " indices") {
        const std::vector<T> x = random_values<T>(outer * dim_size * inner, gen);
        std::vector<T> out(static_cast<size_t>(outer * n * inner)), ref(out.size());
        kernels::index_select_forward(out.data(), x.data(), index.data(), outer, n, dim_size, inner);
        for (int64_t o = 0; o < outer; ++o)
            for (int64_t k = 0; k < n; ++k)
                for (int64_t i = 0; i < inner; ++i)
                    ref[static_cast<size_t>((o * n + k) * inner + i)] =
                        x[static_cast<size_t>((o * dim_size + index[k]) * inner + i)];
        BOOST_TEST(out == ref, boost::test_tools::per_element());

        const std::vector<T> dy = random_values<T>(outer * n * inner, gen);
        std::vector<T> dx = random_values<T>(outer * dim_size * inner, gen), dx_ref = dx;
        kernels::index_add(dx.data(), dy.data(), index.data(), outer, n, dim_size, inner);
        for (int64_t o = 0; o < outer; ++o)
            for (int64_t k = 0; k < n; ++k)
                for (int64_t i = 0; i < inner; ++i)
                    dx_ref[static_cast<size_t>((o * dim_size + index[k]) * inner + i)] +=
                        dy[static_cast<size_t>((o * n + k) * inner + i)];
        BOOST_TEST(dx == dx_ref, boost::test_tools::per_element());
    }
}

template <typename T>
void index_kernels(int threads) {
    set_num_threads(threads);
    Generator gen(static_cast<uint64_t>(31 + threads));
    check_index<T>(3, 5, 4, {4, 0, 4, 4, 2}, gen);
    check_index<T>(1, 3, 1, {}, gen);
    check_index<T>(2, 4, 7, {3}, gen);
    check_index<T>(1, 6, 40000, {5, 1, 5}, gen);     // few rows: split over columns
    check_index<T>(3000, 8, 9, {7, 7, 0, 3}, gen);   // many rows: split over them
}

template <typename T>
void upsample_kernels(int threads) {
    set_num_threads(threads);
    Generator gen(static_cast<uint64_t>(41 + threads));
    struct Shape4 {
        int64_t NC, H, W, s;
    };
    for (const Shape4 g : {Shape4{1, 1, 1, 1}, Shape4{2, 3, 5, 2}, Shape4{3, 2, 17, 3}, Shape4{1, 4, 4, 4},
                           Shape4{6, 3, 33, 1}, Shape4{64, 16, 24, 2}, Shape4{8, 40, 40, 3}}) {
        BOOST_TEST_CONTEXT("NC " << g.NC << ", H " << g.H << ", W " << g.W << ", scale " << g.s) {
            const int64_t n = g.NC * g.H * g.W, on = n * g.s * g.s;
            const std::vector<T> x = random_values<T>(n, gen);
            std::vector<T> y(static_cast<size_t>(on)), y_ref(y.size());
            kernels::upsample_nearest2d_forward(y.data(), x.data(), g.NC, g.H, g.W, g.s);
            kernels::upsample_nearest2d_forward_reference(y_ref.data(), x.data(), g.NC, g.H, g.W, g.s);
            BOOST_TEST(y == y_ref, boost::test_tools::per_element());

            const std::vector<T> dy = random_values<T>(on, gen);
            for (bool accumulate : {false, true}) {
                std::vector<T> dx = random_values<T>(n, gen), dx_ref = dx;
                kernels::upsample_nearest2d_backward(dx.data(), dy.data(), g.NC, g.H, g.W, g.s, accumulate);
                kernels::upsample_nearest2d_backward_reference(dx_ref.data(), dy.data(), g.NC, g.H, g.W, g.s,
                                                               accumulate);
                BOOST_TEST(max_relative_difference(dx, dx_ref) <= (sizeof(T) == 4 ? 1e-5 : 1e-13));
            }
        }
    }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(strided_kernels)

BOOST_AUTO_TEST_CASE(gather_and_scatter_add_over_random_views) {
    for (int threads : {1, 2}) {
        random_views<float>(threads);
        random_views<double>(threads);
    }
}

BOOST_AUTO_TEST_CASE(gather_and_scatter_add_on_the_parallel_path) {
    for (int threads : {1, 2}) {
        large_views<float>(threads);
        large_views<double>(threads);
    }
}

BOOST_AUTO_TEST_CASE(index_select_and_index_add) {
    for (int threads : {1, 2}) {
        index_kernels<float>(threads);
        index_kernels<double>(threads);
    }
}

BOOST_AUTO_TEST_CASE(upsample_nearest2d) {
    for (int threads : {1, 2}) {
        upsample_kernels<float>(threads);
        upsample_kernels<double>(threads);
    }
}

BOOST_AUTO_TEST_SUITE_END()
