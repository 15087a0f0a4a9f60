// Optimizer base: parameter checks, the learning rate, and the common part of the state;
// see optimizer.hpp.
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

}  // namespace

void OptimizerBase::set_lr(double lr) {
    check_lr(lr, "set_lr");
    lr_ = lr;
}

void OptimizerBase::set_initial_lr(double lr) {
    check_lr(lr, "set_initial_lr");
    initial_lr_ = lr;
}

template <typename T>
BasicOptimizer<T>::BasicOptimizer(std::vector<BasicTensor<T>> params, double lr, const std::string& who)
    : params_(std::move(params)) {
    check_lr(lr, who);
    lr_ = lr;
    if (params_.empty()) throw std::invalid_argument(who + ": optimizer got an empty parameter list");
    for (size_t i = 0; i < params_.size(); ++i) {
        const std::string which = who + ": parameter " + std::to_string(i);
        if (!params_[i].defined()) throw std::invalid_argument(which + " is an undefined tensor");
        if (!params_[i].is_leaf())
            throw std::invalid_argument(which + " is not a leaf (the output of a recorded op) and can't be optimized");
        for (size_t j = 0; j < i; ++j)
            if (params_[j].id() == params_[i].id())
                throw std::invalid_argument(which + " is the same tensor as parameter " + std::to_string(j) +
                                            "; list each parameter once");
    }
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
    m["lr"] = lr_;
    m["initial_lr"] = initial_lr_ ? Json(*initial_lr_) : Json(nullptr);
    write_state(out);
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
    if (dtype != dtype_name<T>()) reader.fail(std::string("expected a ") + dtype_name<T>() + " state, but got " + dtype.dump());

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
    const double lr = reader.number(m, "lr");
    check_lr(lr, who);
    const Json& initial_lr = reader.at(m, "initial_lr");
    if (!initial_lr.is_null()) {
        if (!initial_lr.is_number()) reader.fail("\"initial_lr\" is neither a number nor null");
        check_lr(initial_lr.get<double>(), who);
    }
    check_state(state);

    step_count_ = step_count.get<int64_t>();
    lr_ = lr;
    initial_lr_ = initial_lr.is_null() ? std::nullopt : std::optional<double>(initial_lr.get<double>());
    apply_state(state);
}

template class BasicOptimizer<float>;
template class BasicOptimizer<double>;

}  // namespace tapegrad
