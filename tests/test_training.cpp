// End to end: the reference CNN (smaller: 8 and 16 channels) trained on 2,000 Fashion-MNIST
// images for 150 SGD steps must cut its training loss by 3× and reach far above chance on
// 1,000 test images. Skipped, with a message, when the dataset package is not installed.
#include <boost/test/unit_test.hpp>

#include <filesystem>

#include <tapegrad/tapegrad.hpp>

namespace tg = tapegrad;
namespace td = tapegrad::data;

namespace {

boost::test_tools::assertion_result dataset_installed(boost::unit_test::test_unit_id) {
    const auto files = td::fashion_mnist_files(td::default_fashion_mnist_dir(), td::Split::Train);
    boost::test_tools::assertion_result result(std::filesystem::exists(files.images));
    result.message() << "Fashion-MNIST is not installed in " << td::default_fashion_mnist_dir()
                     << " (apt-get install dataset-fashion-mnist)";
    return result;
}

double mean_loss(tg::Sequential& net, const td::Dataset& data, double* accuracy) {
    double loss = 0.0;
    int64_t correct = 0, seen = 0;
    for (auto& [x, y] : td::Loader(data, {.batch_size = 500, .shuffle = false})) {
        const tg::Tensor logits = net(x);
        loss += double(tg::cross_entropy(logits, y).item()) * double(y.size());
        for (size_t i = 0; i < y.size(); ++i) {
            const float* row = logits.data() + i * 10;
            correct += std::max_element(row, row + 10) - row == y[i];
        }
        seen += int64_t(y.size());
    }
    if (accuracy) *accuracy = double(correct) / double(seen);
    return loss / double(seen);
}

}  // namespace

BOOST_AUTO_TEST_CASE(small_cnn_learns_fashion_mnist, *boost::unit_test::precondition(dataset_installed)) {
    tg::manual_seed(0);
    tg::set_num_threads(2);
    const td::FashionMNIST train = td::load_fashion_mnist(td::Split::Train).subset(2000);
    const td::FashionMNIST test = td::load_fashion_mnist(td::Split::Test).subset(1000);

    tg::Sequential net;
    net.add(tg::Conv2d(1, 8, 3, 1, 1));
    net.add(tg::GroupNorm(2, 8));
    net.add(tg::ReLU());
    net.add(tg::MaxPool2d(2));
    net.add(tg::Conv2d(8, 16, 3, 1, 1));
    net.add(tg::GroupNorm(4, 16));
    net.add(tg::ReLU());
    net.add(tg::MaxPool2d(2));
    net.add(tg::Flatten());
    net.add(tg::Linear(16 * 7 * 7, 10));

    const double initial = mean_loss(net, train, nullptr);
    tg::SGD opt(net.parameters(), {.lr = 0.05, .momentum = 0.9, .weight_decay = 5e-4});
    td::Loader loader(train, {.batch_size = 64, .shuffle = true, .drop_last = true, .seed = 1});
    int steps = 0;
    while (steps < 150)
        for (auto& [x, y] : loader) {
            tg::Tape tape;
            const tg::Tensor loss = tg::cross_entropy(net(x), y);
            opt.zero_grad();
            tape.backward(loss);
            opt.step();
            if (++steps == 150) break;
        }

    double accuracy = 0.0;
    const double final_loss = mean_loss(net, train, nullptr);
    mean_loss(net, test, &accuracy);
    BOOST_TEST_MESSAGE("training loss " << initial << " -> " << final_loss << ", test accuracy " << accuracy);
    BOOST_TEST(final_loss < initial / 3.0, "training loss " << initial << " -> " << final_loss);
    BOOST_TEST(accuracy > 0.6, "test accuracy " << accuracy << " (chance is 0.1)");
}
