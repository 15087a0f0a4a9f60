// Learning-rate schedulers: StepLR, CosineAnnealingLR, LinearLR (PyTorch's linear warm-up)
// and SequentialLR (e.g. warm-up, then cosine), each matching torch.optim.lr_scheduler
// (PyTorch 1.13) when stepped once per epoch after optimizer.step(). The lr is computed
// from the closed forms (PyTorch's _get_closed_form_lr), not by PyTorch's chained
// updates, so it never drifts and depends only on (base_lr, last_epoch): the values agree
// with PyTorch's to rounding (~1e-16 relative). Each parameter group of the optimizer has
// its own base lr (its initial_lr) and follows the schedule from there, as in PyTorch; the
// groups are those the optimizer had when the scheduler was made.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "framework/io/state_dict.hpp"
#include "optim/optimizer.hpp"

namespace tapegrad {

class LRScheduler {
  public:
    virtual ~LRScheduler() = default;
    LRScheduler(const LRScheduler&) = delete;
    LRScheduler& operator=(const LRScheduler&) = delete;

    // Advances one epoch and sets each group's lr to the schedule's value there.
    void step();
    // The first group's lr set by the constructor or the last step() (PyTorch's get_last_lr()[0]).
    double get_last_lr() const { return last_lrs_.front(); }
    // Every group's (PyTorch's get_last_lr()).
    const std::vector<double>& get_last_lrs() const { return last_lrs_; }
    // -1 before the constructor's first step, then 0, 1, ...
    int64_t last_epoch() const { return last_epoch_; }
    // The first group's initial_lr() when the scheduler was made (set to its lr by the first
    // scheduler attached, as PyTorch's param_group["initial_lr"]).
    double base_lr() const { return base_lrs_.front(); }
    // Every group's (PyTorch's base_lrs).
    const std::vector<double>& base_lrs() const { return base_lrs_; }
    OptimizerBase& optimizer() const { return *optimizer_; }

    // The schedule's value for group `group` at `epoch` >= 0; touches nothing.
    double lr_at(int64_t epoch, size_t group = 0) const;
    // The schedule's value at `epoch` >= 0 for a group that starts from `base_lr`.
    virtual double lr_from(double base_lr, int64_t epoch) const = 0;
    // "StepLR", ...
    virtual std::string type_name() const = 0;

    // Metadata only: {"type", "last_epoch", "base_lr", "last_lr", "options": {...}} for an
    // optimizer of one group; with several, "base_lrs" and "last_lrs" (one per group) in
    // place of "base_lr" and "last_lr".
    StateDict state_dict() const;
    // Restores a state_dict() of the same type, options included (as PyTorch does). Leaves
    // the optimizer's lr alone: restore the optimizer's own state for that. A state of
    // another type or with invalid values is std::invalid_argument, and nothing changes.
    void load_state_dict(const StateDict& state);

  protected:
    explicit LRScheduler(OptimizerBase& optimizer);
    // PyTorch's initial step (to epoch 0); the last line of every subclass constructor.
    void initial_step();

    // The subclass's options, and back: with apply = false only validate (throw
    // std::invalid_argument, prefixed with `who`); with apply = true, assign.
    virtual void write_options(nlohmann::ordered_json& out) const = 0;
    virtual void read_options(const nlohmann::ordered_json& in, bool apply, const std::string& who) = 0;
    // Called at the end of step().
    virtual void after_step() {}

  private:
    friend class SequentialLR;
    void write_json(nlohmann::ordered_json& out) const;
    void read_json(const nlohmann::ordered_json& in, bool apply, const std::string& who);

    OptimizerBase* optimizer_;
    std::vector<double> base_lrs_;
    int64_t last_epoch_ = -1;
    std::vector<double> last_lrs_;
};

// A scheduler whose options are one aggregate. What it is lives in one place in
// lr_scheduler.cpp (Schedule<Options>): its name, its option fields (each option named
// once, and from there saved and restored), their checks (for the constructor and
// load_state_dict() alike) and the closed form of its lr.
template <typename Options>
class OptionsLRScheduler : public LRScheduler {
  public:
    const Options& options() const { return options_; }
    double lr_from(double base_lr, int64_t epoch) const override;
    std::string type_name() const override;

