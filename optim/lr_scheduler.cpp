// Learning-rate schedulers; see lr_scheduler.hpp.
#include "optim/lr_scheduler.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "framework/format.hpp"
#include "framework/io/fields.hpp"

namespace tapegrad {

using Json = nlohmann::ordered_json;

namespace {

[[noreturn]] void fail(const std::string& who, const std::string& what) {
    throw std::invalid_argument(who + ": " + what);
}

void check_at_least(int64_t v, int64_t low, const char* name, const std::string& who) {
    if (v < low)
        fail(who, std::string("expected ") + name + " >= " + std::to_string(low) + ", but got " + name + "=" +
                      std::to_string(v));
}

void check_finite_non_negative(double v, const char* name, const std::string& who) {
    if (!(std::isfinite(v) && v >= 0.0))
        fail(who, std::string("expected a finite ") + name + " >= 0, but got " + name + "=" + python_number_repr(v));
}

}  // namespace

// --- LRScheduler ----------------------------------------------------------------------------

LRScheduler::LRScheduler(OptimizerBase& optimizer) : optimizer_(&optimizer) {
    for (size_t g = 0; g < optimizer.num_param_groups(); ++g) {
        if (!optimizer.initial_lr(g)) optimizer.set_initial_lr(g, optimizer.lr(g));
        base_lrs_.push_back(*optimizer.initial_lr(g));
    }
    last_lrs_.assign(base_lrs_.size(), 0.0);
}

void LRScheduler::initial_step() {
    last_epoch_ = -1;
    step();
}

double LRScheduler::lr_at(int64_t epoch, size_t group) const {
    check_at_least(epoch, 0, "epoch", type_name() + ".lr_at");
    if (group >= base_lrs_.size())
        throw std::out_of_range(type_name() + ".lr_at: parameter group " + std::to_string(group) +
                                " is out of range (the scheduler drives " + std::to_string(base_lrs_.size()) + ")");
    return lr_from(base_lrs_[group], epoch);
}

void LRScheduler::step() {
    std::vector<double> lrs(base_lrs_.size());
    for (size_t g = 0; g < lrs.size(); ++g) lrs[g] = lr_at(last_epoch_ + 1, g);
    for (size_t g = 0; g < lrs.size(); ++g) optimizer_->set_lr(g, lrs[g]);
    ++last_epoch_;
    last_lrs_ = std::move(lrs);
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
    if (base_lrs_.size() == 1) {
        out["base_lr"] = base_lrs_[0];
        out["last_lr"] = last_lrs_[0];
    } else {
        out["base_lrs"] = base_lrs_;
        out["last_lrs"] = last_lrs_;
    }
    Json options = Json::object();
    write_options(options);
    out["options"] = std::move(options);
}

void LRScheduler::read_json(const Json& in, bool apply, const std::string& who) {
    const fields::Reader reader(who, fields::Wording::state);
    const Json& type = reader.at(in, "type");
    if (type != type_name()) reader.fail("expected the state of a " + type_name() + ", but got " + type.dump());
    const int64_t last_epoch = reader.integer(in, "last_epoch");
    check_at_least(last_epoch, -1, "last_epoch", who);  // -1: a SequentialLR's scheduler not reached yet
    // One number per group: "base_lr" and "last_lr" with one group (the format of every state
    // before groups existed), else arrays "base_lrs" and "last_lrs".
    const auto per_group = [&](const char* one, const char* many) {
        std::vector<double> values;
        if (const Json* array = fields::Reader::find(in, many)) {
            if (!array->is_array() || array->size() != base_lrs_.size())
                fail(who, std::string("expected \"") + many + "\" to be an array of " +
                              std::to_string(base_lrs_.size()) + " numbers, one per parameter group");
            for (const Json& v : *array) {
                if (!v.is_number() || !std::isfinite(v.get<double>()))
                    fail(who, std::string("\"") + many + "\" holds " + fields::describe(v) + ", not a finite number");
                values.push_back(v.get<double>());
            }
        } else {
            if (base_lrs_.size() != 1)
                fail(who, std::string("the state has one \"") + one + "\", but the scheduler drives " +
                              std::to_string(base_lrs_.size()) + " parameter groups");
            values.push_back(reader.finite_number(in, one));
        }
        for (double v : values) check_finite_non_negative(v, one, who);
        return values;
    };
    std::vector<double> base_lrs = per_group("base_lr", "base_lrs");
    std::vector<double> last_lrs = per_group("last_lr", "last_lrs");
    read_options(reader.object(in, "options"), apply, who);
    if (apply) {
        last_epoch_ = last_epoch;
        base_lrs_ = std::move(base_lrs);
        last_lrs_ = std::move(last_lrs);
    }
}

// --- StepLR, CosineAnnealingLR, LinearLR: a Schedule each -----------------------------------

namespace {

// The checks of the options, named for the rule; each throws naming the option and its value.
void at_least_one(int64_t v, const char* name, const std::string& who) { check_at_least(v, 1, name, who); }

void start_factor_rule(double v, const char*, const std::string& who) {
    if (!(v > 0.0 && v <= 1.0))
        fail(who,
             "Starting multiplicative factor expected to be greater than 0 and less or equal to 1, but got "
             "start_factor=" +
                 python_number_repr(v));
}

void end_factor_rule(double v, const char*, const std::string& who) {
    if (!(v >= 0.0 && v <= 1.0))
        fail(who, "Ending multiplicative factor expected to be between 0 and 1, but got end_factor=" +
                      python_number_repr(v));
}

// What a scheduler with options is: its name; the closed form of its lr at an epoch >= 0;
// and its option_fields, each option named once with its check (what its state saves and
// restores, and what the constructor and load_state_dict() check; the numbers are read
// only when finite, as the checks require).
template <typename Options>
struct Schedule;

template <>
struct Schedule<StepLROptions> {
    static constexpr const char* name = "StepLR";
    static double lr(const StepLROptions& o, double base_lr, int64_t epoch) {
        return base_lr * std::pow(o.gamma, double(epoch / o.step_size));
    }
    static constexpr auto option_fields =
        std::tuple{fields::field("step_size", &StepLROptions::step_size, at_least_one),
                   fields::finite_field("gamma", &StepLROptions::gamma, check_finite_non_negative)};
};

template <>
struct Schedule<LinearLROptions> {
    static constexpr const char* name = "LinearLR";
    static double lr(const LinearLROptions& o, double base_lr, int64_t epoch) {
        return base_lr * (o.start_factor + (o.end_factor - o.start_factor) * double(std::min(o.total_iters, epoch)) /
                                               double(o.total_iters));
    }
    static constexpr auto option_fields =
        std::tuple{fields::finite_field("start_factor", &LinearLROptions::start_factor, start_factor_rule),
                   fields::finite_field("end_factor", &LinearLROptions::end_factor, end_factor_rule),
                   fields::field("total_iters", &LinearLROptions::total_iters, at_least_one)};
};

template <>
struct Schedule<CosineAnnealingLROptions> {
    static constexpr const char* name = "CosineAnnealingLR";
    static double lr(const CosineAnnealingLROptions& o, double base_lr, int64_t epoch) {
        // The operations in PyTorch's order: π·epoch, then / T_max.
        return o.eta_min +
               (base_lr - o.eta_min) * (1.0 + std::cos(std::numbers::pi * double(epoch) / double(o.T_max))) / 2.0;
    }
    static constexpr auto option_fields =
        std::tuple{fields::field("T_max", &CosineAnnealingLROptions::T_max, at_least_one),
                   fields::finite_field("eta_min", &CosineAnnealingLROptions::eta_min, check_finite_non_negative)};
};

// The optimizer, once `options` passed the checks: the base constructor changes it.
template <typename Options>
OptimizerBase& validated(OptimizerBase& optimizer, const Options& options) {
    fields::check(options, Schedule<Options>::option_fields, Schedule<Options>::name);
    return optimizer;
}

}  // namespace

template <typename Options>
OptionsLRScheduler<Options>::OptionsLRScheduler(OptimizerBase& optimizer, const Options& options)
    : LRScheduler(validated(optimizer, options)), options_(options) {}

template <typename Options>
std::string OptionsLRScheduler<Options>::type_name() const {
    return Schedule<Options>::name;
}

template <typename Options>
double OptionsLRScheduler<Options>::lr_from(double base_lr, int64_t epoch) const {
    check_at_least(epoch, 0, "epoch", type_name() + ".lr_at");
    return Schedule<Options>::lr(options_, base_lr, epoch);
}

template <typename Options>
void OptionsLRScheduler<Options>::write_options(Json& out) const {
    fields::write(options_, out, Schedule<Options>::option_fields);
}

template <typename Options>
void OptionsLRScheduler<Options>::read_options(const Json& in, bool apply, const std::string& who) {
    Options options;
    fields::read(fields::Reader(who, fields::Wording::state), in, options, Schedule<Options>::option_fields);
    fields::check(options, Schedule<Options>::option_fields, who);
    if (apply) options_ = options;
}

template class OptionsLRScheduler<StepLROptions>;
template class OptionsLRScheduler<CosineAnnealingLROptions>;
template class OptionsLRScheduler<LinearLROptions>;

// PyTorch's initial step comes last: it calls lr_at(), which needs the whole object.
StepLR::StepLR(OptimizerBase& optimizer, int64_t step_size, double gamma)
    : OptionsLRScheduler(optimizer, {.step_size = step_size, .gamma = gamma}) {
    initial_step();
}

CosineAnnealingLR::CosineAnnealingLR(OptimizerBase& optimizer, int64_t T_max, double eta_min)
    : OptionsLRScheduler(optimizer, {.T_max = T_max, .eta_min = eta_min}) {
    initial_step();
}

LinearLR::LinearLR(OptimizerBase& optimizer, double start_factor, double end_factor, int64_t total_iters)
    : OptionsLRScheduler(optimizer,
                         {.start_factor = start_factor, .end_factor = end_factor, .total_iters = total_iters}) {
    initial_step();
}

// --- SequentialLR ---------------------------------------------------------------------------

namespace {

void check_milestones(const std::vector<int64_t>& milestones, size_t schedulers, const std::string& who) {
    if (milestones.size() + 1 != schedulers)
        fail(who, "expected one milestone fewer than schedulers, but got " + std::to_string(schedulers) +
                      " schedulers and " + std::to_string(milestones.size()) + " milestones");
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
        if (schedulers[i]->base_lrs().size() != optimizer.num_param_groups())
            fail(who, "scheduler " + std::to_string(i) + " drives " + std::to_string(schedulers[i]->base_lrs().size()) +
                          " parameter groups, but the optimizer has " + std::to_string(optimizer.num_param_groups()));
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

double SequentialLR::lr_from(double base_lr, int64_t epoch) const {
    check_at_least(epoch, 0, "epoch", "SequentialLR.lr_at");
    const auto [i, start] = active(epoch);
    return schedulers_[i]->lr_from(base_lr, epoch - start);
}

void SequentialLR::after_step() {
    const auto [i, start] = active(last_epoch());
    schedulers_[i]->last_epoch_ = last_epoch() - start;
    schedulers_[i]->last_lrs_ = get_last_lrs();
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
    const fields::Reader reader(who, fields::Wording::state);
    const Json& milestones_json = reader.at(in, "milestones");
    if (!milestones_json.is_array() || !std::all_of(milestones_json.begin(), milestones_json.end(),
                                                    [](const Json& m) { return m.is_number_integer(); }))
        fail(who, "\"milestones\" is not an array of integers");
    const auto milestones = milestones_json.get<std::vector<int64_t>>();
    check_milestones(milestones, schedulers_.size(), who);
    const Json& states = reader.at(in, "schedulers");
    if (!states.is_array() || states.size() != schedulers_.size())
        fail(who, "expected the states of " + std::to_string(schedulers_.size()) + " schedulers");
    for (size_t i = 0; i < schedulers_.size(); ++i)
        schedulers_[i]->read_json(states[i], apply, who + ": schedulers[" + std::to_string(i) + "]");
    if (apply) milestones_ = milestones;
}

}  // namespace tapegrad
