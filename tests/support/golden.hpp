// Golden fixtures written by tests/golden/make_golden.py from PyTorch: each case holds the
// inputs, a seed gradient dy, and PyTorch's output and input gradients in float32 and float64.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "framework/io/state_dict.hpp"
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

// Where fixture `file` is: in $TAPEGRAD_GOLDEN_DIR, else in tests/golden.
std::string golden_path(const std::string& file);

// The parsed fixture `file` (e.g. "optim.json") from golden_path(file); throws
// std::runtime_error naming the path when it cannot be opened.
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

// A module's state as make_golden.py's state_record writes it, {name: {"dtype", "shape",
// "data"}} in PyTorch's order, as a StateDict (int64 and float32 tensors).
StateDict golden_state(const nlohmann::ordered_json& record);

// `ours` against such a record: the same names in the same order and dtypes, int64 values
// exact, floats within tol relative to their size (worst() of support/tensors.hpp). Failures
// go through Boost.Test, naming the tensor.
void check_golden_state(const StateDict& ours, const nlohmann::ordered_json& record, double tol);

}  // namespace tapegrad::testing
