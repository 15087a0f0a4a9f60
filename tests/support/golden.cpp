// Fixture loading; see golden.hpp.
#include "support/golden.hpp"

#include <boost/test/unit_test.hpp>

#include "support/tensors.hpp"

#include <cstdlib>
#include <fstream>
#include <stdexcept>

namespace tapegrad::testing {

namespace {

GoldenResult result_from(const nlohmann::ordered_json& j) {
    GoldenResult r;
    r.out = j.at("out").get<std::vector<double>>();
    for (const auto& [name, values] : j.at("grads").items()) r.grads[name] = values.get<std::vector<double>>();
    return r;
}

}  // namespace

GoldenArray golden_array(const nlohmann::ordered_json& j) {
    return GoldenArray{j.at("shape").get<Shape>(), j.at("data").get<std::vector<double>>()};
}

std::string golden_path(const std::string& file) {
    const char* dir = std::getenv("TAPEGRAD_GOLDEN_DIR");
    return std::string(dir ? dir : TAPEGRAD_GOLDEN_DIR_DEFAULT) + "/" + file;
}

nlohmann::ordered_json load_golden_document(const std::string& file) {
    const std::string path = golden_path(file);
    std::ifstream in(path);
    if (!in) throw std::runtime_error("cannot open golden fixture " + path + " (run tests/golden/make_golden.py)");
    return nlohmann::ordered_json::parse(in);
}

std::vector<GoldenCase> load_golden(const std::string& file) {
    const nlohmann::ordered_json doc = load_golden_document(file);
    std::vector<GoldenCase> cases;
    for (const auto& j : doc.at("cases")) {
        GoldenCase c;
        c.name = j.at("name").get<std::string>();
        c.op = j.at("op").get<std::string>();
        c.attrs = j.at("attrs");
        for (const auto& [name, arr] : j.at("inputs").items()) c.inputs.emplace_back(name, golden_array(arr));
        c.dy = golden_array(j.at("dy"));
        c.float32 = result_from(j.at("float32"));
        c.float64 = result_from(j.at("float64"));
        cases.push_back(std::move(c));
    }
    return cases;
}

StateDict golden_state(const nlohmann::ordered_json& record) {
    StateDict out;
    for (const auto& [name, t] : record.items()) {
        const Shape shape = t.at("shape").get<Shape>();
        if (t.at("dtype") == "int64")
            out.add(name, from_vector<int64_t>(shape, t.at("data").get<std::vector<int64_t>>()));
        else
            out.add(name, from_vector<float>(shape, t.at("data").get<std::vector<float>>()));
    }
    return out;
}

void check_golden_state(const StateDict& ours, const nlohmann::ordered_json& record, double tol) {
    const StateDict theirs = golden_state(record);
    BOOST_TEST(ours.names() == theirs.names(), boost::test_tools::per_element());
    for (const std::string& name : theirs.names()) {
        BOOST_TEST_CONTEXT(name) {
            if (!ours.contains(name)) continue;  // reported by the names check
            BOOST_TEST_REQUIRE(ours.dtype(name) == theirs.dtype(name));
            if (theirs.dtype(name) == "int64")
                BOOST_TEST(ours.get<int64_t>(name).to_vector() == theirs.get<int64_t>(name).to_vector(),
                           boost::test_tools::per_element());
            else
                BOOST_TEST(worst(ours.get<float>(name).to_vector(), theirs.get<float>(name).to_vector(), tol) <= 1.0);
        }
    }
}

}  // namespace tapegrad::testing
