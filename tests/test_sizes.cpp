// Sizes that do not fit: every reproducer of a size computation that used to wrap —
// tensor factories, layer constructors, conv and pool output sizes, the Loader's batch count,
// the IDX header — is a clean exception whose message names the shape or value it sized, never
// a wrapped (negative) number; and the sizes that do fit, however extreme, keep working.
// framework/io's readers have their own cases in test_io.
#include <boost/test/unit_test.hpp>
#include <zlib.h>

#include <cstdint>
#include <filesystem>
#include <regex>
#include <stdexcept>
#include <string>
#include <vector>

#include <tapegrad/tapegrad.hpp>
#include "support/messages.hpp"
#include "support/temp_dir.hpp"

using namespace tapegrad;
namespace fs = std::filesystem;

namespace {

constexpr int64_t kMax = INT64_MAX;

// f() must throw E whose message contains every one of `parts` and no negative number (a
// wrapped size prints as one).
template <typename E, typename F>
void check_size_error(F&& f, const std::vector<std::string>& parts) {
    try {
        f();
        BOOST_ERROR("expected an exception");
    } catch (const E& e) {
        const std::string what = e.what();
        BOOST_TEST_MESSAGE("message: " << what);
        for (const auto& part : parts)
            BOOST_TEST(what.find(part) != std::string::npos, "'" << part << "' not in: " << what);
        BOOST_TEST(!std::regex_search(what, std::regex("-[0-9]")), "a negative number in: " << what);
    }
}

// Sample i has one value, i; its label is i.
class Indices final : public data::Dataset {
  public:
    explicit Indices(int64_t n) : n_(n) {}
    int64_t size() const override { return n_; }
    Shape sample_shape() const override { return {1}; }
    int64_t get_into(int64_t index, float* out) const override {
        out[0] = static_cast<float>(index);
        return index;
    }

  private:
    int64_t n_;
};

void write_gz(const fs::path& path, const std::vector<uint8_t>& bytes) {
    gzFile f = gzopen(path.c_str(), "wb");
    BOOST_REQUIRE(f != nullptr);
    if (!bytes.empty()) BOOST_REQUIRE(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())) > 0);
    BOOST_REQUIRE(gzclose(f) == Z_OK);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(sizes)

// --- tensor factories ------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(zeros_with_more_elements_than_int64_holds) {
    // Used to give a tensor of this shape whose numel() was 0.
    check_size_error<std::length_error>([] { zeros({int64_t{1} << 40, int64_t{1} << 40}); },
                                        {"[1099511627776, 1099511627776]", "int64"});
    check_size_error<std::length_error>([] { ones<double>({kMax, 2}); }, {"[9223372036854775807, 2]"});
    check_size_error<std::length_error>([] { empty<float>({3, kMax / 2}); }, {"[3, 4611686018427387903]"});
}

BOOST_AUTO_TEST_CASE(zeros_with_more_bytes_than_int64_holds) {
    // 2^62 elements fit in int64, their 2^64 bytes do not.
    check_size_error<std::length_error>([] { zeros({int64_t{1} << 31, int64_t{1} << 31}); },
                                        {"[2147483648, 2147483648]", "4-byte"});
    check_size_error<std::length_error>([] { randn<double>({int64_t{1} << 61}); }, {"[2305843009213693952]", "8-byte"});
}

BOOST_AUTO_TEST_CASE(empty_tensors_of_huge_extents_are_fine) {
    // numel 0, as in PyTorch (torch.zeros(0, 2**62)).
    const Tensor a = zeros({0, int64_t{1} << 62});
    BOOST_TEST(a.numel() == 0);
    BOOST_TEST((a.shape() == Shape{0, int64_t{1} << 62}));
    BOOST_TEST(zeros({kMax, 0}).numel() == 0);
    BOOST_TEST(zeros({0, kMax, 1}).numel() == 0);
    BOOST_TEST(zeros({int64_t{1} << 20, int64_t{1} << 20, 0}).numel() == 0);
    // The largest counts that fit still count right.
    BOOST_TEST(shape_numel({kMax}) == kMax);
    BOOST_TEST(shape_numel({int64_t{1} << 31, int64_t{1} << 31}) == int64_t{1} << 62);
    BOOST_TEST(shape_numel({}) == 1);
}

