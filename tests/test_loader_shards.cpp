// The sharded Loader (ShardOptions, PyTorch's DistributedSampler): one order per (seed, epoch)
// for all ranks, disjoint shares that cover it, equal step counts, per-sample augmentation;
// an unsharded Loader is unchanged.
#include <boost/test/unit_test.hpp>

#include <tapegrad/tapegrad.hpp>
#include "support/messages.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <vector>

using namespace tapegrad;
using namespace tapegrad::data;
using tapegrad::testing::message_contains;

namespace {

// Sample i is a (1, 6, 6) image of value i / 1000 + (k / 36) / 1000 at flat position k, label i.
class Ramp final : public Dataset {
  public:
    explicit Ramp(int64_t n) : n_(n) {}
    int64_t size() const override { return n_; }
    Shape sample_shape() const override { return {1, 6, 6}; }
    int64_t get_into(int64_t index, float* out) const override {
        for (int64_t k = 0; k < 36; ++k) out[k] = float(index) / 1000.0f + float(k) / 36000.0f;
        return index;
    }

  private:
    int64_t n_;
};

LoaderOptions sharded(int64_t rank, int64_t world, ShardOptions::Balance balance = ShardOptions::Balance::pad) {
    return {.batch_size = 4, .seed = 7, .shard = ShardOptions{.rank = rank, .world = world, .balance = balance}};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(loader_shards)

BOOST_AUTO_TEST_CASE(shares_are_disjoint_and_cover_the_epoch) {
    const Ramp data(40);
    for (int64_t world : {1, 2, 3, 4}) {
        for (int64_t epoch : {0, 5}) {
            const std::vector<int64_t> order = Loader(data, {.seed = 7}).order(epoch);
            std::vector<int64_t> seen;
            for (int64_t r = 0; r < world; ++r) {
                const std::vector<int64_t> mine =
                    Loader(data, sharded(r, world, ShardOptions::Balance::none)).indices(epoch);
                // Rank r takes positions r, r + world, … of the one order.
                for (size_t k = 0; k < mine.size(); ++k) BOOST_TEST(mine[k] == order[size_t(r) + k * size_t(world)]);
                seen.insert(seen.end(), mine.begin(), mine.end());
            }
            BOOST_TEST(seen.size() == 40u);
            BOOST_TEST(std::set<int64_t>(seen.begin(), seen.end()).size() == 40u);  // disjoint and covering
        }
    }
}

BOOST_AUTO_TEST_CASE(padding_and_trimming_give_every_rank_the_same_steps) {
    const Ramp data(10);  // 10 over 3 ranks: 4 each padded (2 repeats), 3 each trimmed
    const std::vector<int64_t> order = Loader(data, {.seed = 7}).order(0);
    std::vector<int64_t> padded, trimmed;
    for (int64_t r = 0; r < 3; ++r) {
        Loader pad(data, sharded(r, 3)), trim(data, sharded(r, 3, ShardOptions::Balance::trim));
        BOOST_TEST(pad.indices(0).size() == 4u);
        BOOST_TEST(pad.size() == 1);  // one batch of 4
        BOOST_TEST(trim.indices(0).size() == 3u);
        for (int64_t i : pad.indices(0)) padded.push_back(i);
        for (int64_t i : trim.indices(0)) trimmed.push_back(i);
    }
    // Padding repeats the order's first samples; every sample is still taken.
    BOOST_TEST(std::set<int64_t>(padded.begin(), padded.end()).size() == 10u);
    std::sort(padded.begin(), padded.end());
    std::vector<int64_t> expected(order);
    expected.push_back(order[0]);
    expected.push_back(order[1]);
    std::sort(expected.begin(), expected.end());
    BOOST_TEST(padded == expected, boost::test_tools::per_element());
    // Trimming drops the order's last sample, and nothing is taken twice.
    BOOST_TEST(std::set<int64_t>(trimmed.begin(), trimmed.end()).size() == 9u);
    BOOST_TEST(std::count(trimmed.begin(), trimmed.end(), order[9]) == 0);
}

BOOST_AUTO_TEST_CASE(batches_hold_the_share_in_order) {
    const Ramp data(17);
    Loader loader(data, sharded(1, 2));
    const std::vector<int64_t> mine = loader.indices(0);  // 9 samples: batches of 4, 4, 1
    BOOST_TEST(loader.size() == 3);
    std::vector<int64_t> labels;
    for (auto& [x, y] : loader) labels.insert(labels.end(), y.begin(), y.end());
    BOOST_TEST(labels == mine, boost::test_tools::per_element());
    BOOST_TEST(loader.epoch() == 1);
}

BOOST_AUTO_TEST_CASE(a_sample_is_augmented_alike_on_every_rank_and_world) {
    const Ramp data(24);
    auto augmented = [&](int64_t rank, int64_t world) {
        LoaderOptions o = sharded(rank, world);
        o.augment = {.crop_padding = 2, .horizontal_flip = true};
        o.mean = {0.0f};
        o.std = {1.0f};
        std::map<int64_t, std::vector<float>> by_sample;
        for (auto& [x, y] : Loader(data, o))
            for (size_t k = 0; k < y.size(); ++k)
                by_sample[y[k]] = std::vector<float>(x.data() + k * 36, x.data() + (k + 1) * 36);
        return by_sample;
    };
    std::map<int64_t, std::vector<float>> one = augmented(0, 1), two = augmented(0, 2);
    for (auto& [i, pixels] : augmented(1, 2)) two[i] = pixels;
    BOOST_TEST(one.size() == 24u);
    bool some_changed = false;
    for (auto& [i, pixels] : one) {
        BOOST_TEST(two.at(i) == pixels, boost::test_tools::per_element());
        some_changed |= pixels[7] != float(i) / 1000.0f + 7.0f / 36000.0f;
    }
    BOOST_TEST(some_changed);  // the augmentation did something
}

BOOST_AUTO_TEST_CASE(an_unsharded_loader_visits_every_sample_in_its_order) {
    const Ramp data(10);
    Loader plain(data, {.batch_size = 4, .seed = 7});
    BOOST_TEST(plain.indices(3) == plain.order(3), boost::test_tools::per_element());
    BOOST_TEST(plain.size() == 3);
}

BOOST_AUTO_TEST_CASE(a_bad_shard_is_refused_naming_it) {
    const Ramp data(10);
    for (auto [rank, world] : {std::pair<int64_t, int64_t>{2, 2}, {-1, 2}, {0, 0}})
        BOOST_CHECK_EXCEPTION(Loader(data, sharded(rank, world)), std::invalid_argument, [&](const auto& e) {
            return message_contains(e, "rank " + std::to_string(rank) + " of world " + std::to_string(world));
        });
}

BOOST_AUTO_TEST_SUITE_END()
