// Learning-rate schedulers; see lr_scheduler.hpp.
#include "optim/lr_scheduler.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace tapegrad {

using Json = nlohmann::ordered_json;

namespace {

[[noreturn]] void fail(const std::string& who, const std::string& what) { throw std::invalid_argument(who + ": " + what); }

const Json& field(const Json& j, const char* key, const std::string& who) {
    if (!j.is_object() || !j.contains(key)) fail(who, std::string("the state has no \"") + key + "\"");
    return j.at(key);
}

double number_field(const Json& j, const char* key, const std::string& who) {
    const Json& v = field(j, key, who);
    if (!v.is_number() || !std::isfinite(v.get<double>())) fail(who, std::string("\"") + key + "\" is not a finite number");
    return v.get<double>();
}

int64_t int_field(const Json& j, const char* key, const std::string& who) {
    const Json& v = field(j, key, who);
    if (!v.is_number_integer() || (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX)))
        fail(who, std::string("\"") + key + "\" is not an integer");
    return v.get<int64_t>();
}

void check_at_least(int64_t v, int64_t low, const char* name, const std::string& who) {
    if (v < low) fail(who, std::string("expected ") + name + " >= " + std::to_string(low) + ", but got " + name + "=" + std::to_string(v));
}

void check_finite_non_negative(double v, const char* name, const std::string& who) {
    if (!(std::isfinite(v) && v >= 0.0))
        fail(who, std::string("expected a finite ") + name + " >= 0, but got " + name + "=" + detail::number_text(v));
}

void check_linear_factors(double start, double end, int64_t total_iters, const std::string& who) {
    if (!(start > 0.0 && start <= 1.0))
        fail(who, "Starting multiplicative factor expected to be greater than 0 and less or equal to 1, but got start_factor=" +
                      detail::number_text(start));
    if (!(end >= 0.0 && end <= 1.0))
        fail(who, "Ending multiplicative factor expected to be between 0 and 1, but got end_factor=" + detail::number_text(end));
    check_at_least(total_iters, 1, "total_iters", who);
}

}  // namespace

// --- LRScheduler ----------------------------------------------------------------------------

LRScheduler::LRScheduler(OptimizerBase& optimizer) : optimizer_(&optimizer) {
    if (!optimizer.initial_lr()) optimizer.set_initial_lr(optimizer.lr());
    base_lr_ = *optimizer.initial_lr();
}

void LRScheduler::initial_step() {
    last_epoch_ = -1;
    step();
}

void LRScheduler::step() {
    const double lr = lr_at(last_epoch_ + 1);
    optimizer_->set_lr(lr);
    ++last_epoch_;
    last_lr_ = lr;
    after_step();
}

StateDict LRScheduler::state_dict() const {
    StateDict out;
    write_json(out.metadata());
    return out;
}

void LRScheduler::load_state_dict(const StateDict& state) {
    const std::string who = type_name() + ".load_state_dict";
    if (!state.empty()) fail(who, "unexpected tensor \"" + state.entries().front().first + "\" in a scheduler state");
    read_json(state.metadata(), false, who);
    read_json(state.metadata(), true, who);
}

void LRScheduler::write_json(Json& out) const {
    out = Json::object();
    out["type"] = type_name();
    out["last_epoch"] = last_epoch_;
    out["base_lr"] = base_lr_;
    out["last_lr"] = last_lr_;
    Json options = Json::object();
    write_options(options);
    out["options"] = std::move(options);
}

void LRScheduler::read_json(const Json& in, bool apply, const std::string& who) {
    const Json& type = field(in, "type", who);
    if (type != type_name()) fail(who, "expected the state of a " + type_name() + ", but got " + type.dump());
    const int64_t last_epoch = int_field(in, "last_epoch", who);
    check_at_least(last_epoch, -1, "last_epoch", who);  // -1: a SequentialLR's scheduler not reached yet
    const double base_lr = number_field(in, "base_lr", who);
    check_finite_non_negative(base_lr, "base_lr", who);
    const double last_lr = number_field(in, "last_lr", who);
    check_finite_non_negative(last_lr, "last_lr", who);
    const Json& options = field(in, "options", who);
    if (!options.is_object()) fail(who, "\"options\" is not an object");
    read_options(options, apply, who);
    if (apply) {
        last_epoch_ = last_epoch;
        base_lr_ = base_lr;
        last_lr_ = last_lr;
    }
}

