// framework/data: the IDX reader (against small gzip files written here with zlib, one per
// malformed case), FashionMNIST, and the Loader (batching, seeded order, normalisation,
// augmentation). The last case reads the real Fashion-MNIST when it is installed.
#include <boost/test/unit_test.hpp>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iterator>
#include <numeric>
#include <set>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

#include <tapegrad/tapegrad.hpp>
#include "support/temp_dir.hpp"

using namespace tapegrad;
using namespace tapegrad::data;
using tapegrad::testing::read_bytes;
using tapegrad::testing::TempDir;
using tapegrad::testing::write_bytes;
namespace fs = std::filesystem;

namespace {

void write_gz(const fs::path& path, const std::vector<uint8_t>& bytes) {
    gzFile f = gzopen(path.c_str(), "wb");
    BOOST_REQUIRE(f != nullptr);
    if (!bytes.empty()) BOOST_REQUIRE(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())) > 0);
    BOOST_REQUIRE(gzclose(f) == Z_OK);
}

void put_be32(std::vector<uint8_t>& out, uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(v >> shift));
}

// An IDX file's bytes: magic, big-endian dimensions, then `payload`.
std::vector<uint8_t> idx_bytes(uint32_t magic, const std::vector<uint32_t>& dims, const std::vector<uint8_t>& payload) {
    std::vector<uint8_t> out;
    put_be32(out, magic);
    for (uint32_t d : dims) put_be32(out, d);
    out.insert(out.end(), payload.begin(), payload.end());
    return out;
}

uint8_t pixel(size_t image, size_t k) { return static_cast<uint8_t>((image * 37 + k * 11) % 256); }

std::vector<uint8_t> image_bytes(size_t n) {
    std::vector<uint8_t> v(n * 28 * 28);
    for (size_t i = 0; i < n; ++i)
        for (size_t k = 0; k < 28 * 28; ++k) v[i * 784 + k] = pixel(i, k);
    return v;
}

// Writes a well-formed Fashion-MNIST split with these labels into dir.
void write_split(const fs::path& dir, Split split, const std::vector<uint8_t>& labels) {
    const FashionMNISTFiles files = fashion_mnist_files(dir, split);
    const auto n = static_cast<uint32_t>(labels.size());
    write_gz(files.images, idx_bytes(0x803, {n, 28, 28}, image_bytes(n)));
    write_gz(files.labels, idx_bytes(0x801, {n}, labels));
}

// Passes when `f` throws E whose message names `path` and contains `reason`.
template <typename E = std::runtime_error, typename F>
void check_error(F f, const fs::path& path, const std::string& reason) {
    BOOST_CHECK_EXCEPTION(f(), E, [&](const E& e) {
        const std::string m = e.what();
        BOOST_TEST_INFO("message: " << m);
        BOOST_TEST(m.find(path.string()) != std::string::npos);
        BOOST_TEST(m.find(reason) != std::string::npos);
        return m.find(path.string()) != std::string::npos && m.find(reason) != std::string::npos;
    });
}

// Sample i is (C, H, W) with value i * 10000 + k at flat position k, and label i.
class Counting final : public Dataset {
  public:
    Counting(int64_t n, Shape shape) : n_(n), shape_(std::move(shape)) {}
    int64_t size() const override { return n_; }
    Shape sample_shape() const override { return shape_; }
    int64_t get_into(int64_t index, float* out) const override {
        const int64_t numel = shape_numel(shape_);
        for (int64_t k = 0; k < numel; ++k) out[k] = static_cast<float>(index * 10000 + k);
        return index;
    }

  private:
    int64_t n_;
    Shape shape_;
};

class Throwing final : public Dataset {
  public:
    int64_t size() const override { return 200; }
    Shape sample_shape() const override { return {1, 32, 32}; }
    int64_t get_into(int64_t index, float*) const override {
        if (index == 150) throw std::runtime_error("sample 150 is unreadable");
        return index;
    }
};

std::vector<int64_t> labels_of_pass(Loader& loader) {
    std::vector<int64_t> seen;
    for (auto& [x, y] : loader) seen.insert(seen.end(), y.begin(), y.end());
    return seen;
}

std::vector<float> pass_values(Loader& loader) {
    std::vector<float> all;
    for (auto& [x, y] : loader) all.insert(all.end(), x.data(), x.data() + x.numel());
    return all;
}

