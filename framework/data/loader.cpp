// Loader: seeded order, batch assembly (one virtual call per sample, then a fused
// crop/flip/normalise pass), and the range-for iterator; see loader.hpp.
#include "framework/data/loader.hpp"

#include <algorithm>
#include <exception>
#include <stdexcept>
#include <string>
#include <utility>

#include "framework/core/checked.hpp"
#include "framework/core/parallel.hpp"
#include "framework/generator.hpp"

namespace tapegrad::data {

namespace {

uint64_t splitmix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

// Independent generator seeds per (seed, epoch, stream), so the order and the augmentation of
// an epoch never depend on what earlier epochs drew.
enum Stream : uint64_t { shuffle_stream = 1, augment_stream = 2 };
uint64_t stream_seed(uint64_t seed, int64_t epoch, Stream stream) {
    return splitmix64(splitmix64(splitmix64(seed) ^ static_cast<uint64_t>(epoch)) ^ stream);
}

}  // namespace

struct Loader::Iterator::Pass {
    const Dataset* dataset;
    Shape sample_shape;
    int64_t batch_size;
    int64_t num_batches;
    std::vector<int64_t> order;
    std::vector<float> mean;     // per channel (C values)
    std::vector<float> inv_std;  // per channel
    AugmentOptions augment;
    Generator augment_gen;
    // Sharded: each sample's draws come from its own generator seeded from this and its index.
    bool per_sample_augment = false;
    uint64_t augment_seed = 0;
    int64_t index = 0;  // of the batch in `batch`
    Batch batch;

