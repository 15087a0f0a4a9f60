// Optimizer: the base of every optimizer. It sees a list of parameter tensors (one
// parameter group, as PyTorch's param_groups[0]), never a module; it owns the learning rate
// and the state that state_dict()/load_state_dict() round-trip so a resumed run continues
// bit for bit.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "framework/io/state_dict.hpp"
#include "framework/tensor.hpp"

namespace tapegrad {

// What learning-rate schedulers see of an optimizer, whatever its parameters' type.
class OptimizerBase {
  public:
    virtual ~OptimizerBase() = default;

    // One update of every parameter that has a gradient (the others are skipped).
    virtual void step() = 0;
    // Drops every parameter's gradient (PyTorch's zero_grad(set_to_none=True)).
    virtual void zero_grad() = 0;
    // "SGD".
    virtual std::string type_name() const = 0;

    double lr() const { return lr_; }
    // std::invalid_argument unless lr is finite and >= 0.
    void set_lr(double lr);
    // The lr the first scheduler attached to this optimizer started from (PyTorch's
    // param_group["initial_lr"]); every scheduler takes it as its base lr.
    std::optional<double> initial_lr() const { return initial_lr_; }
    void set_initial_lr(double lr);
    // Number of step() calls so far.
    int64_t step_count() const { return step_count_; }

  protected:
    OptimizerBase() = default;
    OptimizerBase(const OptimizerBase&) = default;
    OptimizerBase& operator=(const OptimizerBase&) = default;

    double lr_ = 0.0;
    std::optional<double> initial_lr_;
    int64_t step_count_ = 0;
};

template <typename T>
class BasicOptimizer : public OptimizerBase {
  public:
    const std::vector<BasicTensor<T>>& params() const { return params_; }
    void zero_grad() override;

    // A snapshot (copies) of the state. Metadata: {"type", "dtype", "param_shapes",
    // "step_count", "lr", "initial_lr", "options": {...}}; tensors: the optimizer's
    // per-parameter buffers named "<buffer>.<parameter index>".
    StateDict state_dict() const;
    // Restores a state_dict() of the same optimizer type over parameters of the same shapes,
    // including the options (as PyTorch restores its param_groups). Strict: anything
    // missing, unexpected or wrongly shaped is std::invalid_argument naming it, and then
    // nothing has been changed.
    void load_state_dict(const StateDict& state);

  protected:
    // Throws std::invalid_argument (prefixed with `who`) for an empty list, an undefined or
    // non-leaf tensor, or a tensor listed twice; and for an invalid lr.
    BasicOptimizer(std::vector<BasicTensor<T>> params, double lr, const std::string& who);

    // The optimizer's own part of the state: "options" and buffers.
    virtual void write_state(StateDict& out) const = 0;
    // Validates the optimizer's own part of `in` (std::invalid_argument); changes nothing.
    virtual void check_state(const StateDict& in) const = 0;
    // Applies a state that check_state() accepted.
    virtual void apply_state(const StateDict& in) = 0;

    std::vector<BasicTensor<T>> params_;
};

}  // namespace tapegrad