// A Loader is a range of batches, and refuses a temporary dataset that would die before it.
static_assert(std::input_iterator<Loader::Iterator>);
static_assert(std::sentinel_for<std::default_sentinel_t, Loader::Iterator>);
static_assert(std::is_constructible_v<Loader, const FashionMNIST&, LoaderOptions>);
static_assert(!std::is_constructible_v<Loader, FashionMNIST&&, LoaderOptions>);

const LoaderOptions identity_norm{.batch_size = 64, .shuffle = true, .mean = {0.0f}, .std = {1.0f}};

}  // namespace

BOOST_AUTO_TEST_SUITE(data)

BOOST_AUTO_TEST_CASE(reads_idx_files) {
    TempDir dir("tapegrad_test_data");
    std::vector<uint8_t> payload(2 * 3 * 4);
    std::iota(payload.begin(), payload.end(), uint8_t{200});
    write_gz(dir.path() / "a.gz", idx_bytes(0x803, {2, 3, 4}, payload));
    const IdxArray a = read_idx_gz(dir.path() / "a.gz", 3);
    BOOST_TEST(a.dims == (std::vector<int64_t>{2, 3, 4}), boost::test_tools::per_element());
    BOOST_TEST(a.values == payload, boost::test_tools::per_element());
    write_gz(dir.path() / "empty.gz", idx_bytes(0x801, {0}, {}));
    BOOST_TEST(read_idx_gz(dir.path() / "empty.gz", 1).values.empty());
}

