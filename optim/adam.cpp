// Adam and AdamW: the options, the step (the element-wise update is the kernel
// framework/kernels/adam.cpp) and the per-parameter step counts of the state; see adam.hpp.
#include "optim/adam.hpp"

#include <cmath>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "framework/format.hpp"
#include "framework/io/fields.hpp"
#include "framework/kernels/adam.hpp"
#include "optim/options_optimizer_impl.hpp"

namespace tapegrad {

using Json = nlohmann::ordered_json;

// What Adam's and AdamW's options are: the checks of their __init__ in PyTorch's order and
// words (tapegrad also refuses values that are not finite), and the options a state saves.
template <AdamWeightDecay Decay>
struct OptimizerOptions<AdamOptionsFor<Decay>> {
    using Options = AdamOptionsFor<Decay>;

    static std::string name() { return Decay == AdamWeightDecay::decoupled ? "AdamW" : "Adam"; }

    static void check(const Options& o, const std::string& who) {
        // PyTorch's test is `0.0 <= value` (betas: `0.0 <= beta < 1.0`), which NaN fails too.
        const auto at_least_zero = [&](double v, const std::string& what) {
            if (!(v >= 0.0)) throw std::invalid_argument(who + ": Invalid " + what + ": " + python_float_repr(v));
            if (std::isinf(v))
                throw std::invalid_argument(who + ": Invalid " + what + ": " + python_float_repr(v) +
                                            " (expected a finite value)");
        };
        at_least_zero(o.lr, "learning rate");
        at_least_zero(o.eps, "epsilon value");
        for (size_t i = 0; i < 2; ++i)
            if (!(o.betas[i] >= 0.0 && o.betas[i] < 1.0))
                throw std::invalid_argument(who + ": Invalid beta parameter at index " + std::to_string(i) + ": " +
                                            python_float_repr(o.betas[i]));
        at_least_zero(o.weight_decay, "weight_decay value");
    }

    static constexpr auto option_fields = std::tuple{
        fields::field("eps", &Options::eps),
        fields::field("weight_decay", &Options::weight_decay),
        fields::field("amsgrad", &Options::amsgrad),
        fields::field("maximize", &Options::maximize),
    };

    static void write(const Options& o, Json& out) {
        out["betas"] = o.betas;
        fields::write(o, out, option_fields);
    }

