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

// Loads `file` (e.g. "group_norm.json") from $TAPEGRAD_GOLDEN_DIR, else from tests/golden.
std::vector<GoldenCase> load_golden(const std::string& file);

}  // namespace tapegrad::testing
