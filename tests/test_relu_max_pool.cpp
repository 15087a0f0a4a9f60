// relu_max_pool2d, the fused ReLU + max-pool that the layers' fusion table runs for a ReLU
// followed by a MaxPool2d, against the composition max_pool2d(relu(x)): the same output bits
// and the same gradient bits (the gradient assigned fresh), the same gradient values when it
// adds into an existing one, for the fused 2×2 window and the composed general one, float and
// double, at 1 and 2 threads. Then that the fusion happens — a Sequential with the pair, and a
// user's own module through forward_chain, record the fused op's one tape record where the
// modules called one by one record two — with the same bits; and that a subclass of ReLU is not
// fused in ReLU's place.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include <tapegrad/tapegrad.hpp>
#include "support/tensors.hpp"

using namespace tapegrad;
using tapegrad::testing::same_bits;

namespace {

// Normal values with negatives, zeros of both signs, ties and NaNs among them.
template <typename T>
BasicTensor<T> awkward(const Shape& shape, Generator& gen) {
    BasicTensor<T> x = randn<T>(shape, &gen);
    T* v = x.data();
    for (int64_t i = 0; i < x.numel(); ++i) {
        switch (i % 11) {
            case 3: v[i] = T(0); break;
            case 5: v[i] = -T(0); break;
            case 7: v[i] = i > 0 ? v[i - 1] : v[i]; break;
            case 9: if (i % 4 == 1) v[i] = std::numeric_limits<T>::quiet_NaN(); break;
            default: break;
        }
    }
    return x;
}

template <typename T>
bool same_values(const BasicTensor<T>& a, const BasicTensor<T>& b) {
    if (a.shape() != b.shape()) return false;
    for (int64_t i = 0; i < a.numel(); ++i)
        if (!(a.data()[i] == b.data()[i])) return false;
    return true;
}

template <typename T>
void check_fused_against_composed(const Shape& shape, Size2 kernel, std::optional<Size2> stride, Size2 padding) {
    Generator gen(static_cast<uint64_t>(shape[2] * 100 + shape[3]));
    const BasicTensor<T> values = awkward<T>(shape, gen);
    BasicTensor<T> a = values.clone(), b = values.clone();
    a.requires_grad_();
    b.requires_grad_();
    BasicTensor<T> ya, yb;
    for (int pass = 0; pass < 2; ++pass) {  // the second backward adds into the first's gradient
        BasicTensor<T> dy;
        {
            Tape tape;
            ya = relu_max_pool2d(a, kernel, stride, padding);
            dy = randn<T>(ya.shape(), &gen);
            tape.backward(ya, dy);
        }
        {
            Tape tape;
            yb = max_pool2d(relu(b), kernel, stride, padding);
            tape.backward(yb, dy);
        }
        BOOST_TEST(same_bits(ya, yb), "forward of " << to_string(shape));
        if (pass == 0)
            BOOST_TEST(same_bits(a.grad(), b.grad()), "fresh gradient of " << to_string(shape));
        else
            BOOST_TEST(same_values(a.grad(), b.grad()), "accumulated gradient of " << to_string(shape));
    }
}

}  // namespace

BOOST_AUTO_TEST_SUITE(relu_max_pool)

BOOST_AUTO_TEST_CASE(fused_2x2_equals_relu_then_max_pool) {
    const int saved = get_num_threads();
    for (int threads : {1, 2}) {
        set_num_threads(threads);
        for (const Shape& s : {Shape{2, 3, 8, 8}, Shape{2, 3, 7, 9}, Shape{1, 1, 2, 3}, Shape{3, 2, 33, 17},
                               Shape{64, 32, 28, 28}, Shape{64, 64, 14, 14}}) {
            check_fused_against_composed<float>(s, 2, std::nullopt, 0);
            check_fused_against_composed<double>(s, 2, std::nullopt, 0);
        }
    }
    set_num_threads(saved);
}

BOOST_AUTO_TEST_CASE(other_windows_compose_the_two_ops) {
    check_fused_against_composed<float>({2, 3, 9, 9}, 3, Size2{2}, 1);
    check_fused_against_composed<double>({2, 2, 6, 5}, {2, 3}, Size2{1, 2}, 0);
}

BOOST_AUTO_TEST_CASE(rejects_what_max_pool2d_rejects) {
    BOOST_CHECK_THROW(relu_max_pool2d(randn({2, 3, 4}), 2), std::invalid_argument);
    BOOST_CHECK_THROW(relu_max_pool2d(randn({1, 1, 4, 4}), 2, std::nullopt, 2), std::invalid_argument);
}

