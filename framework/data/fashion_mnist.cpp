// FashionMNIST and load_fashion_mnist; see fashion_mnist.hpp.
#include "framework/data/fashion_mnist.hpp"

#include <cstdlib>
#include <stdexcept>
#include <string>

#include "framework/data/idx.hpp"

namespace tapegrad::data {

namespace {

constexpr int64_t pixels = FashionMNIST::rows * FashionMNIST::cols;

std::string quoted(const std::filesystem::path& p) { return "'" + p.string() + "'"; }

}  // namespace

FashionMNIST::FashionMNIST(std::vector<uint8_t> images, std::vector<int64_t> labels)
    : images_(std::move(images)), labels_(std::move(labels)) {
    if (static_cast<int64_t>(images_.size()) != static_cast<int64_t>(labels_.size()) * pixels)
        throw std::invalid_argument("FashionMNIST: expected " + std::to_string(labels_.size()) +
                                    " x 28 x 28 = " + std::to_string(static_cast<int64_t>(labels_.size()) * pixels) +
                                    " image bytes for " + std::to_string(labels_.size()) + " labels, but got " +
                                    std::to_string(images_.size()));
    for (size_t i = 0; i < labels_.size(); ++i)
        if (labels_[i] < 0 || labels_[i] >= num_classes)
            throw std::invalid_argument("FashionMNIST: expected labels in [0, 10), but label " + std::to_string(i) +
                                        " is " + std::to_string(labels_[i]));
}

int64_t FashionMNIST::get_into(int64_t index, float* out) const {
    const uint8_t* src = images_.data() + index * pixels;
    for (int64_t k = 0; k < pixels; ++k) out[k] = static_cast<float>(src[k]) / 255.0f;
    return labels_[static_cast<size_t>(index)];
}

std::span<const uint8_t> FashionMNIST::image(int64_t index) const {
    if (index < 0 || index >= size())
        throw std::out_of_range("FashionMNIST::image: index " + std::to_string(index) + " is out of range for " +
                                std::to_string(size()) + " samples");
    return images().subspan(static_cast<size_t>(index * pixels), static_cast<size_t>(pixels));
}

FashionMNIST FashionMNIST::subset(int64_t n) const {
    if (n < 0 || n > size())
        throw std::invalid_argument("FashionMNIST::subset: expected 0 <= n <= " + std::to_string(size()) +
                                    ", but got n=" + std::to_string(n));
    FashionMNIST out;
    out.images_.assign(images_.begin(), images_.begin() + n * pixels);
    out.labels_.assign(labels_.begin(), labels_.begin() + n);
    return out;
}

std::filesystem::path default_fashion_mnist_dir() {
    const char* env = std::getenv("TAPEGRAD_FASHION_MNIST_DIR");
    if (env != nullptr && *env != '\0') return env;
    return "/usr/share/datasets/fashion-mnist";
}

FashionMNISTFiles fashion_mnist_files(const std::filesystem::path& dir, Split split) {
    const std::string prefix = split == Split::Train ? "train" : "t10k";
    return {dir / (prefix + "-images-idx3-ubyte.gz"), dir / (prefix + "-labels-idx1-ubyte.gz")};
}

FashionMNIST load_fashion_mnist(const std::filesystem::path& dir, Split split) {
    const FashionMNISTFiles files = fashion_mnist_files(dir, split);
    for (const auto& p : {files.images, files.labels}) {
        std::error_code ec;
        if (!std::filesystem::exists(p, ec))
            throw std::runtime_error("Fashion-MNIST file " + quoted(p) +
                                     " not found (install Debian's dataset-fashion-mnist package, or point "
                                     "TAPEGRAD_FASHION_MNIST_DIR at a directory holding the four .gz files)");
    }
    IdxArray images = read_idx_gz(files.images, 3);
    if (images.dims[1] != FashionMNIST::rows || images.dims[2] != FashionMNIST::cols)
        throw std::runtime_error("IDX file " + quoted(files.images) + ": expected 28 x 28 images, but got " +
                                 std::to_string(images.dims[1]) + " x " + std::to_string(images.dims[2]));
    const IdxArray labels = read_idx_gz(files.labels, 1);
    if (labels.dims[0] != images.dims[0])
        throw std::runtime_error("Fashion-MNIST: " + quoted(files.images) + " holds " + std::to_string(images.dims[0]) +
                                 " images but " + quoted(files.labels) + " holds " + std::to_string(labels.dims[0]) +
                                 " labels");
    std::vector<int64_t> label_values(labels.values.size());
    for (size_t i = 0; i < labels.values.size(); ++i) {
        if (labels.values[i] >= FashionMNIST::num_classes)
            throw std::runtime_error("IDX file " + quoted(files.labels) + ": label " + std::to_string(i) + " is " +
                                     std::to_string(labels.values[i]) + ", expected a class index in [0, 10)");
        label_values[i] = labels.values[i];
    }
    return FashionMNIST(std::move(images.values), std::move(label_values));
}

FashionMNIST load_fashion_mnist(Split split) { return load_fashion_mnist(default_fashion_mnist_dir(), split); }

}  // namespace tapegrad::data