BOOST_AUTO_TEST_CASE(loads_a_fashion_mnist_split) {
    TempDir dir("tapegrad_test_data");
    write_split(dir.path(), Split::Train, {0, 9, 3});
    write_split(dir.path(), Split::Test, {5});
    const FashionMNIST train = load_fashion_mnist(dir.path(), Split::Train);
    BOOST_TEST(train.size() == 3);
    BOOST_TEST(load_fashion_mnist(dir.path(), Split::Test).size() == 1);
    BOOST_TEST(std::vector<int64_t>(train.labels().begin(), train.labels().end()) == (std::vector<int64_t>{0, 9, 3}),
               boost::test_tools::per_element());
    const std::vector<uint8_t> expected = image_bytes(3);
    BOOST_TEST(std::equal(train.images().begin(), train.images().end(), expected.begin(), expected.end()));
    BOOST_TEST(train.image(2)[5] == pixel(2, 5));
    BOOST_TEST(train.label(1) == 9);
    BOOST_TEST(FashionMNIST::class_names[train.label(1)] == "Ankle boot");
    BOOST_TEST(FashionMNIST::class_names[0] == "T-shirt/top");

    const Example e = train.get(1);
    BOOST_TEST(e.x.shape() == (Shape{1, 28, 28}), boost::test_tools::per_element());
    BOOST_TEST(e.y == 9);
    for (int64_t k = 0; k < 784; ++k) BOOST_TEST(e.x.data()[k] == static_cast<float>(pixel(1, k)) / 255.0f);
    BOOST_CHECK_THROW(train.get(3), std::out_of_range);

    const FashionMNIST two = train.subset(2);
    BOOST_TEST(two.size() == 2);
    BOOST_TEST(two.label(1) == 9);
    BOOST_TEST(std::equal(two.images().begin(), two.images().end(), expected.begin(), expected.begin() + 2 * 784));
    BOOST_CHECK_THROW(train.subset(4), std::invalid_argument);
    BOOST_CHECK_THROW(FashionMNIST(image_bytes(2), {1}), std::invalid_argument);
    BOOST_CHECK_THROW(FashionMNIST(image_bytes(1), {10}), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(missing_and_foreign_files_name_the_file) {
    TempDir dir("tapegrad_test_data");
    const FashionMNISTFiles files = fashion_mnist_files(dir.path(), Split::Train);
    check_error([&] { load_fashion_mnist(dir.path(), Split::Train); }, files.images, "not found");
    check_error([&] { read_idx_gz(dir.path() / "nothing.gz", 1); }, dir.path() / "nothing.gz", "no such file");
    check_error([&] { read_idx_gz(dir.path(), 1); }, dir.path(), "directory");

    const fs::path text = dir.path() / "notes.txt";
    write_bytes(text, "these are not the images you are looking for\n");
    check_error([&] { read_idx_gz(text, 3); }, text, "not a gzip file");
    const fs::path empty = dir.path() / "empty";
    write_bytes(empty, "");
    check_error([&] { read_idx_gz(empty, 3); }, empty, "not a gzip file");
    // An uncompressed IDX file is refused too: the reader reads only gzip.
    const fs::path raw_idx = dir.path() / "raw-labels-idx1-ubyte";
    const std::vector<uint8_t> raw_bytes = idx_bytes(0x801, {1}, {3});
    write_bytes(raw_idx, std::string(raw_bytes.begin(), raw_bytes.end()));
    check_error([&] { read_idx_gz(raw_idx, 1); }, raw_idx, "not a gzip file");

    const fs::path gz_text = dir.path() / "text.gz";
    const std::string words = "hello, world\n";
    write_gz(gz_text, std::vector<uint8_t>(words.begin(), words.end()));
    check_error([&] { read_idx_gz(gz_text, 1); }, gz_text, "not an IDX file");
}

BOOST_AUTO_TEST_CASE(wrong_magic_numbers_are_errors) {
    TempDir dir("tapegrad_test_data");
    const fs::path p = dir.path() / "x.gz";
    write_gz(p, idx_bytes(0x803, {1, 28, 28}, image_bytes(1)));
    check_error([&] { read_idx_gz(p, 1); }, p, "wrong magic number 0x00000803: 3 dimensions; expected 0x00000801");
    write_gz(p, idx_bytes(0x0D01, {4}, std::vector<uint8_t>(16)));  // float32 payload
    check_error([&] { read_idx_gz(p, 1); }, p, "element type 0x0D");
    write_gz(p, idx_bytes(0x01000801, {1}, {0}));
    check_error([&] { read_idx_gz(p, 1); }, p, "not an IDX file");
    write_gz(p, {0, 0});
    check_error([&] { read_idx_gz(p, 1); }, p, "truncated");

    // A labels file where the images file should be.
    TempDir split_dir("tapegrad_test_data");
    write_split(split_dir.path(), Split::Train, {1, 2});
    const FashionMNISTFiles files = fashion_mnist_files(split_dir.path(), Split::Train);
    fs::copy_file(files.labels, files.images, fs::copy_options::overwrite_existing);
    check_error([&] { load_fashion_mnist(split_dir.path(), Split::Train); }, files.images, "wrong magic number");
}

BOOST_AUTO_TEST_CASE(truncated_and_overlong_files_are_errors) {
    TempDir dir("tapegrad_test_data");
    const fs::path p = dir.path() / "images.gz";
    std::vector<uint8_t> short_payload = image_bytes(3);
    short_payload.resize(2 * 784 + 100);
    write_gz(p, idx_bytes(0x803, {3, 28, 28}, short_payload));
    check_error([&] { read_idx_gz(p, 3); }, p, "truncated: the header promises 3 x 28 x 28 = 2352 bytes");
    write_gz(p, idx_bytes(0x803, {3}, {}));
    check_error([&] { read_idx_gz(p, 3); }, p, "truncated");

    std::vector<uint8_t> long_payload = image_bytes(3);
    long_payload.push_back(7);
    write_gz(p, idx_bytes(0x803, {3, 28, 28}, long_payload));
    check_error([&] { read_idx_gz(p, 3); }, p, "1 trailing byte after the 2352 bytes");

    // The gzip stream itself cut short, as by an interrupted download.
    write_gz(p, idx_bytes(0x803, {3, 28, 28}, image_bytes(3)));
    const std::string bytes = read_bytes(p);
    write_bytes(p, bytes.substr(0, bytes.size() / 2));
    check_error([&] { read_idx_gz(p, 3); }, p, "truncated");
    // A header promising far more than the file holds is truncation, not an allocation failure.
    write_gz(p, idx_bytes(0x803, {0xFFFFFFFF, 0xFFFFFFFF, 28}, {1, 2, 3}));
    check_error([&] { read_idx_gz(p, 3); }, p, "dimensions");
    write_gz(p, idx_bytes(0x803, {60000000, 28, 28}, {1, 2, 3}));
    check_error([&] { read_idx_gz(p, 3); }, p, "truncated");
}

BOOST_AUTO_TEST_CASE(inconsistent_splits_are_errors) {
    TempDir dir("tapegrad_test_data");
    const FashionMNISTFiles files = fashion_mnist_files(dir.path(), Split::Test);
    write_split(dir.path(), Split::Test, {1, 2, 3});
    write_gz(files.labels, idx_bytes(0x801, {2}, {1, 2}));
    check_error([&] { load_fashion_mnist(dir.path(), Split::Test); }, files.labels, "holds 3 images but");
    check_error([&] { load_fashion_mnist(dir.path(), Split::Test); }, files.images, "holds 3 images but");

    write_split(dir.path(), Split::Test, {1, 10, 3});
    check_error([&] { load_fashion_mnist(dir.path(), Split::Test); }, files.labels, "label 1 is 10");

    write_gz(files.images, idx_bytes(0x803, {3, 27, 28}, std::vector<uint8_t>(3 * 27 * 28)));
    check_error([&] { load_fashion_mnist(dir.path(), Split::Test); }, files.images, "expected 28 x 28 images");
}

BOOST_AUTO_TEST_CASE(batches_have_the_right_shapes_and_counts) {
    const Counting ds(10, {1, 2, 3});
    LoaderOptions options = identity_norm;
    options.batch_size = 4;
    Loader keep(ds, options);
    BOOST_TEST(keep.size() == 3);
    std::vector<int64_t> sizes;
    for (auto& [x, y] : keep) {
        BOOST_TEST(x.shape() == (Shape{static_cast<int64_t>(y.size()), 1, 2, 3}), boost::test_tools::per_element());
        sizes.push_back(x.size(0));
    }
    BOOST_TEST(sizes == (std::vector<int64_t>{4, 4, 2}), boost::test_tools::per_element());

    options.drop_last = true;
    Loader drop(ds, options);
    BOOST_TEST(drop.size() == 2);
    sizes.clear();
    for (auto& [x, y] : drop) sizes.push_back(static_cast<int64_t>(y.size()));
    BOOST_TEST(sizes == (std::vector<int64_t>{4, 4}), boost::test_tools::per_element());

    options.batch_size = 5;  // divides evenly: drop_last changes nothing
    BOOST_TEST(Loader(ds, options).size() == 2);
    options.batch_size = 11;
    BOOST_TEST(Loader(ds, options).size() == 0);
    options.drop_last = false;
    BOOST_TEST(Loader(ds, options).size() == 1);

    const Counting none(0, {1, 2, 2});
    Loader empty(none, identity_norm);
    BOOST_TEST(empty.size() == 0);
    BOOST_TEST(labels_of_pass(empty).empty());
}

BOOST_AUTO_TEST_CASE(each_sample_appears_once_per_epoch_with_its_values) {
    const Counting ds(1000, {1, 32, 32});  // a 64-batch is 65536 floats: the OpenMP path
    Loader loader(ds, identity_norm);
    for (int epoch = 0; epoch < 2; ++epoch) {
        std::vector<int64_t> seen;
        for (auto& [x, y] : loader) {
            for (size_t b = 0; b < y.size(); ++b)
                for (int64_t k = 0; k < 1024; k += 97)
                    BOOST_TEST(x.data()[static_cast<int64_t>(b) * 1024 + k] == static_cast<float>(y[b] * 10000 + k));
            seen.insert(seen.end(), y.begin(), y.end());
        }
        std::vector<int64_t> sorted = seen;
        std::sort(sorted.begin(), sorted.end());
        std::vector<int64_t> all(1000);
        std::iota(all.begin(), all.end(), 0);
        BOOST_TEST(sorted == all, boost::test_tools::per_element());
        BOOST_TEST(seen != all);  // shuffled
    }
    LoaderOptions ordered = identity_norm;
    ordered.shuffle = false;
    Loader in_order(ds, ordered);
    std::vector<int64_t> all(1000);
    std::iota(all.begin(), all.end(), 0);
    BOOST_TEST(labels_of_pass(in_order) == all, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(order_is_a_function_of_seed_and_epoch) {
    const Counting ds(300, {1, 2, 2});
    LoaderOptions options = identity_norm;
    options.seed = 7;
    Loader a(ds, options), b(ds, options);
    BOOST_TEST(a.epoch() == 0);
    const std::vector<int64_t> epoch0 = labels_of_pass(a);
    BOOST_TEST(a.epoch() == 1);  // a pass advances the epoch
    const std::vector<int64_t> epoch1 = labels_of_pass(a);
    BOOST_TEST(epoch0 == a.order(0), boost::test_tools::per_element());
    BOOST_TEST(epoch1 == a.order(1), boost::test_tools::per_element());
    BOOST_TEST(epoch0 != epoch1);

    // Resuming at epoch 1 reproduces it, in another loader too.
    b.set_epoch(1);
    BOOST_TEST(labels_of_pass(b) == epoch1, boost::test_tools::per_element());
    a.set_epoch(0);
    BOOST_TEST(labels_of_pass(a) == epoch0, boost::test_tools::per_element());
    options.epoch = 1;
    Loader fresh(ds, options);  // as made afresh each epoch
    BOOST_TEST(labels_of_pass(fresh) == epoch1, boost::test_tools::per_element());

    options.seed = 8;
    options.epoch = 0;
    Loader other_seed(ds, options);
    BOOST_TEST(labels_of_pass(other_seed) != epoch0);

    // Breaking out of a pass early still counts as a pass.
    Loader partial(ds, identity_norm);
    for ([[maybe_unused]] auto& batch : partial) break;
    BOOST_TEST(partial.epoch() == 1);
}

BOOST_AUTO_TEST_CASE(normalises_with_the_default_and_given_statistics) {
    TempDir dir("tapegrad_test_data");
    std::vector<uint8_t> labels(70);
    for (size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<uint8_t>(i % 10);
    write_split(dir.path(), Split::Train, labels);
    const FashionMNIST train = load_fashion_mnist(dir.path(), Split::Train);
    Loader loader(train, {.batch_size = 32, .shuffle = false});
    int64_t seen = 0;
    for (auto& [x, y] : loader) {
        BOOST_TEST(x.dim() == 4);
        BOOST_TEST(x.size(1) == 1);
        for (int64_t b = 0; b < x.size(0); ++b, ++seen) {
            BOOST_TEST(y[static_cast<size_t>(b)] == seen % 10);
            for (int64_t k = 0; k < 784; k += 13) {
                const float raw = static_cast<float>(pixel(static_cast<size_t>(seen), static_cast<size_t>(k))) / 255.0f;
                const float expected = (raw - 0.2860f) / 0.3530f;
                BOOST_TEST(x.data()[b * 784 + k] == expected, boost::test_tools::tolerance(1e-6f));
            }
        }
    }
    BOOST_TEST(seen == 70);

    const Counting rgb(3, {3, 2, 2});
    Loader per_channel(rgb, {.batch_size = 3, .shuffle = false, .mean = {1.0f, 2.0f, 3.0f}, .std = {2.0f, 4.0f, 0.5f}});
    for (auto& [x, y] : per_channel)
        for (int64_t b = 0; b < 3; ++b)
            for (int64_t c = 0; c < 3; ++c)
                for (int64_t k = 0; k < 4; ++k) {
                    const float raw = static_cast<float>(b * 10000 + c * 4 + k);
                    const float expected = (raw - std::vector<float>{1, 2, 3}[c]) / std::vector<float>{2, 4, 0.5}[c];
                    BOOST_TEST(x.data()[(b * 3 + c) * 4 + k] == expected, boost::test_tools::tolerance(1e-6f));
                }
}

BOOST_AUTO_TEST_CASE(crop_and_flip_keep_shape_and_are_reproducible) {
    // Values 1 + position, so the zero padding cannot be mistaken for a pixel.
    class Ramp final : public Dataset {
      public:
        int64_t size() const override { return 200; }
        Shape sample_shape() const override { return {2, 5, 6}; }
        int64_t get_into(int64_t index, float* out) const override {
            for (int64_t k = 0; k < 60; ++k) out[k] = static_cast<float>(1 + k);
            return index;
        }
    } ds;
    LoaderOptions options = identity_norm;
    options.batch_size = 16;
    options.augment = {.crop_padding = 2, .horizontal_flip = true};
    Loader loader(ds, options);

    std::set<std::tuple<int64_t, int64_t, bool>> used;
    for (auto& [x, y] : loader) {
        BOOST_TEST(x.shape() == (Shape{static_cast<int64_t>(y.size()), 2, 5, 6}), boost::test_tools::per_element());
        for (int64_t b = 0; b < x.size(0); ++b) {
            const float* img = x.data() + b * 60;
            // Exactly one (dy, dx, flip) must explain the output; both channels move together.
            int matches = 0;
            for (int64_t dy = 0; dy <= 4; ++dy)
                for (int64_t dx = 0; dx <= 4; ++dx)
                    for (bool flip : {false, true}) {
                        bool same = true;
                        for (int64_t c = 0; c < 2 && same; ++c)
                            for (int64_t h = 0; h < 5 && same; ++h)
                                for (int64_t w = 0; w < 6 && same; ++w) {
                                    const int64_t r = h + dy - 2, q = (flip ? 5 - w : w) + dx - 2;
                                    const bool inside = r >= 0 && r < 5 && q >= 0 && q < 6;
                                    const float want = inside ? static_cast<float>(1 + c * 30 + r * 6 + q) : 0.0f;
                                    same = img[(c * 5 + h) * 6 + w] == want;
                                }
                        if (same) {
                            ++matches;
                            used.insert({dy, dx, flip});
                        }
                    }
            BOOST_TEST(matches == 1);
        }
    }
    BOOST_TEST(used.size() > 30u);  // of 50 possible: the draws really vary

    Loader again(ds, options), later(ds, options);
    later.set_epoch(1);
    loader.set_epoch(0);
    const std::vector<float> first = pass_values(loader);
    BOOST_TEST(pass_values(again) == first, boost::test_tools::per_element());
    BOOST_TEST(pass_values(later) != first);

    // Flip alone: each image is either itself or its mirror, and both occur.
    options.augment = {.crop_padding = 0, .horizontal_flip = true};
    Loader flip_only(ds, options);
    int flipped = 0, kept = 0;
    for (auto& [x, y] : flip_only)
        for (int64_t b = 0; b < x.size(0); ++b) {
            const float* img = x.data() + b * 60;
            const bool is_mirror = img[0] == 6.0f && img[5] == 1.0f && img[59] == 55.0f;
            const bool is_same = img[0] == 1.0f && img[5] == 6.0f && img[59] == 60.0f;
            BOOST_TEST((is_mirror || is_same));
            flipped += is_mirror;
            kept += is_same;
        }
    BOOST_TEST(flipped > 50);
    BOOST_TEST(kept > 50);
}

BOOST_AUTO_TEST_CASE(bad_options_and_failing_datasets_are_errors) {
    const Counting ds(10, {1, 2, 2});
    BOOST_CHECK_THROW(Loader(ds, {.batch_size = 0}), std::invalid_argument);
    BOOST_CHECK_THROW(Loader(ds, {.epoch = -1}), std::invalid_argument);
    BOOST_CHECK_THROW(Loader(ds, {.mean = {0.1f, 0.2f}}), std::invalid_argument);
    BOOST_CHECK_THROW(Loader(ds, {.std = {0.0f}}), std::invalid_argument);
    BOOST_CHECK_THROW(Loader(ds, {.augment = {.crop_padding = -1}}), std::invalid_argument);
    const Counting flat(10, {4});
    BOOST_CHECK_THROW(Loader(flat, {.augment = {.horizontal_flip = true}}), std::invalid_argument);
    Loader loader(ds, identity_norm);
    BOOST_CHECK_THROW(loader.set_epoch(-2), std::invalid_argument);

    const Throwing bad;
    Loader failing(bad, {.batch_size = 100, .shuffle = false});
    BOOST_CHECK_EXCEPTION(labels_of_pass(failing), std::runtime_error, [](const std::runtime_error& e) {
        return std::string(e.what()) == "sample 150 is unreadable";
    });
}

boost::test_tools::assertion_result fashion_mnist_installed(boost::unit_test::test_unit_id) {
    const fs::path dir = default_fashion_mnist_dir();
    bool present = true;
    for (Split split : {Split::Train, Split::Test}) {
        const FashionMNISTFiles files = fashion_mnist_files(dir, split);
        present = present && fs::exists(files.images) && fs::exists(files.labels);
    }
    boost::test_tools::assertion_result result(present);
    result.message() << "Fashion-MNIST is not installed in " << dir
                     << " (apt install dataset-fashion-mnist, or set TAPEGRAD_FASHION_MNIST_DIR)";
    return result;
}

BOOST_AUTO_TEST_CASE(real_fashion_mnist, *boost::unit_test::precondition(fashion_mnist_installed)) {
    for (auto [split, n] : {std::pair{Split::Train, 60000}, std::pair{Split::Test, 10000}}) {
        const FashionMNIST ds = load_fashion_mnist(split);
        BOOST_TEST(ds.size() == n);
        std::vector<int64_t> histogram(10);
        for (int64_t y : ds.labels()) ++histogram[static_cast<size_t>(y)];
        BOOST_TEST(histogram == std::vector<int64_t>(10, n / 10), boost::test_tools::per_element());
        // The training set's mean and std are the Loader's default normalisation.
        if (split == Split::Train) {
            const double count = static_cast<double>(ds.images().size());
            double mean = 0, var = 0;
            for (uint8_t p : ds.images()) mean += p / 255.0 / count;
            for (uint8_t p : ds.images()) var += (p / 255.0 - mean) * (p / 255.0 - mean) / count;
            BOOST_TEST(mean == 0.2860, boost::test_tools::tolerance(1e-3));
            BOOST_TEST(std::sqrt(var) == 0.3530, boost::test_tools::tolerance(1e-3));
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()