// Conv, ReLU, MaxPool, Flatten as a Sequential (which fuses the pair), by hand with
// relu_max_pool2d, and as its modules called in turn: the first two record the same ops, one
// fewer than the third (relu_max_pool2d for relu and max_pool2d), and all three give the same bits.
BOOST_AUTO_TEST_CASE(sequential_fuses_relu_and_max_pool_without_changing_results) {
    manual_seed(3);
    Sequential net;
    net.add(Conv2d(2, 4, 3, 1, 1));
    net.add(ReLU());
    net.add(MaxPool2d(2));
    net.add(Flatten());
    BOOST_TEST(find_fusion(net[1], net[2]) != nullptr);
    BOOST_TEST(find_fusion(net[0], net[1]) == nullptr);
    Generator gen(4);
    Tensor x = randn({3, 2, 10, 10}, &gen);
    const Tensor dy = randn({3, 4 * 5 * 5}, &gen);

    enum class Way { sequential, by_hand, one_by_one };
    auto run = [&](Way way, size_t& records) {
        net.zero_grad();
        Tape tape;
        Tensor y = x;
        if (way == Way::sequential)
            y = net(x);
        else if (way == Way::by_hand)
            y = net[3].forward(relu_max_pool2d(net[0].forward(x), 2));
        else
            for (size_t i = 0; i < net.size(); ++i) y = net[i].forward(y);
        records = tape.size();
        tape.backward(y, dy);
        std::vector<std::vector<float>> out{y.to_vector()};
        for (const Tensor& p : net.parameters()) out.push_back(p.grad().to_vector());
        return out;
    };
    size_t fused_records = 0, by_hand_records = 0, composed_records = 0;
    const auto fused = run(Way::sequential, fused_records);
    const auto by_hand = run(Way::by_hand, by_hand_records);
    const auto composed = run(Way::one_by_one, composed_records);
    BOOST_TEST(fused_records == by_hand_records);
    BOOST_TEST(fused_records + 1 == composed_records);
    BOOST_TEST_REQUIRE(fused.size() == composed.size());
    for (size_t k = 0; k < fused.size(); ++k) {
        BOOST_TEST(same_bits(fused[k], composed[k]), "tensor " << k);
        BOOST_TEST(same_bits(fused[k], by_hand[k]), "tensor " << k);
    }
}

namespace {

// A user's own module that applies its children in sequence through forward_chain.
template <typename T>
class ConvReLUPool : public BasicModule<T> {
  public:
    ConvReLUPool() {
        Generator gen(5);
        conv_ = this->register_module("conv", std::make_shared<BasicConv2d<T>>(2, 3, 3, 1, 1, true, &gen));
        relu_ = this->register_module("relu", std::make_shared<BasicReLU<T>>());
        pool_ = this->register_module("pool", std::make_shared<BasicMaxPool2d<T>>(2));
    }
    BasicTensor<T> forward(const BasicTensor<T>& x) override { return forward_chain(x, *conv_, *relu_, *pool_); }
    BasicTensor<T> forward_unfused(const BasicTensor<T>& x) { return (*pool_)((*relu_)((*conv_)(x))); }
    std::string type_name() const override { return "ConvReLUPool"; }

  private:
    std::shared_ptr<BasicConv2d<T>> conv_;
    std::shared_ptr<BasicReLU<T>> relu_;
    std::shared_ptr<BasicMaxPool2d<T>> pool_;
};

template <typename T>
void check_own_module_fuses() {
    ConvReLUPool<T> block;
    Generator gen(6);
    const BasicTensor<T> x = randn<T>({2, 2, 8, 8}, &gen), dy = randn<T>({2, 3, 4, 4}, &gen);
    auto run = [&](bool fused, size_t& records) {
        block.zero_grad();
        Tape tape;
        const BasicTensor<T> y = fused ? block(x) : block.forward_unfused(x);
        records = tape.size();
        tape.backward(y, dy);
        std::vector<BasicTensor<T>> out{y};
        for (const BasicTensor<T>& p : block.parameters()) out.push_back(p.grad());
        return out;
    };
    size_t fused_records = 0, composed_records = 0;
    const auto fused = run(true, fused_records), composed = run(false, composed_records);
    BOOST_TEST(fused_records + 1 == composed_records);
    BOOST_TEST_REQUIRE(fused.size() == composed.size());
    for (size_t k = 0; k < fused.size(); ++k) BOOST_TEST(same_bits(fused[k], composed[k]), "tensor " << k);
}

// A ReLU that counts its forward calls: a subclass, so not ReLU as far as fusion goes.
class CountingReLU : public ReLU {
  public:
    Tensor forward(const Tensor& x) override {
        ++calls;
        return ReLU::forward(x);
    }
    int calls = 0;
};

}  // namespace

BOOST_AUTO_TEST_CASE(a_users_own_module_fuses_through_forward_chain) {
    check_own_module_fuses<float>();
    check_own_module_fuses<double>();
}

BOOST_AUTO_TEST_CASE(a_subclass_of_relu_is_not_fused) {
    Sequential net;
    auto counting = net.add(CountingReLU());
    net.add(MaxPool2d(2));
    BOOST_TEST(find_fusion(net[0], net[1]) == nullptr);
    Generator gen(7);
    Tensor x = randn({1, 2, 4, 4}, &gen);
    x.requires_grad_();
    Tape tape;
    const Tensor y = net(x);
    BOOST_TEST(counting->calls == 1);
    BOOST_TEST(tape.size() == 2u);
    BOOST_TEST(same_bits(y, max_pool2d(relu(x), 2)));
}

BOOST_AUTO_TEST_SUITE_END()
