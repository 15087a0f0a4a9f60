// Dataset: the interface a Loader reads from — a size, the shape of one sample, and a way to
// write sample i as floats into a buffer the Loader owns. One virtual call per sample (never
// per value) keeps batch assembly cheap; implement these three functions to bring your own data.
#pragma once

#include <cstdint>

#include "framework/tensor.hpp"

namespace tapegrad::data {

// One sample as a tensor of sample_shape(), and its class index.
struct Example {
    Tensor x;
    int64_t y = 0;
};

class Dataset {
  public:
    virtual ~Dataset() = default;

    // Number of samples.
    virtual int64_t size() const = 0;
    // Shape of one sample, e.g. (C, H, W) = (1, 28, 28) for images; a Loader batches these to
    // (B, C, H, W). Augmentation needs rank 3 and normalisation treats dimension 0 as channels.
    virtual Shape sample_shape() const = 0;
    // Writes sample `index` (0 <= index < size(), checked by the caller) as shape_numel(
    // sample_shape()) row-major floats to `out` and returns its label. Image values are
    // expected in [0, 1] (torchvision's ToTensor convention); the Loader normalises them.
    // Called concurrently from several threads, so it must not modify the dataset.
    virtual int64_t get_into(int64_t index, float* out) const = 0;

    // Sample `index` as a tensor, unnormalised; throws std::out_of_range outside [0, size()).
    Example get(int64_t index) const;
};

}  // namespace tapegrad::data