// --- StepLR ---------------------------------------------------------------------------------

namespace {
OptimizerBase& checked_step(OptimizerBase& optimizer, int64_t step_size, double gamma, const std::string& who) {
    check_at_least(step_size, 1, "step_size", who);
    check_finite_non_negative(gamma, "gamma", who);
    return optimizer;
}
}  // namespace

StepLR::StepLR(OptimizerBase& optimizer, int64_t step_size, double gamma)
    : LRScheduler(checked_step(optimizer, step_size, gamma, "StepLR")), step_size_(step_size), gamma_(gamma) {
    initial_step();
}

double StepLR::lr_at(int64_t epoch) const {
    check_at_least(epoch, 0, "epoch", "StepLR.lr_at");
    return base_lr() * std::pow(gamma_, double(epoch / step_size_));
}

void StepLR::write_options(Json& out) const {
    out["step_size"] = step_size_;
    out["gamma"] = gamma_;
}

void StepLR::read_options(const Json& in, bool apply, const std::string& who) {
    const int64_t step_size = int_field(in, "step_size", who);
    const double gamma = number_field(in, "gamma", who);
    checked_step(optimizer(), step_size, gamma, who);
    if (apply) {
        step_size_ = step_size;
        gamma_ = gamma;
    }
}

// --- CosineAnnealingLR ----------------------------------------------------------------------

namespace {
OptimizerBase& checked_cosine(OptimizerBase& optimizer, int64_t T_max, double eta_min, const std::string& who) {
    check_at_least(T_max, 1, "T_max", who);
    check_finite_non_negative(eta_min, "eta_min", who);
    return optimizer;
}
}  // namespace

CosineAnnealingLR::CosineAnnealingLR(OptimizerBase& optimizer, int64_t T_max, double eta_min)
    : LRScheduler(checked_cosine(optimizer, T_max, eta_min, "CosineAnnealingLR")), T_max_(T_max), eta_min_(eta_min) {
    initial_step();
}

double CosineAnnealingLR::lr_at(int64_t epoch) const {
    check_at_least(epoch, 0, "epoch", "CosineAnnealingLR.lr_at");
    // The operations in PyTorch's order: π·epoch, then / T_max.
    return eta_min_ + (base_lr() - eta_min_) * (1.0 + std::cos(std::numbers::pi * double(epoch) / double(T_max_))) / 2.0;
}

void CosineAnnealingLR::write_options(Json& out) const {
    out["T_max"] = T_max_;
    out["eta_min"] = eta_min_;
}

void CosineAnnealingLR::read_options(const Json& in, bool apply, const std::string& who) {
    const int64_t T_max = int_field(in, "T_max", who);
    const double eta_min = number_field(in, "eta_min", who);
    checked_cosine(optimizer(), T_max, eta_min, who);
    if (apply) {
        T_max_ = T_max;
        eta_min_ = eta_min;
    }
}

// --- LinearLR -------------------------------------------------------------------------------

namespace {
OptimizerBase& checked_linear(OptimizerBase& optimizer, double start, double end, int64_t total_iters, const std::string& who) {
    check_linear_factors(start, end, total_iters, who);
    return optimizer;
}
}  // namespace

LinearLR::LinearLR(OptimizerBase& optimizer, double start_factor, double end_factor, int64_t total_iters)
    : LRScheduler(checked_linear(optimizer, start_factor, end_factor, total_iters, "LinearLR")),
      start_factor_(start_factor),
      end_factor_(end_factor),
      total_iters_(total_iters) {
    initial_step();
}

double LinearLR::lr_at(int64_t epoch) const {
    check_at_least(epoch, 0, "epoch", "LinearLR.lr_at");
    return base_lr() * (start_factor_ + (end_factor_ - start_factor_) * double(std::min(total_iters_, epoch)) / double(total_iters_));
}

void LinearLR::write_options(Json& out) const {
    out["start_factor"] = start_factor_;
    out["end_factor"] = end_factor_;
    out["total_iters"] = total_iters_;
}