BOOST_AUTO_TEST_CASE(a_shape_whose_non_zero_extents_overflow_is_refused_even_when_empty) {
    // Its numel would be 0, but every sub-shape an op counts (N·C, H·W) must fit too.
    check_size_error<std::length_error>([] { zeros({int64_t{1} << 40, int64_t{1} << 40, 0}); },
                                        {"[1099511627776, 1099511627776, 0]"});
    BOOST_CHECK_THROW(shape_numel({0, kMax, 2}), std::length_error);
    // Negative extents stay what they were: a bad argument.
    BOOST_CHECK_THROW(zeros({-1, 2}), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(reshape_to_a_shape_whose_product_overflows) {
    // 2^62 · 4 used to wrap to 0, leave the -1 uninferred and report a negative extent. (The
    // message quotes the requested shape, -1 included, so no check for negative numbers.)
    BOOST_CHECK_EXCEPTION(reshape(zeros({4}), {int64_t{1} << 62, 4, -1}), std::length_error,
                          [](const std::length_error& e) {
                              BOOST_TEST_MESSAGE("message: " << e.what());
                              return testing::message_contains(e, "reshape: shape [4611686018427387904, 4, -1]") &&
                                     testing::message_contains(e, "4611686018427387904 x 4 does not fit");
                          });
    BOOST_TEST((reshape(zeros({0, 4}), {0, int64_t{1} << 62}).shape() == Shape{0, int64_t{1} << 62}));
}

// --- layer constructors ----------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(group_norm_with_int64_max_channels) {
    check_size_error<std::length_error>([] { GroupNorm(kMax, kMax); },
                                        {"GroupNorm", "num_channels=9223372036854775807"});
    // Without affine parameters nothing is allocated, so nothing is too large.
    BOOST_CHECK_NO_THROW(GroupNorm(kMax, kMax, 1e-5, /*affine=*/false));
}

BOOST_AUTO_TEST_CASE(linear_with_2_31_by_2_31_weight) {
    // Used to give a weight of shape [2^31, 2^31] with numel() 0.
    check_size_error<std::length_error>([] { Linear(int64_t{1} << 31, int64_t{1} << 31, false); },
                                        {"Linear", "[2147483648, 2147483648]"});
    check_size_error<std::length_error>([] { Linear(kMax, kMax); },
                                        {"Linear", "[9223372036854775807, 9223372036854775807]"});
    // A bias of 2^62 floats overflows even when the weight is empty.
    check_size_error<std::length_error>([] { Linear(0, int64_t{1} << 62); }, {"Linear", "[4611686018427387904]"});
}

BOOST_AUTO_TEST_CASE(conv2d_layer_with_a_huge_kernel) {
    check_size_error<std::length_error>([] { Conv2d(int64_t{1} << 32, int64_t{1} << 32, Size2{int64_t{1} << 32, 1}); },
                                        {"Conv2d", "[4294967296, 4294967296, 4294967296, 1]"});
}

BOOST_AUTO_TEST_CASE(pooling_layers_with_huge_padding) {
    // 2·padding used to wrap to a negative number and pass "at most half of the kernel size".
    check_size_error<std::invalid_argument>([] { MaxPool2d(kMax, std::nullopt, int64_t{1} << 62); },
                                            {"MaxPool2d", "at most half", "4611686018427387904"});
    check_size_error<std::invalid_argument>([] { AvgPool2d(kMax, std::nullopt, int64_t{1} << 62); },
                                            {"AvgPool2d", "at most half", "4611686018427387904"});
}

// --- conv2d ----------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(conv2d_whose_output_plane_overflows) {
    // OH·OW = (2^32 + 1)(2^32 − 1) does not fit; used to crash.
    check_size_error<std::length_error>(
        [] {
            conv2d(randn({1, 1, 3, 3}), randn({1, 1, 3, 3}), {}, 1, Size2{int64_t{1} << 31, (int64_t{1} << 31) - 1});
        },
        {"conv2d", "[1, 1, 4294967297, 4294967295]", "(2147483648, 2147483647)"});
}

BOOST_AUTO_TEST_CASE(conv2d_whose_padded_input_overflows) {
    // Used to say "padded input size (-9223372036854775805 x 5)".
    check_size_error<std::length_error>(
        [] {
            conv2d(randn({1, 1, 3, 3}), randn({1, 1, 3, 3}), {}, 1, Size2{int64_t{1} << 62, 1});
        },
        {"conv2d", "padded input", "[1, 1, 3, 3]", "padding=(4611686018427387904, 1)"});
    check_size_error<std::length_error>(
        [] {
            conv2d(randn({1, 1, 3, 3}), randn({1, 1, 3, 3}), {}, 1, Size2{1, kMax / 2});
        },
        {"conv2d", "padded input", "4611686018427387903"});
}

