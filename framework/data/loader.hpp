// Loader: turns a Dataset into batches (B, C, H, W) float32 + labels, in a seeded shuffled
// order, normalised and optionally augmented (random crop, horizontal flip). Usable in a
// range-for; each pass is one epoch. The Loader keeps a pointer to the dataset, which must
// outlive it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <optional>
#include <vector>

#include "framework/data/dataset.hpp"
#include "framework/tensor.hpp"

namespace tapegrad::data {

// Random augmentation applied per sample before normalisation, in torchvision's order:
// RandomCrop(size = H x W, padding = crop_padding), then RandomHorizontalFlip(p = 0.5).
// Needs samples of rank 3 (C, H, W).
struct AugmentOptions {
    // Pads each side with this many pixels of value 0 (black, before normalisation) and crops a
    // random window of the original size; 0 turns cropping off.
    int64_t crop_padding = 0;
    // Mirrors each image left-right with probability 1/2.
    bool horizontal_flip = false;
};

// One rank's share of every epoch in data-parallel training (PyTorch's DistributedSampler):
// all ranks draw the same order from (seed, epoch), and rank r takes its positions r,
// r + world, r + 2·world, … With `balance` pad (the default) the order is first extended with
// its own first samples to a multiple of world, with trim cut to one, so every rank takes the
// same number of samples and steps; with none, rank r takes only positions below N (for
// evaluation, where no rank waits for another's steps). A sharded Loader draws each sample's
// augmentation from (seed, epoch, sample index), so a sample is cropped and flipped alike
// whichever rank takes it and whatever the world size.
struct ShardOptions {
    enum class Balance { pad, trim, none };
    int64_t rank = 0;
    int64_t world = 1;
    Balance balance = Balance::pad;
};

struct LoaderOptions {
    int64_t batch_size = 64;
    // Visit the samples in a random order drawn from (seed, epoch); in index order otherwise.
    bool shuffle = true;
    // Drop the last batch when it is smaller than batch_size; otherwise yield it short.
    bool drop_last = false;
    // Seeds the order and the augmentation: a pass over epoch e always yields the same batches.
    uint64_t seed = 0;
    // The epoch of the first pass (see Loader::set_epoch); set it when a Loader is made afresh
    // each epoch or a run resumes.
    int64_t epoch = 0;
    // x = (value - mean[c]) / std[c] per channel c (dimension 0 of a sample); one value applies to
    // every channel. The defaults are Fashion-MNIST's training-set statistics; {0} and {1}
    // leave the values unchanged.
    std::vector<float> mean = {0.2860f};
    std::vector<float> std = {0.3530f};
    AugmentOptions augment = {};
    // Take only this rank's share of each epoch (see ShardOptions); unset: every sample, with
    // the augmentation drawn in batch order from one stream per epoch.
    std::optional<ShardOptions> shard = {};
};

struct Batch {
    Tensor x;                // (B, C, H, W): B samples of the dataset's sample_shape()
    std::vector<int64_t> y;  // (B)
};

class Loader {
  public:
    class Iterator;

    // Throws std::invalid_argument for batch_size < 1, a negative epoch or crop_padding, mean or
    // std with neither 1 nor C values, std <= 0, augmentation of samples that are not (C, H, W),
    // or a shard with world < 1 or a rank outside [0, world).
    explicit Loader(const Dataset& dataset, LoaderOptions options = {});
    Loader(const Dataset&&, LoaderOptions = {}) = delete;  // the dataset must outlive the loader

    // Starts a pass over epoch(), then advances epoch() by one, so consecutive passes (epochs)
    // see different orders. Batches are assembled as the iterator advances; each is a new
    // tensor, so keeping one does not pin or alias the next.
    Iterator begin();
    std::default_sentinel_t end() const { return {}; }

    // Batches per pass: ceil(n / batch_size), or floor with drop_last, where n is N or this
    // rank's share of it.
    int64_t size() const;
    // The epoch the next pass uses. set_epoch(e) makes the next pass reproduce epoch e exactly
    // (order and augmentation) — what a run resumed at epoch e calls, like PyTorch's
    // DistributedSampler.set_epoch (but passes also advance it on their own).
    int64_t epoch() const { return epoch_; }
    void set_epoch(int64_t epoch);
    // The sample indices in the order a pass over `epoch` visits them (0..N-1 without shuffle).
    std::vector<int64_t> order(int64_t epoch) const;
    // The sample indices this rank visits over `epoch`, in order: order(epoch) unsharded.
    std::vector<int64_t> indices(int64_t epoch) const;

    const Dataset& dataset() const { return *dataset_; }
    const LoaderOptions& options() const { return options_; }

  private:
    int64_t samples_per_pass() const;
    const Dataset* dataset_;
    LoaderOptions options_;
    Shape sample_shape_;
    int64_t epoch_ = 0;
};

// An input iterator over the batches of one pass; copies share the pass.
class Loader::Iterator {
  public:
    using value_type = Batch;
    using reference = Batch&;
    using difference_type = std::ptrdiff_t;
    using iterator_category = std::input_iterator_tag;

    struct Pass;
    Iterator() = default;
    explicit Iterator(std::shared_ptr<Pass> pass) : pass_(std::move(pass)) {}

    Batch& operator*() const;
    Batch* operator->() const { return &**this; }
    Iterator& operator++();
    void operator++(int) { ++*this; }
    friend bool operator==(const Iterator& it, std::default_sentinel_t) { return it.at_end(); }

  private:
    bool at_end() const;
    std::shared_ptr<Pass> pass_;
};

}  // namespace tapegrad::data
