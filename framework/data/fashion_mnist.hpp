// Fashion-MNIST (Xiao et al. 2017): 28x28 grey-scale images of 10 kinds of clothing, 60000 for
// training and 10000 for testing, read from the gzip-compressed IDX files that Debian's
// dataset-fashion-mnist package installs in /usr/share/datasets/fashion-mnist.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string_view>
#include <vector>

#include "framework/data/dataset.hpp"

namespace tapegrad::data {

enum class Split { Train, Test };

class FashionMNIST final : public Dataset {
  public:
    static constexpr int64_t rows = 28;
    static constexpr int64_t cols = 28;
    static constexpr int64_t num_classes = 10;
    static constexpr std::array<std::string_view, num_classes> class_names = {
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};

    FashionMNIST() = default;
    // images: N x 28 x 28 bytes, row-major; labels: N values in [0, 10). Throws
    // std::invalid_argument when the sizes disagree or a label is out of range.
    FashionMNIST(std::vector<uint8_t> images, std::vector<int64_t> labels);

    int64_t size() const override { return static_cast<int64_t>(labels_.size()); }
    Shape sample_shape() const override { return {1, rows, cols}; }
    // Pixel / 255 (torchvision's ToTensor), so values lie in [0, 1].
    int64_t get_into(int64_t index, float* out) const override;

    std::span<const uint8_t> images() const { return images_; }  // (N, 28, 28)
    std::span<const int64_t> labels() const { return labels_; }  // (N)
    std::span<const uint8_t> image(int64_t index) const;         // (28, 28)
    int64_t label(int64_t index) const { return labels_.at(static_cast<size_t>(index)); }

    // A copy of the first n samples (for fast tests); throws std::invalid_argument unless
    // 0 <= n <= size().
    FashionMNIST subset(int64_t n) const;

  private:
    std::vector<uint8_t> images_;
    std::vector<int64_t> labels_;
};

// The directory load_fashion_mnist(split) reads: $TAPEGRAD_FASHION_MNIST_DIR when that is set
// and not empty, otherwise /usr/share/datasets/fashion-mnist.
std::filesystem::path default_fashion_mnist_dir();

// The two files of a split: {train,t10k}-images-idx3-ubyte.gz and {train,t10k}-labels-idx1-ubyte.gz.
struct FashionMNISTFiles {
    std::filesystem::path images;
    std::filesystem::path labels;
};
FashionMNISTFiles fashion_mnist_files(const std::filesystem::path& dir, Split split);

// Reads a split (about 0.3 s for the training set). Throws std::runtime_error naming the file
// when one is missing or malformed (see read_idx_gz), when the images are not 28x28, when the
// two files hold different numbers of samples, or when a label is not in [0, 10).
FashionMNIST load_fashion_mnist(const std::filesystem::path& dir, Split split);
FashionMNIST load_fashion_mnist(Split split);

}  // namespace tapegrad::data