BOOST_AUTO_TEST_CASE(conv2d_whose_column_matrix_overflows) {
    // The output fits (2^31 positions), the im2col matrix (C·kh·kw = 2^33 rows of 2^31) does not.
    // x and w are empty in N and O, so nothing large is allocated before the check.
    const Tensor x = zeros({0, int64_t{1} << 31, 1, int64_t{1} << 31});
    const Tensor w = zeros({0, int64_t{1} << 31, 1, 4});
    check_size_error<std::length_error>([&] { conv2d(x, w, {}, 1, Size2{0, 2}); }, {"conv2d", "im2col"});
}

BOOST_AUTO_TEST_CASE(conv2d_with_extreme_sizes_that_fit_still_works) {
    // A stride far larger than the input gives one output position, as in PyTorch.
    const Tensor x = from_vector<float>({1, 1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
    const Tensor w = ones({1, 1, 2, 2});
    const Tensor y = conv2d(x, w, {}, kMax, 0);
    BOOST_TEST((y.shape() == Shape{1, 1, 1, 1}));
    BOOST_TEST(y.data()[0] == 12.0f);
    // Padded 5 x 5, one row of outputs (rows −1 and 0), four columns.
    const Tensor z = conv2d(x, w, {}, Size2{kMax, 1}, 1);
    BOOST_TEST((z.shape() == Shape{1, 1, 1, 4}));
    BOOST_TEST(z.to_vector() == (std::vector<float>{1, 3, 5, 3}), boost::test_tools::per_element());
    // Padding 2 with that stride: the first tap row needs ceil(2 / stride), which must not wrap.
    const Tensor u = conv2d(x, ones({1, 1, 3, 3}), {}, kMax, 2);  // rows and columns −2..0
    BOOST_TEST((u.shape() == Shape{1, 1, 1, 1}));
    BOOST_TEST(u.data()[0] == 1.0f);
}

// --- pooling ---------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(adaptive_avg_pool2d_to_2_31_by_2_31) {
    // 2^62 outputs fit in int64, their bytes do not; used to crash.
    check_size_error<std::length_error>(
        [] {
            adaptive_avg_pool2d(randn({1, 1, 4, 4}), {int64_t{1} << 31, int64_t{1} << 31});
        },
        {"adaptive_avg_pool2d", "[1, 1, 2147483648, 2147483648]"});
    check_size_error<std::length_error>([] { adaptive_avg_pool2d(randn({1, 1, 4, 4}), {kMax, kMax}); },
                                        {"adaptive_avg_pool2d", "[1, 1, 9223372036854775807, 9223372036854775807]"});
    // An output extent times its input extent (the window bounds) must fit too, even when the
    // output is empty in N.
    check_size_error<std::length_error>([] { adaptive_avg_pool2d(zeros({0, 1, 4, 4}), {kMax, 1}); },
                                        {"adaptive_avg_pool2d", "9223372036854775807"});
}

BOOST_AUTO_TEST_CASE(max_pool2d_and_avg_pool2d_with_huge_padding) {
    // 2·padding used to wrap negative and pass the at-most-half check.
    const Tensor x = randn({1, 1, 4, 4});
    check_size_error<std::invalid_argument>(
        [&] { max_pool2d(x, kMax, std::nullopt, int64_t{1} << 62); },
        {"max_pool2d", "at most half", "padding=(4611686018427387904, 4611686018427387904)"});
    check_size_error<std::invalid_argument>(
        [&] { avg_pool2d(x, kMax, std::nullopt, int64_t{1} << 62); },
        {"avg_pool2d", "at most half", "padding=(4611686018427387904, 4611686018427387904)"});
    // Padding within half the kernel, but H + 2·padding does not fit.
    check_size_error<std::length_error>([&] { max_pool2d(x, kMax, 1, kMax / 2); },
                                        {"max_pool2d", "padded input", "[1, 1, 4, 4]", "4611686018427387903"});
    check_size_error<std::length_error>([&] { avg_pool2d(x, kMax, 1, kMax / 2); },
                                        {"avg_pool2d", "padded input", "[1, 1, 4, 4]", "4611686018427387903"});
}

BOOST_AUTO_TEST_CASE(avg_pool2d_with_a_huge_kernel_window) {
    // kh·kw = 2^80 is the divisor (count_include_pad): it used to wrap to 0 and give inf.
    const int64_t k = int64_t{1} << 40;
    check_size_error<std::length_error>(
        [] {
            avg_pool2d(randn({1, 1, 4, 4}), int64_t{1} << 40, std::nullopt, int64_t{1} << 39);
        },
        {"avg_pool2d", "kernel_size=(1099511627776, 1099511627776)"});
    // max_pool2d needs no window size: the same window is fine and gives the plane's max.
    const Tensor x = from_vector<float>({1, 1, 2, 2}, {1, 4, 2, 3});
    const Tensor y = max_pool2d(x, k, std::nullopt, k / 2);
    BOOST_TEST((y.shape() == Shape{1, 1, 1, 1}));
    BOOST_TEST(y.data()[0] == 4.0f);
}

BOOST_AUTO_TEST_CASE(pooling_with_a_huge_stride_still_works) {
    const Tensor x = from_vector<float>({1, 1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
    const Tensor m = max_pool2d(x, 2, kMax);
    BOOST_TEST((m.shape() == Shape{1, 1, 1, 1}));
    BOOST_TEST(m.data()[0] == 5.0f);
    const Tensor a = avg_pool2d(x, 2, Size2{kMax, kMax});
    BOOST_TEST((a.shape() == Shape{1, 1, 1, 1}));
    BOOST_TEST(a.data()[0] == 3.0f);
}

// --- Loader ----------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(loader_with_batch_size_int64_max_gives_one_batch) {
    // As PyTorch's DataLoader: a batch_size larger than the dataset gives one batch of all of
    // it (none dropped unless drop_last). (n + b − 1) / b used to wrap and give 0 batches.
    const Indices data(5);
    data::Loader loader(data, {.batch_size = kMax, .shuffle = false, .mean = {0.0f}, .std = {1.0f}});
    BOOST_TEST(loader.size() == 1);
    int64_t batches = 0;
    for (auto& [x, y] : loader) {
        ++batches;
        BOOST_TEST((x.shape() == Shape{5, 1}));
        BOOST_TEST(x.to_vector() == (std::vector<float>{0, 1, 2, 3, 4}), boost::test_tools::per_element());
        BOOST_TEST(y == (std::vector<int64_t>{0, 1, 2, 3, 4}), boost::test_tools::per_element());
    }
    BOOST_TEST(batches == 1);
    data::Loader dropping(data, {.batch_size = kMax, .drop_last = true});
    BOOST_TEST(dropping.size() == 0);
    BOOST_TEST(data::Loader(data, {.batch_size = kMax - 1}).size() == 1);
    BOOST_TEST(data::Loader(data, {.batch_size = 2}).size() == 3);
    const Indices everything(kMax);
    BOOST_TEST(data::Loader(everything, {.batch_size = kMax}).size() == 1);
    BOOST_TEST(data::Loader(everything, {.batch_size = 2}).size() == kMax / 2 + 1);
}

BOOST_AUTO_TEST_CASE(loader_with_a_huge_crop_padding) {
    // 2·crop_padding + 1 positions to draw from used to wrap.
    class Images final : public data::Dataset {
      public:
        int64_t size() const override { return 2; }
        Shape sample_shape() const override { return {1, 2, 2}; }
        int64_t get_into(int64_t index, float* out) const override {
            for (int k = 0; k < 4; ++k) out[k] = 0.5f;
            return index;
        }
    } images;
    check_size_error<std::length_error>(
        [&] { data::Loader(images, {.batch_size = 2, .augment = {.crop_padding = kMax}}); },
        {"Loader", "crop_padding", "9223372036854775807"});
}

// --- IDX -------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(idx_header_whose_dimensions_overflow) {
    // (2^32 − 1)^3 bytes promised: refused from the header, before anything is allocated, with
    // the reader's usual error for a bad file (std::runtime_error naming it).
    const testing::TempDir dir;
    const fs::path p = dir.path() / "huge.gz";
    write_gz(p, {0, 0, 8, 3, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF});
    check_size_error<std::runtime_error>([&] { data::read_idx_gz(p, 3); },
                                         {p.string(), "dimensions 4294967295 x 4294967295 x 4294967295", "int64"});
    // A header that fits but promises more than the file holds is truncation, as before.
    write_gz(p, {0, 0, 8, 2, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF});
    BOOST_CHECK_EXCEPTION(data::read_idx_gz(p, 2), std::runtime_error, [](const std::runtime_error& e) {
        return std::string(e.what()).find("truncated") != std::string::npos;
    });
}

BOOST_AUTO_TEST_SUITE_END()
