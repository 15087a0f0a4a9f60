// BasicTensor: factories, shapes, aliasing, gradient accumulation, and the Generator.
#include <boost/test/unit_test.hpp>

#include <tapegrad/tapegrad.hpp>

using namespace tapegrad;

BOOST_AUTO_TEST_SUITE(tensor)

BOOST_AUTO_TEST_CASE(factories_fill_and_shape) {
    const Tensor z = zeros({2, 3});
    BOOST_TEST(z.numel() == 6);
    BOOST_TEST(z.dim() == 2);
    BOOST_TEST(z.size(-1) == 3);
    for (float v : z.values()) BOOST_TEST(v == 0.0f);
    for (double v : ones<double>({4}).to_vector()) BOOST_TEST(v == 1.0);
    for (float v : full({2, 2}, 7.5f).to_vector()) BOOST_TEST(v == 7.5f);
    const Tensor s = from_vector<float>({2, 2}, {1, 2, 3, 4});
    BOOST_TEST(s.to_vector() == (std::vector<float>{1, 2, 3, 4}), boost::test_tools::per_element());
    BOOST_TEST(scalar_tensor(3.0f).dim() == 0);
    BOOST_TEST(scalar_tensor(3.0f).item() == 3.0f);
    for (float v : rand({100}, nullptr, -2.0f, 3.0f).to_vector()) BOOST_TEST((v >= -2.0f && v < 3.0f));
}

BOOST_AUTO_TEST_CASE(copies_alias_and_clone_copies) {
    Tensor a = zeros({3});
    Tensor b = a;
    b.data()[0] = 5.0f;
    BOOST_TEST(a.data()[0] == 5.0f);
    BOOST_TEST(a.id() == b.id());
    Tensor c = a.clone();
    c.data()[0] = 1.0f;
    BOOST_TEST(a.data()[0] == 5.0f);
}

BOOST_AUTO_TEST_CASE(randn_is_reproducible_from_a_seed) {
    manual_seed(42);
    const auto first = randn({50}).to_vector();
    manual_seed(42);
    const auto second = randn({50}).to_vector();
    BOOST_TEST(first == second, boost::test_tools::per_element());
    Generator g(1);
    const std::string state = g.state();
    const double a = g.normal();
    g.set_state(state);
    BOOST_TEST(g.normal() == a);
    double mean = 0.0;
    for (double v : randn<double>({20000}, &g).to_vector()) mean += v / 20000;
    BOOST_TEST(std::abs(mean) < 0.05);
}

BOOST_AUTO_TEST_CASE(gradient_is_allocated_on_first_accumulation) {
    Tensor x = zeros({2, 2}, true);
    BOOST_TEST(!x.grad().defined());
    x.accumulate_grad(ones({2, 2}));
    x.accumulate_grad(ones({2, 2}));
    for (float v : x.grad().to_vector()) BOOST_TEST(v == 2.0f);
    x.zero_grad();
    BOOST_TEST(!x.grad().defined());
}

BOOST_AUTO_TEST_CASE(wrong_shapes_are_clear_errors) {
    Tensor x = zeros({2, 3});
    BOOST_CHECK_EXCEPTION(x.accumulate_grad(ones({3, 2})), std::invalid_argument, [](const auto& e) {
        const std::string m = e.what();
        return m.find("[2, 3]") != std::string::npos && m.find("[3, 2]") != std::string::npos;
    });
    BOOST_CHECK_THROW(from_vector<float>({2, 2}, {1, 2, 3}), std::invalid_argument);
    BOOST_CHECK_THROW(zeros({2, -1}), std::invalid_argument);
    BOOST_CHECK_THROW(x.item(), std::invalid_argument);
    BOOST_CHECK_THROW(x.size(2), std::out_of_range);
    BOOST_CHECK_THROW(Tensor().shape(), std::logic_error);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(allocator)

BOOST_AUTO_TEST_CASE(large_blocks_are_recycled_up_to_the_limit) {
    set_allocator_cache_limit(8u << 20);
    const void* first = nullptr;
    {
        const Tensor big = empty({512, 1024});  // 2 MiB
        first = big.data();
    }
    BOOST_TEST(allocator_cached_bytes() >= 2u << 20);
    {
        const Tensor again = empty({1024, 512});  // same byte count: the cached block comes back
        BOOST_TEST(again.data() == first);
    }
    set_allocator_cache_limit(0);
    BOOST_TEST(allocator_cached_bytes() == 0u);
    { const Tensor big = empty({512, 1024}); }
    BOOST_TEST(allocator_cached_bytes() == 0u, "with a limit of 0 nothing is cached");
    set_allocator_cache_limit(4u << 20);
    { const Tensor stale = empty({768, 1024}); }  // 3 MiB, cached
    const void* recent = nullptr;
    {
        const Tensor fresh = empty({512, 1024});  // 2 MiB: caching it evicts the older 3 MiB block
        recent = fresh.data();
    }
    BOOST_TEST(allocator_cached_bytes() == 2u << 20);
    BOOST_TEST(empty({512, 1024}).data() == recent);
    set_allocator_cache_limit(256u << 20);
    const Tensor small = zeros({3});
    BOOST_TEST(reinterpret_cast<uintptr_t>(small.data()) % 64 == 0u);
}

BOOST_AUTO_TEST_SUITE_END()
