// Optimizer: the base of every optimizer. It sees parameter tensors in one or more parameter
// groups (PyTorch's param_groups), never a module; each group has its own learning rate and
// options. It owns the state that state_dict()/load_state_dict() round-trip (learning rates,
// options, per-parameter buffers) so a resumed run continues bit for bit.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
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
    // "SGD", "Adam", ...
    virtual std::string type_name() const = 0;

    // 1 for an optimizer made from one list of parameters; add_param_group() adds more.
    size_t num_param_groups() const { return rates_.size(); }
    // Group `group`'s learning rate (std::out_of_range past the last group).
    double lr(size_t group = 0) const;
    // Sets every group's lr; std::invalid_argument unless lr is finite and >= 0.
    void set_lr(double lr);
    // Sets one group's lr (what a scheduler does, group by group).
    void set_lr(size_t group, double lr);
    // The lr the first scheduler attached to this optimizer started the group from (PyTorch's
    // param_group["initial_lr"]); every scheduler takes it as the group's base lr.
    std::optional<double> initial_lr(size_t group = 0) const;
    void set_initial_lr(size_t group, double lr);
    // Number of step() calls so far.
    int64_t step_count() const { return step_count_; }

  protected:
    OptimizerBase() = default;
    OptimizerBase(const OptimizerBase&) = default;
    OptimizerBase& operator=(const OptimizerBase&) = default;

    // A group's learning rates: what schedulers change.
    struct GroupRates {
        double lr = 0.0;
        std::optional<double> initial_lr;
    };
    GroupRates& rates(size_t group, const char* who);
    const GroupRates& rates(size_t group, const char* who) const;

    std::vector<GroupRates> rates_;
    int64_t step_count_ = 0;
};

template <typename T>
class BasicOptimizer : public OptimizerBase {
  public:
    // Every parameter, group after group: parameter i of the state is params()[i].
    const std::vector<BasicTensor<T>>& params() const { return params_; }
    // The parameters of one group (std::out_of_range past the last group).
    std::span<const BasicTensor<T>> param_group(size_t group) const;
    void zero_grad() override;

    // A snapshot (copies) of the state. Metadata: {"type", "dtype", "param_shapes",
    // "step_count", "lr", "initial_lr", "options": {...}} with one group (the format has not
    // changed since optimizers had one); with several, "param_groups": [{"num_params", "lr",
    // "initial_lr", "options"}, ...] in place of the last three. The optimizer may add
    // metadata of its own. Tensors: the per-parameter buffers, "<buffer>.<parameter index>",
    // for the parameters that have them.
    StateDict state_dict() const;
    // Restores a state_dict() of the same optimizer type over parameters of the same shapes in
    // groups of the same sizes, including each group's lr and options (as PyTorch restores
    // its param_groups). Strict: anything missing, unexpected or wrongly shaped is
    // std::invalid_argument naming it, and then nothing has been changed.
    void load_state_dict(const StateDict& state);

  protected:
    // One group of `params` with learning rate `lr`. `buffer_names` are the per-parameter
    // buffers the optimizer keeps (buffers(b)[i] for parameter i, undefined until made).
    // Throws std::invalid_argument (prefixed with `who`) for an empty list, an undefined or
    // non-leaf tensor, or a tensor listed twice; the lr is the derived class's to check.
    BasicOptimizer(std::vector<BasicTensor<T>> params, double lr, std::vector<std::string> buffer_names,
                   const std::string& who);

    // Appends a group (the checks of the constructor, also against every earlier group).
    void add_group(std::vector<BasicTensor<T>> params, double lr, const std::string& who);
    // Group g holds params()[group_begin(g), group_end(g)).
    size_t group_begin(size_t group) const { return group == 0 ? 0 : group_ends_[group - 1]; }
    size_t group_end(size_t group) const { return group_ends_[group]; }

    // The object of a state's metadata `m` that holds group `group`'s "lr", "initial_lr" and
    // "options": m itself in the one-group form. Only for a state load_state_dict() checked.
    static const nlohmann::ordered_json& group_state(const nlohmann::ordered_json& m, size_t group);

    std::vector<BasicTensor<T>>& buffers(size_t b) { return buffers_[b]; }
    const std::vector<BasicTensor<T>>& buffers(size_t b) const { return buffers_[b]; }

    // A group's options other than lr, into the object `out`.
    virtual void write_group_options(size_t group, nlohmann::ordered_json& out) const = 0;
    // Group `group`'s options from in["options"] with learning rate `lr`: checked (throwing
    // std::invalid_argument prefixed with `who`), and assigned when `apply`.
    virtual void read_group_options(size_t group, const nlohmann::ordered_json& in, double lr, bool apply,
                                    const std::string& who) = 0;
    // Metadata of the optimizer's own beyond the groups and the buffers; none by default.
    virtual void write_extra_state(nlohmann::ordered_json&) const {}
    // Checks the state once everything else in it passed, with the buffers it holds
    // (held[b][i]: whether buffer b of parameter i is there); changes nothing.
    virtual void check_extra_state(const nlohmann::ordered_json&, const std::vector<std::vector<bool>>&,
                                   const std::string&) const {}
    // Applies what check_extra_state() accepted.
    virtual void apply_extra_state(const nlohmann::ordered_json&) {}

    std::vector<BasicTensor<T>> params_;

  private:
    void check_new_params(const std::vector<BasicTensor<T>>& params, const std::string& who) const;

    std::vector<size_t> group_ends_;
    std::vector<std::string> buffer_names_;
    std::vector<std::vector<BasicTensor<T>>> buffers_;  // [buffer][parameter]
};

// An optimizer whose options are one aggregate (SGDOptions, AdamOptions, ...), one per group:
// the group-handling every such optimizer shares. What an options type is (its name, its
// checks, its fields in the state) is declared once, in its optimizer's .cpp, as a
// specialisation of OptimizerOptions<Options>.
template <typename Options>
struct OptimizerOptions;

template <typename T, typename Options>
class BasicOptionsOptimizer : public BasicOptimizer<T> {
  public:
    // Group `group`'s options, with its current lr.
    Options options(size_t group = 0) const;
    // Appends a parameter group with options of its own (PyTorch's add_param_group; there the
    // keys a group leaves out come from the defaults, here the options are one aggregate, as
    // libtorch's). The checks of the constructor; a parameter may be in one group only.
    void add_param_group(std::vector<BasicTensor<T>> params, const Options& options);
    std::string type_name() const override;

  protected:
    BasicOptionsOptimizer(std::vector<BasicTensor<T>> params, const Options& options,
                          std::vector<std::string> buffer_names);

    void write_group_options(size_t group, nlohmann::ordered_json& out) const override;
    void read_group_options(size_t group, const nlohmann::ordered_json& in, double lr, bool apply,
                            const std::string& who) override;

    std::vector<Options> options_;  // per group; their lr is stale: the base's rates hold it
};

}  // namespace tapegrad