    static void read(const fields::Reader& reader, const Json& in, Options& o) {
        const Json* betas = fields::Reader::find(in, "betas");
        if (!betas || !betas->is_array() || betas->size() != 2 || !(*betas)[0].is_number() || !(*betas)[1].is_number())
            reader.fail("options.betas is missing or not an array of two numbers");
        Options read = o;
        read.betas = {(*betas)[0].get<double>(), (*betas)[1].get<double>()};
        fields::read(reader, in, read, option_fields);
        o = read;
    }
};

template <typename T, AdamWeightDecay Decay>
BasicAdamFor<T, Decay>::BasicAdamFor(std::vector<BasicTensor<T>> params, const Options& options)
    : BasicOptionsOptimizer<T, Options>(std::move(params), options, {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"}) {}

template <typename T, AdamWeightDecay Decay>
int64_t BasicAdamFor<T, Decay>::param_step(size_t i) const {
    if (i >= this->params_.size())
        throw std::out_of_range(this->type_name() + ".param_step: parameter " + std::to_string(i) +
                                " is out of range (there are " + std::to_string(this->params_.size()) + ")");
    return i < steps_.size() ? steps_[i] : 0;  // a group added since the last step has taken none
}

template <typename T, AdamWeightDecay Decay>
void BasicAdamFor<T, Decay>::step() {
    steps_.resize(this->params_.size(), 0);
    for (size_t group = 0; group < this->num_param_groups(); ++group) {
        const Options& o = this->options_[group];
        kernels::AdamStep s{.lr = this->lr(group),
                            .beta1 = o.betas[0],
                            .beta2 = o.betas[1],
                            .eps = o.eps,
                            .weight_decay = o.weight_decay,
                            .amsgrad = o.amsgrad,
                            .maximize = o.maximize,
                            .decoupled = Decay == AdamWeightDecay::decoupled};
        for (size_t k = this->group_begin(group); k < this->group_end(group); ++k) {
            BasicTensor<T>& param = this->params_[k];
            const BasicTensor<T> grad = param.grad();
            if (!grad.defined()) continue;
            BasicTensor<T>& exp_avg = this->buffers(0)[k];
            BasicTensor<T>& exp_avg_sq = this->buffers(1)[k];
            BasicTensor<T>& max_exp_avg_sq = this->buffers(2)[k];
            if (!exp_avg.defined()) {  // the parameter's first step: PyTorch's lazy state
                exp_avg = zeros<T>(param.shape());
                exp_avg_sq = zeros<T>(param.shape());
            }
            if (o.amsgrad && !max_exp_avg_sq.defined()) max_exp_avg_sq = zeros<T>(param.shape());
            s.step = ++steps_[k];
            kernels::adam_update(param.data(), exp_avg.data(), exp_avg_sq.data(),
                                 o.amsgrad ? max_exp_avg_sq.data() : nullptr, grad.data(), param.numel(), s);
        }
    }
    ++this->step_count_;
}

template <typename T, AdamWeightDecay Decay>
void BasicAdamFor<T, Decay>::write_extra_state(Json& out) const {
    std::vector<int64_t> steps(this->params_.size());
    for (size_t i = 0; i < steps.size(); ++i) steps[i] = param_step(i);
    out["param_steps"] = steps;
}

// A parameter has exp_avg and exp_avg_sq exactly when it has taken a step, and
// max_exp_avg_sq too when its group has amsgrad (what PyTorch's lazy state makes).
template <typename T, AdamWeightDecay Decay>
void BasicAdamFor<T, Decay>::check_extra_state(const Json& in, const std::vector<std::vector<bool>>& held,
                                               const std::string& who) const {
    const fields::Reader reader(who, fields::Wording::state);
    const Json& steps = reader.at(in, "param_steps");
    if (!steps.is_array() || steps.size() != this->params_.size())
        reader.fail("\"param_steps\" is not an array of " + std::to_string(this->params_.size()) + " step counts");
    for (size_t group = 0; group < this->num_param_groups(); ++group) {
        const bool amsgrad = this->group_state(in, group).at("options").at("amsgrad").template get<bool>();
        for (size_t i = this->group_begin(group); i < this->group_end(group); ++i) {
            const std::string index = std::to_string(i);
            if (!steps[i].is_number_integer() || steps[i].template get<int64_t>() < 0)
                reader.fail("\"param_steps\" holds " + fields::describe(steps[i]) + " for parameter " + index +
                            ", not a count");
            const bool stepped = steps[i].template get<int64_t>() > 0;
            const bool max_expected = stepped && amsgrad;
            for (const auto& [b, name, expected] :
                 {std::tuple{size_t(0), "exp_avg", stepped}, std::tuple{size_t(1), "exp_avg_sq", stepped},
                  std::tuple{size_t(2), "max_exp_avg_sq", max_expected}}) {
                if (held[b][i] == expected) continue;
                if (expected)
                    reader.fail("parameter " + index + " has taken " +
                                std::to_string(steps[i].template get<int64_t>()) + " steps, but the state has no \"" +
                                name + "." + index + "\"" + (b == 2 ? " (amsgrad is on)" : ""));
                reader.fail(std::string("unexpected tensor \"") + name + "." + index + "\" in the state: parameter " +
                            index + (stepped ? "'s group has amsgrad off" : " has taken no step"));
            }
        }
    }
}

template <typename T, AdamWeightDecay Decay>
void BasicAdamFor<T, Decay>::apply_extra_state(const Json& in) {
    steps_ = in.at("param_steps").get<std::vector<int64_t>>();
}

template class BasicOptionsOptimizer<float, AdamOptions>;
template class BasicOptionsOptimizer<double, AdamOptions>;
template class BasicOptionsOptimizer<float, AdamWOptions>;
template class BasicOptionsOptimizer<double, AdamWOptions>;
template class BasicAdamFor<float, AdamWeightDecay::l2>;
template class BasicAdamFor<double, AdamWeightDecay::l2>;
template class BasicAdamFor<float, AdamWeightDecay::decoupled>;
template class BasicAdamFor<double, AdamWeightDecay::decoupled>;

}  // namespace tapegrad
