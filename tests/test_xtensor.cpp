// The opt-in <tapegrad/xtensor.hpp>: views of values and gradients alias the tensor's storage
// with its shape, tensors are built from any xexpression in row-major order, and misuse throws.
#include <boost/test/unit_test.hpp>

#include <type_traits>
#include <utility>
#include <vector>

#include <xtensor/xarray.hpp>
#include <xtensor/xbuilder.hpp>
#include <xtensor/xtensor.hpp>

#include <tapegrad/tapegrad.hpp>
#include <tapegrad/xtensor.hpp>
#include "support/messages.hpp"

using namespace tapegrad;
using tapegrad::testing::check_message;

namespace {
template <typename View>
std::vector<std::size_t> view_shape(const View& v) {
    return {v.shape().begin(), v.shape().end()};
}
}  // namespace

BOOST_AUTO_TEST_SUITE(views)

BOOST_AUTO_TEST_CASE(value_view_aliases_the_storage_with_the_tensors_shape) {
    Tensor t = from_vector<float>({2, 3}, {0, 1, 2, 3, 4, 5});
    auto v = as_xtensor(t);
    BOOST_TEST(view_shape(v) == (std::vector<std::size_t>{2, 3}), boost::test_tools::per_element());
    BOOST_TEST(v.data() == t.data());
    BOOST_TEST(v(1, 2) == 5.0f);  // row-major: (1, 2) is element 1·3 + 2
    v(1, 0) = 30.0f;
    BOOST_TEST(t.data()[3] == 30.0f);
    v += 1.0f;  // an xtensor expression assigned in place
    BOOST_TEST(t.to_vector() == (std::vector<float>{1, 2, 3, 31, 5, 6}), boost::test_tools::per_element());
    t.data()[0] = -1.0f;
    BOOST_TEST(v(0, 0) == -1.0f);
}

BOOST_AUTO_TEST_CASE(a_const_tensor_gives_a_read_only_view) {
    const DoubleTensor t = from_vector<double>({3, 1, 2}, {1, 2, 3, 4, 5, 6});
    const auto v = as_xtensor(t);
    static_assert(std::is_const_v<std::remove_pointer_t<decltype(v.data())>>);
    BOOST_TEST(view_shape(v) == (std::vector<std::size_t>{3, 1, 2}), boost::test_tools::per_element());
    BOOST_TEST(v.data() == t.data());
    BOOST_TEST(xt::sum(v)() == 21.0);
}

BOOST_AUTO_TEST_CASE(grad_view_shows_the_gradient_of_a_backward) {
    DoubleTensor w = from_vector<double>({2, 2}, {1, 2, 3, 4}, /*requires_grad=*/true);
    {
        Tape tape;
        tape.backward(sum(w * w));
    }
    auto g = grad_as_xtensor(w);
    BOOST_TEST(view_shape(g) == (std::vector<std::size_t>{2, 2}), boost::test_tools::per_element());
    BOOST_TEST(g.data() == w.grad().data());
    const xt::xarray<double> expected = 2.0 * as_xtensor(std::as_const(w));  // d Σw² / dw = 2w
    BOOST_TEST((g == expected));
    g *= 0.5;  // e.g. gradient scaling before the optimiser step
    BOOST_TEST(w.grad().to_vector() == (std::vector<double>{1, 2, 3, 4}), boost::test_tools::per_element());
    const DoubleTensor& cw = w;
    BOOST_TEST(grad_as_xtensor(cw)(1, 1) == 4.0);
}