    void assemble();
};

namespace {

struct Draw {
    int64_t dy = 0, dx = 0;  // top-left corner of the crop window in the padded image
    bool flip = false;
};

}  // namespace

void Loader::Iterator::Pass::assemble() {
    const int64_t start = index * batch_size;
    const int64_t count = std::min<int64_t>(batch_size, static_cast<int64_t>(order.size()) - start);
    Shape shape{count};
    shape.insert(shape.end(), sample_shape.begin(), sample_shape.end());
    const int64_t numel = shape_numel(sample_shape);
    const int64_t channels = static_cast<int64_t>(mean.size());
    const int64_t inner = channels > 0 ? numel / channels : 0;
    const bool augmenting = augment.crop_padding > 0 || augment.horizontal_flip;

    Tensor x(shape);
    std::vector<int64_t> y(static_cast<size_t>(count));

    // Drawn serially, in batch order, so the result does not depend on the thread count.
    std::vector<Draw> draws(augmenting ? static_cast<size_t>(count) : 0);
    const int64_t pad = augment.crop_padding;
    for (size_t k = 0; k < draws.size(); ++k) {
        Draw& d = draws[k];
        Generator* gen = &augment_gen;
        Generator sample_gen;
        if (per_sample_augment) {
            const auto i = static_cast<uint64_t>(order[static_cast<size_t>(start) + k]);
            sample_gen.manual_seed(splitmix64(augment_seed ^ splitmix64(i)));
            gen = &sample_gen;
        }
        if (pad > 0) {
            d.dy = static_cast<int64_t>(gen->below(static_cast<uint64_t>(2 * pad + 1)));
            d.dx = static_cast<int64_t>(gen->below(static_cast<uint64_t>(2 * pad + 1)));
        }
        if (augment.horizontal_flip) d.flip = gen->below(2) == 1;
    }

    float* xd = x.data();
    const Dataset& ds = *dataset;
    std::exception_ptr error;
#pragma omp parallel if (core::worth_parallel(core::Work::elements, count * numel, count))
    {
        std::vector<float> scratch(augmenting ? static_cast<size_t>(numel) : 0);
#pragma omp for schedule(static)
        for (int64_t k = 0; k < count; ++k) {
            try {
                float* dst = xd + k * numel;  // (C, H, W)
                const int64_t i = order[static_cast<size_t>(start + k)];
                if (!augmenting) {
                    y[static_cast<size_t>(k)] = ds.get_into(i, dst);
                    for (int64_t c = 0; c < channels; ++c) {
                        const float m = mean[static_cast<size_t>(c)], s = inv_std[static_cast<size_t>(c)];
                        float* p = dst + c * inner;
                        for (int64_t j = 0; j < inner; ++j) p[j] = (p[j] - m) * s;
                    }
                    continue;
                }
                y[static_cast<size_t>(k)] = ds.get_into(i, scratch.data());
                // out[c][h][w] = padded[c][h + dy][w' + dx] with w' = W-1-w when flipped, and
                // padded[c][r][q] = src[c][r - pad][q - pad] inside the image, 0 outside.
                const Draw& d = draws[static_cast<size_t>(k)];
                const int64_t H = sample_shape[1], W = sample_shape[2];
                // Columns w' = w (or W-1-w when flipped) in [lo, hi) read the image, the rest are
                // padding. Split into three plain loops rather than one with a per-element
                // test: GCC turned that test into a masked load that merged with a copy of the
                // previous vector kept on the stack (a store and reload every iteration).
                const int64_t shift = d.dx - pad;  // q = w' + shift
                const int64_t lo = std::clamp<int64_t>(-shift, 0, W), hi = std::clamp<int64_t>(W - shift, 0, W);
                const int64_t begin = d.flip ? W - hi : lo, end = d.flip ? W - lo : hi;  // in w
                for (int64_t c = 0; c < channels; ++c) {
                    const float m = mean[static_cast<size_t>(c)], s = inv_std[static_cast<size_t>(c)];
                    const float zero = (0.0f - m) * s;
                    const float* src = scratch.data() + c * H * W;
                    for (int64_t h = 0; h < H; ++h) {
                        float* out = dst + (c * H + h) * W;
                        const int64_t r = h + d.dy - pad;
                        if (r < 0 || r >= H) {
                            std::fill(out, out + W, zero);
                            continue;
                        }
                        const float* row = src + r * W;
                        std::fill(out, out + begin, zero);
                        if (d.flip)
                            for (int64_t w = begin; w < end; ++w) out[w] = (row[W - 1 - w + shift] - m) * s;
                        else
                            for (int64_t w = begin; w < end; ++w) out[w] = (row[w + shift] - m) * s;
                        std::fill(out + end, out + W, zero);
                    }
                }
            } catch (...) {
#pragma omp critical(tapegrad_loader_error)
                if (!error) error = std::current_exception();
            }
        }
    }
    if (error) std::rethrow_exception(error);
    batch = Batch{std::move(x), std::move(y)};
}

Batch& Loader::Iterator::operator*() const {
    if (at_end()) throw std::out_of_range("Loader: dereferenced an iterator past the last batch");
    return pass_->batch;
}

Loader::Iterator& Loader::Iterator::operator++() {
    if (at_end()) throw std::out_of_range("Loader: advanced an iterator past the last batch");
    if (++pass_->index < pass_->num_batches)
        pass_->assemble();
    else
        pass_->batch = Batch{};  // releases the last batch's storage unless the caller kept it
    return *this;
}

bool Loader::Iterator::at_end() const { return !pass_ || pass_->index >= pass_->num_batches; }

Loader::Loader(const Dataset& dataset, LoaderOptions options)
    : dataset_(&dataset), options_(std::move(options)), sample_shape_(dataset.sample_shape()), epoch_(options_.epoch) {
    const LoaderOptions& o = options_;
    if (o.batch_size < 1)
        throw std::invalid_argument("Loader: expected batch_size >= 1, but got " + std::to_string(o.batch_size));
    if (o.epoch < 0) throw std::invalid_argument("Loader: expected epoch >= 0, but got " + std::to_string(o.epoch));
    const int64_t channels = sample_shape_.empty() ? 1 : sample_shape_[0];
    for (const auto& [name, values] : {std::pair{"mean", &o.mean}, std::pair{"std", &o.std}}) {
        const auto n = static_cast<int64_t>(values->size());
        if (n != 1 && n != channels)
            throw std::invalid_argument(std::string("Loader: expected ") + name + " to hold 1 or " +
                                        std::to_string(channels) + " values (one per channel of samples of shape " +
                                        to_string(sample_shape_) + "), but got " + std::to_string(n));
    }
    for (float s : o.std)
        if (!(s > 0.0f)) throw std::invalid_argument("Loader: expected std > 0, but got " + std::to_string(s));
    if (o.augment.crop_padding < 0)
        throw std::invalid_argument("Loader: expected augment.crop_padding >= 0, but got " +
                                    std::to_string(o.augment.crop_padding));
    // A crop is drawn from 2·crop_padding + 1 offsets per axis.
    constexpr const char* crop = "Loader: augment.crop_padding";
    checked_add(checked_mul(2, o.augment.crop_padding, crop), 1, crop);
    if (o.shard && !(o.shard->world >= 1 && o.shard->rank >= 0 && o.shard->rank < o.shard->world))
        throw std::invalid_argument("Loader: expected a shard with world >= 1 and 0 <= rank < world, but got rank " +
                                    std::to_string(o.shard->rank) + " of world " + std::to_string(o.shard->world));
    if ((o.augment.crop_padding > 0 || o.augment.horizontal_flip) && sample_shape_.size() != 3)
        throw std::invalid_argument("Loader: augmentation needs samples of shape (C, H, W), but the dataset's are " +
                                    to_string(sample_shape_));
}

// ceil(n / b) without n + b − 1, which wraps for b near INT64_MAX: a batch_size beyond the
// dataset gives one batch of all of it, as PyTorch's DataLoader.
int64_t Loader::size() const {
    const int64_t n = samples_per_pass(), b = options_.batch_size;
    return options_.drop_last ? n / b : n / b + (n % b != 0);
}

int64_t Loader::samples_per_pass() const {
    const int64_t n = dataset_->size();
    if (!options_.shard) return n;
    const auto [rank, world, balance] = *options_.shard;
    switch (balance) {
        case ShardOptions::Balance::pad: return n / world + (n % world != 0);
        case ShardOptions::Balance::trim: return n / world;
        case ShardOptions::Balance::none: return n > rank ? (n - rank - 1) / world + 1 : 0;
    }
    return n;
}

void Loader::set_epoch(int64_t epoch) {
    if (epoch < 0)
        throw std::invalid_argument("Loader::set_epoch: expected epoch >= 0, but got " + std::to_string(epoch));
    epoch_ = epoch;
}

std::vector<int64_t> Loader::order(int64_t epoch) const {
    const int64_t n = dataset_->size();
    std::vector<int64_t> order(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) order[static_cast<size_t>(i)] = i;
    if (options_.shuffle) {
        Generator gen(stream_seed(options_.seed, epoch, shuffle_stream));
        for (int64_t i = n - 1; i > 0; --i)  // Fisher–Yates
            std::swap(order[static_cast<size_t>(i)], order[gen.below(static_cast<uint64_t>(i + 1))]);
    }
    return order;
}

std::vector<int64_t> Loader::indices(int64_t epoch) const {
    std::vector<int64_t> all = order(epoch);
    if (!options_.shard || all.empty()) return all;
    const int64_t count = samples_per_pass(), rank = options_.shard->rank, world = options_.shard->world;
    const auto n = static_cast<int64_t>(all.size());
    std::vector<int64_t> mine(static_cast<size_t>(count));
    // Position p of the padded order is all[p mod N]: padding repeats the order from its start.
    for (int64_t k = 0; k < count; ++k) mine[static_cast<size_t>(k)] = all[static_cast<size_t>((rank + k * world) % n)];
    return mine;
}

Loader::Iterator Loader::begin() {
    const int64_t epoch = epoch_++;
    auto pass = std::make_shared<Iterator::Pass>();
    pass->dataset = dataset_;
    pass->sample_shape = sample_shape_;
    pass->batch_size = options_.batch_size;
    pass->num_batches = size();
    pass->order = indices(epoch);
    const int64_t channels = sample_shape_.empty() ? 1 : sample_shape_[0];
    for (int64_t c = 0; c < channels; ++c) {
        const auto pick = [c](const std::vector<float>& v) { return v.size() == 1 ? v[0] : v[static_cast<size_t>(c)]; };
        pass->mean.push_back(pick(options_.mean));
        pass->inv_std.push_back(1.0f / pick(options_.std));
    }
    pass->augment = options_.augment;
    pass->augment_gen.manual_seed(stream_seed(options_.seed, epoch, augment_stream));
    pass->per_sample_augment = options_.shard.has_value();
    pass->augment_seed = stream_seed(options_.seed, epoch, augment_stream);
    if (pass->num_batches > 0) pass->assemble();
    return Iterator(std::move(pass));
}

}  // namespace tapegrad::data
