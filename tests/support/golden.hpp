// Golden fixtures written by tests/golden/make_golden.py from PyTorch: each case holds the
// inputs, a seed gradient dy, and PyTorch's output and input gradients in float32 and float64.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "framework/tensor.hpp"

namespace tapegrad::testing {

struct GoldenArray {
    Shape shape;
    std::vector<double> data;
};

struct GoldenResult {
    std::vector<double> out;
    std::map<std::string, std::vector<double>> grads;
};

struct GoldenCase {
    std::string name;
    std::string op;
    nlohmann::ordered_json attrs;
    std::vector<std::pair<std::string, GoldenArray>> inputs;  // in the op's argument order
    GoldenArray dy;
    GoldenResult float32, float64;
};

// The parsed fixture `file` (e.g. "optim.json") from $TAPEGRAD_GOLDEN_DIR, else from
// tests/golden; throws std::runtime_error naming the path when it cannot be opened.
nlohmann::ordered_json load_golden_document(const std::string& file);

// The cases of a fixture of op cases (e.g. "group_norm.json"), loaded as load_golden_document does.
std::vector<GoldenCase> load_golden(const std::string& file);

// A fixture's {"shape": [...], "data": [...]}.
GoldenArray golden_array(const nlohmann::ordered_json& j);

// A fixture's array as a tensor in precision T.
template <typename T>
BasicTensor<T> to_tensor(const GoldenArray& a, bool requires_grad = false) {
    return from_vector<T>(a.shape, std::vector<T>(a.data.begin(), a.data.end()), requires_grad);
}

}  // namespace tapegrad::testing
