// Fixture loading; see golden.hpp.
#include "support/golden.hpp"

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

nlohmann::ordered_json load_golden_document(const std::string& file) {
    const char* dir = std::getenv("TAPEGRAD_GOLDEN_DIR");
    const std::string path = std::string(dir ? dir : TAPEGRAD_GOLDEN_DIR_DEFAULT) + "/" + file;
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

}  // namespace tapegrad::testing
