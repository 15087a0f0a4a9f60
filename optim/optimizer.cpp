// Optimizer base: parameter groups and their checks, the learning rates, and the state that
// every optimizer shares (groups, options, per-parameter buffers); see optimizer.hpp.
#include "optim/optimizer.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "framework/format.hpp"
#include "framework/io/fields.hpp"

namespace tapegrad {

using Json = nlohmann::ordered_json;

namespace {

void check_lr(double lr, const std::string& who) {
    if (!(std::isfinite(lr) && lr >= 0.0))
        throw std::invalid_argument(who + ": invalid learning rate: lr=" + python_number_repr(lr) +
                                    " (expected a finite lr >= 0)");
}

// "<name>.<i>" → (the index of name in `names`, i), or nullopt for any other text: i in
// decimal without leading zeros.
std::optional<std::pair<size_t, size_t>> parse_buffer_key(const std::string& key,
                                                          const std::vector<std::string>& names) {
    const size_t dot = key.rfind('.');
    if (dot == std::string::npos) return std::nullopt;
    const auto name = std::find(names.begin(), names.end(), key.substr(0, dot));
    const std::string digits = key.substr(dot + 1);
    if (name == names.end() || digits.empty() || digits.size() > 18 ||
        digits.find_first_not_of("0123456789") != std::string::npos)
        return std::nullopt;
    const int64_t i = std::stoll(digits);
    if (std::to_string(i) != digits) return std::nullopt;  // no leading zeros
    return std::pair{size_t(name - names.begin()), size_t(i)};
}

// "a", "a or b", "a, b or c".
std::string one_of(const std::vector<std::string>& names) {
    std::string text;
    for (size_t i = 0; i < names.size(); ++i)
        text += (i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") + names[i];
    return text;
}

}  // namespace

// --- OptimizerBase ----------------------------------------------------------------------------

OptimizerBase::GroupRates& OptimizerBase::rates(size_t group, const char* who) {
    if (group >= rates_.size())
        throw std::out_of_range(std::string(who) + ": parameter group " + std::to_string(group) +
                                " is out of range (the optimizer has " + std::to_string(rates_.size()) + ")");
    return rates_[group];
}

const OptimizerBase::GroupRates& OptimizerBase::rates(size_t group, const char* who) const {
    return const_cast<OptimizerBase*>(this)->rates(group, who);
}

double OptimizerBase::lr(size_t group) const { return rates(group, "lr").lr; }

std::optional<double> OptimizerBase::initial_lr(size_t group) const { return rates(group, "initial_lr").initial_lr; }

void OptimizerBase::set_lr(double lr) {
    check_lr(lr, "set_lr");
    for (auto& r : rates_) r.lr = lr;
}

void OptimizerBase::set_lr(size_t group, double lr) {
    GroupRates& r = rates(group, "set_lr");
    check_lr(lr, "set_lr");
    r.lr = lr;
}

void OptimizerBase::set_initial_lr(size_t group, double lr) {
    GroupRates& r = rates(group, "set_initial_lr");
    check_lr(lr, "set_initial_lr");
    r.initial_lr = lr;
}

// --- BasicOptimizer ---------------------------------------------------------------------------

template <typename T>
BasicOptimizer<T>::BasicOptimizer(std::vector<BasicTensor<T>> params, double lr, std::vector<std::string> buffer_names,
                                  const std::string& who)
    : buffer_names_(std::move(buffer_names)), buffers_(buffer_names_.size()) {
    add_group(std::move(params), lr, who);
}

template <typename T>
void BasicOptimizer<T>::check_new_params(const std::vector<BasicTensor<T>>& params, const std::string& who) const {
    if (params.empty()) throw std::invalid_argument(who + ": optimizer got an empty parameter list");
    const size_t first = params_.size();  // parameter numbers continue over the groups
    for (size_t i = 0; i < params.size(); ++i) {
        const std::string which = who + ": parameter " + std::to_string(first + i);
        if (!params[i].defined()) throw std::invalid_argument(which + " is an undefined tensor");
        if (!params[i].is_leaf())
            throw std::invalid_argument(which + " is not a leaf (the output of a recorded op) and can't be optimized");
        const auto same = [&](const BasicTensor<T>& p) { return p.id() == params[i].id(); };
        const auto earlier = std::find_if(params_.begin(), params_.end(), same);
        if (earlier != params_.end())
            throw std::invalid_argument(
                which + " is the same tensor as parameter " + std::to_string(earlier - params_.begin()) +
                " of an earlier group; some parameters appear in more than one parameter group");
        const auto before = std::find_if(params.begin(), params.begin() + int64_t(i), same);
        if (before != params.begin() + int64_t(i))
            throw std::invalid_argument(which + " is the same tensor as parameter " +
                                        std::to_string(first + size_t(before - params.begin())) +
                                        "; list each parameter once");
    }
}

template <typename T>
void BasicOptimizer<T>::add_group(std::vector<BasicTensor<T>> params, double lr, const std::string& who) {
    check_new_params(params, who);
    params_.insert(params_.end(), params.begin(), params.end());
    group_ends_.push_back(params_.size());
    rates_.push_back({.lr = lr, .initial_lr = std::nullopt});
    for (auto& b : buffers_) b.resize(params_.size());
}

template <typename T>
const Json& BasicOptimizer<T>::group_state(const Json& m, size_t group) {
    const Json* groups = fields::Reader::find(m, "param_groups");
    return groups ? groups->at(group) : m;
}

template <typename T>
std::span<const BasicTensor<T>> BasicOptimizer<T>::param_group(size_t group) const {
    rates(group, "param_group");
    return std::span<const BasicTensor<T>>(params_).subspan(group_begin(group), group_end(group) - group_begin(group));
}

template <typename T>
void BasicOptimizer<T>::zero_grad() {
    for (const auto& p : params_) p.zero_grad();
}

template <typename T>
StateDict BasicOptimizer<T>::state_dict() const {
    StateDict out;
    Json& m = out.metadata();
    m["type"] = type_name();
    m["dtype"] = dtype_name<T>();
    Json shapes = Json::array();
    for (const auto& p : params_) shapes.push_back(p.shape());
    m["param_shapes"] = std::move(shapes);
    m["step_count"] = step_count_;
    const auto write_group = [&](size_t g, Json& into) {
        into["lr"] = rates_[g].lr;
        into["initial_lr"] = rates_[g].initial_lr ? Json(*rates_[g].initial_lr) : Json(nullptr);
        Json options = Json::object();
        write_group_options(g, options);
        into["options"] = std::move(options);
    };
    if (rates_.size() == 1) {
        write_group(0, m);
    } else {
        Json groups = Json::array();
        for (size_t g = 0; g < rates_.size(); ++g) {
            Json group = {{"num_params", group_end(g) - group_begin(g)}};
            write_group(g, group);
            groups.push_back(std::move(group));
        }
        m["param_groups"] = std::move(groups);
    }
    write_extra_state(m);
    for (size_t b = 0; b < buffers_.size(); ++b)
        for (size_t i = 0; i < params_.size(); ++i)
            if (buffers_[b][i].defined()) out.add(buffer_names_[b] + "." + std::to_string(i), buffers_[b][i].clone());
    return out;
}

template <typename T>
void BasicOptimizer<T>::load_state_dict(const StateDict& state) {
    const std::string who = type_name() + ".load_state_dict";
    const fields::Reader reader(who, fields::Wording::state);
    const Json& m = state.metadata();
    const Json& type = reader.at(m, "type");
    if (type != type_name()) reader.fail("expected the state of a " + type_name() + ", but got " + type.dump());
    const Json& dtype = reader.at(m, "dtype");
    if (dtype != dtype_name<T>())
        reader.fail(std::string("expected a ") + dtype_name<T>() + " state, but got " + dtype.dump());

    const Json& shapes = reader.at(m, "param_shapes");
    if (!shapes.is_array()) reader.fail("\"param_shapes\" is not an array");
    if (shapes.size() != params_.size())
        reader.fail("the state is for " + std::to_string(shapes.size()) + " parameters, but this optimizer has " +
                    std::to_string(params_.size()));
    for (size_t i = 0; i < params_.size(); ++i) {
        const bool valid = shapes[i].is_array() && std::all_of(shapes[i].begin(), shapes[i].end(),
                                                               [](const Json& e) { return e.is_number_integer(); });
        if (!valid || shapes[i].get<Shape>() != params_[i].shape())
            reader.fail("parameter " + std::to_string(i) + " has shape " + to_string(params_[i].shape()) +
                        ", but the state's has " + shapes[i].dump());
    }
    const Json& step_count = reader.at(m, "step_count");
    if (!step_count.is_number_integer() || step_count.get<int64_t>() < 0) reader.fail("\"step_count\" is not a count");

    // The groups: the one-group form keeps lr, initial_lr and options at the top (the format
    // of every state before groups existed), the other lists them.
    std::vector<const Json*> group_states;
    if (const Json* groups = fields::Reader::find(m, "param_groups")) {
        if (!groups->is_array()) reader.fail("\"param_groups\" is not an array");
        if (groups->size() != rates_.size())
            reader.fail("the state has " + std::to_string(groups->size()) +
                        " parameter groups, but this optimizer has " + std::to_string(rates_.size()));
        for (const Json& g : *groups) group_states.push_back(&g);
    } else {
        if (rates_.size() != 1)
            reader.fail("the state has 1 parameter group, but this optimizer has " + std::to_string(rates_.size()));
        group_states.push_back(&m);
    }
    std::vector<GroupRates> rates(rates_.size());
    for (size_t g = 0; g < rates_.size(); ++g) {
        const Json& in = *group_states[g];
        const std::string group_who = rates_.size() == 1 ? who : who + ": param_groups[" + std::to_string(g) + "]";
        const fields::Reader group_reader(group_who, fields::Wording::state);
        if (group_states[g] != &m) {
            const int64_t count = group_reader.integer(in, "num_params");
            if (count != int64_t(group_end(g) - group_begin(g)))
                group_reader.fail("the group has " + std::to_string(count) + " parameters, but this optimizer's has " +
                                  std::to_string(group_end(g) - group_begin(g)));
        }
        rates[g].lr = group_reader.number(in, "lr");
        check_lr(rates[g].lr, group_who);
        const Json& initial_lr = group_reader.at(in, "initial_lr");
        if (!initial_lr.is_null()) {
            if (!initial_lr.is_number()) group_reader.fail("\"initial_lr\" is neither a number nor null");
            check_lr(initial_lr.get<double>(), group_who);
            rates[g].initial_lr = initial_lr.get<double>();
        }
        read_group_options(g, in, rates[g].lr, false, group_who);
    }

    // The buffers: known names, parameters that exist, the parameters' dtype and shapes.
    std::vector<std::vector<bool>> held(buffers_.size(), std::vector<bool>(params_.size(), false));
    for (const auto& [name, value] : state.entries()) {
        const auto key = parse_buffer_key(name, buffer_names_);
        if (!key || key->second >= params_.size()) {
            std::string expected = buffer_names_.empty() ? "no tensors"
                                                         : one_of(buffer_names_) + ", each followed by .0 to ." +
                                                               std::to_string(params_.size() - 1);
            if (buffer_names_.size() == 1)
                expected = buffer_names_[0] + ".0 to " + buffer_names_[0] + "." + std::to_string(params_.size() - 1);
            throw std::invalid_argument(who + ": unexpected tensor \"" + name + "\" in the state (expected " +
                                        expected + ")");
        }
        const auto [b, i] = *key;
        if (state.dtype(name) != dtype_name<T>())
            throw std::invalid_argument(who + ": \"" + name + "\" is " + state.dtype(name) + ", expected " +
                                        dtype_name<T>());
        const BasicTensor<T> buffer = state.get<T>(name);
        if (buffer.shape() != params_[i].shape())
            throw std::invalid_argument(who + ": size mismatch for \"" + name + "\": the state's has shape " +
                                        to_string(buffer.shape()) + ", parameter " + std::to_string(i) + " has shape " +
                                        to_string(params_[i].shape()));
        held[b][i] = true;
    }
    check_extra_state(m, held, who);

    // Everything passed: apply.
    step_count_ = step_count.get<int64_t>();
    for (size_t g = 0; g < rates_.size(); ++g)
        read_group_options(g, *group_states[g], rates[g].lr, true, who);
    rates_ = std::move(rates);
    for (auto& b : buffers_) std::fill(b.begin(), b.end(), BasicTensor<T>());
    for (const auto& [name, value] : state.entries()) {
        const auto [b, i] = *parse_buffer_key(name, buffer_names_);
        buffers_[b][i] = state.get<T>(name).clone();
    }
    apply_extra_state(m);
}

template class BasicOptimizer<float>;
template class BasicOptimizer<double>;

}  // namespace tapegrad