  protected:
    // std::invalid_argument, prefixed with the type name, for invalid options; then the
    // optimizer is not touched.
    OptionsLRScheduler(OptimizerBase& optimizer, const Options& options);
    void write_options(nlohmann::ordered_json& out) const override;
    void read_options(const nlohmann::ordered_json& in, bool apply, const std::string& who) override;

    Options options_;
};

// The constructors' arguments (their defaults are there), as the state's "options" holds them.
struct StepLROptions {
    int64_t step_size = 0;
    double gamma = 0.0;
};
struct CosineAnnealingLROptions {
    int64_t T_max = 0;
    double eta_min = 0.0;
};
struct LinearLROptions {
    double start_factor = 0.0;
    double end_factor = 0.0;
    int64_t total_iters = 0;
};

// base_lr · gamma^⌊epoch / step_size⌋.
class StepLR : public OptionsLRScheduler<StepLROptions> {
  public:
    // step_size >= 1, gamma finite (std::invalid_argument otherwise).
    StepLR(OptimizerBase& optimizer, int64_t step_size, double gamma = 0.1);
    int64_t step_size() const { return options_.step_size; }
    double gamma() const { return options_.gamma; }
};

// eta_min + (base_lr − eta_min)·(1 + cos(π·epoch / T_max)) / 2; past T_max it rises again,
// as PyTorch's does.
class CosineAnnealingLR : public OptionsLRScheduler<CosineAnnealingLROptions> {
  public:
    // T_max >= 1, eta_min finite (std::invalid_argument otherwise).
    CosineAnnealingLR(OptimizerBase& optimizer, int64_t T_max, double eta_min = 0.0);
    int64_t T_max() const { return options_.T_max; }
    double eta_min() const { return options_.eta_min; }
};

// The linear warm-up (or decay): base_lr · (start + (end − start)·min(epoch, total_iters) / total_iters).
class LinearLR : public OptionsLRScheduler<LinearLROptions> {
  public:
    // 0 < start_factor <= 1, 0 <= end_factor <= 1 (as PyTorch 2 requires), total_iters >= 1.
    LinearLR(OptimizerBase& optimizer, double start_factor = 1.0 / 3, double end_factor = 1.0, int64_t total_iters = 5);
    double start_factor() const { return options_.start_factor; }
    double end_factor() const { return options_.end_factor; }
    int64_t total_iters() const { return options_.total_iters; }
};

// schedulers[0] until milestones[0], then schedulers[1] restarted from its epoch 0, and so
// on — torch.optim.lr_scheduler.SequentialLR. Typical: warm-up then cosine,
//   SequentialLR(opt, {std::make_shared<LinearLR>(opt, 0.1, 1.0, 5),
//                      std::make_shared<CosineAnnealingLR>(opt, 95)}, {5});
// Its state holds the states of the schedulers in it.
class SequentialLR : public LRScheduler {
  public:
    // Every scheduler must drive `optimizer`; milestones: one fewer than the schedulers,
    // strictly increasing, >= 1 (std::invalid_argument otherwise).
    SequentialLR(OptimizerBase& optimizer, std::vector<std::shared_ptr<LRScheduler>> schedulers,
                 std::vector<int64_t> milestones);
    double lr_from(double base_lr, int64_t epoch) const override;
    std::string type_name() const override { return "SequentialLR"; }
    const std::vector<std::shared_ptr<LRScheduler>>& schedulers() const { return schedulers_; }
    const std::vector<int64_t>& milestones() const { return milestones_; }

  protected:
    void write_options(nlohmann::ordered_json& out) const override;
    void read_options(const nlohmann::ordered_json& in, bool apply, const std::string& who) override;
    void after_step() override;

  private:
    // The scheduler in charge at `epoch`, and the epoch where it started.
    std::pair<size_t, int64_t> active(int64_t epoch) const;

    std::vector<std::shared_ptr<LRScheduler>> schedulers_;
    std::vector<int64_t> milestones_;
};

}  // namespace tapegrad