BOOST_AUTO_TEST_CASE(a_missing_gradient_is_an_error_that_names_the_shape) {
    Tensor t = zeros({4, 5}, /*requires_grad=*/true);
    check_message([&] { grad_as_xtensor(t); }, {"grad_as_xtensor", "[4, 5]", "no gradient"});
    const Tensor& ct = t;
    check_message([&] { grad_as_xtensor(ct); }, {"grad_as_xtensor", "[4, 5]"});
    t.accumulate_grad(ones({4, 5}));
    BOOST_TEST(xt::sum(grad_as_xtensor(t))() == 20.0f);
    t.zero_grad();
    BOOST_CHECK_THROW(grad_as_xtensor(t), std::invalid_argument);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(construction)

BOOST_AUTO_TEST_CASE(from_a_reshaped_arange) {
    const Tensor t = from_xtensor(xt::reshape_view(xt::arange<float>(12.0f), {3, 4}));
    static_assert(std::is_same_v<std::decay_t<decltype(t)>, Tensor>);
    BOOST_TEST(t.shape() == (Shape{3, 4}), boost::test_tools::per_element());
    for (int64_t i = 0; i < 12; ++i) BOOST_TEST(t.data()[i] == float(i));
    BOOST_TEST(!t.requires_grad());
    BOOST_TEST(t.is_leaf());
}

BOOST_AUTO_TEST_CASE(from_a_broadcast_sum_in_double) {
    const xt::xtensor<double, 2> column = {{10.0}, {20.0}};  // (2, 1)
    const xt::xtensor<double, 1> row = {1.0, 2.0, 3.0};       // (3,)
    const DoubleTensor t = from_xtensor(column + row, /*requires_grad=*/true);
    BOOST_TEST(t.shape() == (Shape{2, 3}), boost::test_tools::per_element());
    BOOST_TEST(t.to_vector() == (std::vector<double>{11, 12, 13, 21, 22, 23}), boost::test_tools::per_element());
    BOOST_TEST(t.requires_grad());
    BOOST_TEST(t.is_leaf());
}

BOOST_AUTO_TEST_CASE(a_column_major_source_is_stored_row_major) {
    xt::xarray<double, xt::layout_type::column_major> m = {{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}};
    BOOST_TEST(m.data()[1] == 4.0);  // the source really is column-major
    const DoubleTensor t = from_xtensor(m);
    BOOST_TEST(t.to_vector() == (std::vector<double>{1, 2, 3, 4, 5, 6}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(the_element_type_can_be_named) {
    const Tensor t = from_xtensor<float>(xt::arange(5));  // int expression, float tensor
    BOOST_TEST(t.to_vector() == (std::vector<float>{0, 1, 2, 3, 4}), boost::test_tools::per_element());
    const DoubleTensor d = from_xtensor<double>(xt::xarray<float>{0.5f, 1.5f});
    BOOST_TEST(d.to_vector() == (std::vector<double>{0.5, 1.5}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(the_new_tensor_owns_its_values_and_takes_part_in_autograd) {
    xt::xarray<double> source = {1.0, 2.0, 3.0};
    DoubleTensor x = from_xtensor(source, /*requires_grad=*/true);
    source(0) = 100.0;  // a copy, not a view of the source
    BOOST_TEST(x.data()[0] == 1.0);
    {
        Tape tape;
        tape.backward(sum(x * x));
    }
    BOOST_TEST((grad_as_xtensor(x) == xt::xarray<double>{2.0, 4.0, 6.0}));
}

// docs/architecture.md, "Working with xtensor", as printed there.
BOOST_AUTO_TEST_CASE(readme_example) {
    namespace tg = tapegrad;
    tg::Tensor x = tg::from_xtensor(xt::reshape_view(xt::arange<float>(12.0f), {3, 4}),
                                    /*requires_grad=*/true);   // any xexpression, row-major
    auto v = tg::as_xtensor(x);          // zero-copy xt::adapt view, shape (3, 4)
    v += 1.0f;                           // writes go to x.data()
    {
        tg::Tape tape;
        tape.backward(tg::sum(x * x));
    }
    auto dx = tg::grad_as_xtensor(x);    // view of x.grad(); throws if there is no gradient
    dx *= 0.5f;                          // e.g. scale the gradient before opt.step()
    // x = 1..12, d(Σx²)/dx = 2x, halved: x itself.
    const std::vector<float> g = x.grad().to_vector();
    for (size_t i = 0; i < g.size(); ++i) BOOST_TEST(g[i] == static_cast<float>(i + 1));
    BOOST_TEST(x.data()[11] == 12.0f);
}

BOOST_AUTO_TEST_SUITE_END()