void LinearLR::read_options(const Json& in, bool apply, const std::string& who) {
    const double start = number_field(in, "start_factor", who);
    const double end = number_field(in, "end_factor", who);
    const int64_t total_iters = int_field(in, "total_iters", who);
    check_linear_factors(start, end, total_iters, who);
    if (apply) {
        start_factor_ = start;
        end_factor_ = end;
        total_iters_ = total_iters;
    }
}

// --- SequentialLR ---------------------------------------------------------------------------

namespace {

void check_milestones(const std::vector<int64_t>& milestones, size_t schedulers, const std::string& who) {
    if (milestones.size() + 1 != schedulers)
        fail(who, "expected one milestone fewer than schedulers, but got " + std::to_string(schedulers) + " schedulers and " +
                      std::to_string(milestones.size()) + " milestones");
    for (size_t i = 0; i < milestones.size(); ++i) {
        if (milestones[i] < 1 || (i > 0 && milestones[i] <= milestones[i - 1]))
            fail(who, "expected strictly increasing milestones >= 1, but got milestones[" + std::to_string(i) +
                          "]=" + std::to_string(milestones[i]));
    }
}

OptimizerBase& checked_sequence(OptimizerBase& optimizer, const std::vector<std::shared_ptr<LRScheduler>>& schedulers,
                                const std::vector<int64_t>& milestones) {
    const std::string who = "SequentialLR";
    if (schedulers.empty()) fail(who, "expected at least one scheduler");
    for (size_t i = 0; i < schedulers.size(); ++i) {
        if (!schedulers[i]) fail(who, "scheduler " + std::to_string(i) + " is null");
        if (&schedulers[i]->optimizer() != &optimizer)
            fail(who, "expects all schedulers to belong to the same optimizer, but got scheduler " + std::to_string(i) +
                          " with a different optimizer");
    }
    check_milestones(milestones, schedulers.size(), who);
    return optimizer;
}

}  // namespace

SequentialLR::SequentialLR(OptimizerBase& optimizer, std::vector<std::shared_ptr<LRScheduler>> schedulers,
                           std::vector<int64_t> milestones)
    : LRScheduler(checked_sequence(optimizer, schedulers, milestones)),
      schedulers_(std::move(schedulers)),
      milestones_(std::move(milestones)) {
    // As PyTorch: undo the constructors' steps of the schedulers, then start the first one.
    for (const auto& s : schedulers_) s->last_epoch_ = -1;
    initial_step();
}

std::pair<size_t, int64_t> SequentialLR::active(int64_t epoch) const {
    const size_t i = size_t(std::upper_bound(milestones_.begin(), milestones_.end(), epoch) - milestones_.begin());
    return {i, i == 0 ? 0 : milestones_[i - 1]};
}

double SequentialLR::lr_at(int64_t epoch) const {
    check_at_least(epoch, 0, "epoch", "SequentialLR.lr_at");
    const auto [i, start] = active(epoch);
    return schedulers_[i]->lr_at(epoch - start);
}

void SequentialLR::after_step() {
    const auto [i, start] = active(last_epoch());
    schedulers_[i]->last_epoch_ = last_epoch() - start;
    schedulers_[i]->last_lr_ = get_last_lr();
}

void SequentialLR::write_options(Json& out) const {
    out["milestones"] = milestones_;
    Json states = Json::array();
    for (const auto& s : schedulers_) {
        Json state;
        s->write_json(state);
        states.push_back(std::move(state));
    }
    out["schedulers"] = std::move(states);
}

void SequentialLR::read_options(const Json& in, bool apply, const std::string& who) {
    const Json& milestones_json = field(in, "milestones", who);
    if (!milestones_json.is_array() ||
        !std::all_of(milestones_json.begin(), milestones_json.end(), [](const Json& m) { return m.is_number_integer(); }))
        fail(who, "\"milestones\" is not an array of integers");
    const auto milestones = milestones_json.get<std::vector<int64_t>>();
    check_milestones(milestones, schedulers_.size(), who);
    const Json& states = field(in, "schedulers", who);
    if (!states.is_array() || states.size() != schedulers_.size())
        fail(who, "expected the states of " + std::to_string(schedulers_.size()) + " schedulers");
    for (size_t i = 0; i < schedulers_.size(); ++i)
        schedulers_[i]->read_json(states[i], apply, who + ": schedulers[" + std::to_string(i) + "]");
    if (apply) milestones_ = milestones;
}

}  // namespace tapegrad
