// SGD: the update and its state; see sgd.hpp.
#include "optim/sgd.hpp"

#include <cmath>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "framework/format.hpp"
#include "framework/io/fields.hpp"
#include "framework/kernels/parallel.hpp"

namespace tapegrad {

using Json = nlohmann::ordered_json;

namespace {

// The checks of torch.optim.SGD.__init__, plus finiteness; the lr is checked by the base.
const SGDOptions& validate(const SGDOptions& o, const std::string& who) {
    if (!(std::isfinite(o.lr) && o.lr >= 0.0))
        throw std::invalid_argument(who + ": invalid learning rate: lr=" + python_number_repr(o.lr) +
                                    " (expected a finite lr >= 0)");
    const auto check = [&](double v, const char* name) {
        if (!(std::isfinite(v) && v >= 0.0))
            throw std::invalid_argument(who + ": invalid " + name + " value: " + name + "=" + python_number_repr(v) +
                                        " (expected a finite " + name + " >= 0)");
    };
    check(o.momentum, "momentum");
    check(o.weight_decay, "weight_decay");
    if (!std::isfinite(o.dampening))
        throw std::invalid_argument(who + ": invalid dampening value: dampening=" + python_number_repr(o.dampening) +
                                    " (expected a finite number)");
    if (o.nesterov && (o.momentum <= 0.0 || o.dampening != 0.0))
        throw std::invalid_argument(who + ": Nesterov momentum requires a momentum and zero dampening, but got momentum=" +
                                    python_number_repr(o.momentum) + " and dampening=" + python_number_repr(o.dampening));
    return o;
}

constexpr const char* buffer_prefix = "momentum_buffer.";

// "momentum_buffer.<i>" → i, or -1 for any other name.
int64_t buffer_index(const std::string& name) {
    const std::string prefix = buffer_prefix;
    if (name.compare(0, prefix.size(), prefix) != 0) return -1;
    const std::string digits = name.substr(prefix.size());
    if (digits.empty() || digits.size() > 18 || digits.find_first_not_of("0123456789") != std::string::npos) return -1;
    const int64_t i = std::stoll(digits);
    return std::to_string(i) == digits ? i : -1;  // no leading zeros
}

// The options saved in the state's "options" object, each named once (lr is the base's "lr").
constexpr auto option_fields = std::tuple{
    fields::field("momentum", &SGDOptions::momentum),
    fields::field("dampening", &SGDOptions::dampening),
    fields::field("weight_decay", &SGDOptions::weight_decay),
    fields::field("nesterov", &SGDOptions::nesterov),
};

SGDOptions options_from(const Json& m, const std::string& who) {
    const Json* o = fields::Reader::find(m, "options");
    if (!o || !o->is_object()) throw std::invalid_argument(who + ": the state has no \"options\" object");
    SGDOptions options;
    options.lr = m.at("lr").get<double>();
    fields::read(fields::Reader(who, fields::Wording::options), *o, options, option_fields);
    validate(options, who);
    return options;
}

}  // namespace

template <typename T>
BasicSGD<T>::BasicSGD(std::vector<BasicTensor<T>> params, const SGDOptions& options)
    : BasicOptimizer<T>(std::move(params), validate(options, "SGD").lr, "SGD"),
      options_(options),
      momentum_buffers_(this->params_.size()) {}

template <typename T>
SGDOptions BasicSGD<T>::options() const {
    SGDOptions o = options_;
    o.lr = this->lr_;
    return o;
}

template <typename T>
void BasicSGD<T>::step() {
    // Hyper-parameters are rounded to T first, as PyTorch does with a Python scalar
    // applied to a tensor of type T; the branches test the exact values, as it does.
    const bool decay = options_.weight_decay != 0.0;
    const bool use_momentum = options_.momentum != 0.0;
    const T weight_decay = static_cast<T>(options_.weight_decay);
    const T momentum = static_cast<T>(options_.momentum);
    const T keep = static_cast<T>(1.0 - options_.dampening);
    const T neg_lr = static_cast<T>(-this->lr_);
    const bool nesterov = options_.nesterov;
    for (size_t k = 0; k < this->params_.size(); ++k) {
        BasicTensor<T>& param = this->params_[k];
        const BasicTensor<T> grad = param.grad();
        if (!grad.defined()) continue;
        const int64_t n = param.numel();
        T* p = param.data();
        const T* g = grad.data();
        if (!use_momentum) {
#pragma omp parallel for schedule(static) if (kernels::worth_parallel(kernels::Work::elements, n))
            for (int64_t i = 0; i < n; ++i) {
                T d = g[i];
                if (decay) d = d + weight_decay * p[i];
                p[i] = p[i] + neg_lr * d;
            }
            continue;
        }
        BasicTensor<T>& buffer = momentum_buffers_[k];
        const bool first = !buffer.defined();
        if (first) buffer = BasicTensor<T>(param.shape());
        T* buf = buffer.data();
#pragma omp parallel for schedule(static) if (kernels::worth_parallel(kernels::Work::elements, n))
        for (int64_t i = 0; i < n; ++i) {
            T d = g[i];
            if (decay) d = d + weight_decay * p[i];
            if (first) {
                buf[i] = d;
            } else {
                const T decayed = buf[i] * momentum;  // buf.mul_(momentum), rounded
                buf[i] = decayed + keep * d;          // .add_(d, alpha=1 − dampening)
            }
            d = nesterov ? d + momentum * buf[i] : buf[i];
            p[i] = p[i] + neg_lr * d;
        }
    }
    ++this->step_count_;
}

template <typename T>
void BasicSGD<T>::write_state(StateDict& out) const {
    Json options = Json::object();
    fields::write(options_, options, option_fields);
    out.metadata()["options"] = std::move(options);
    for (size_t i = 0; i < momentum_buffers_.size(); ++i)
        if (momentum_buffers_[i].defined()) out.add(buffer_prefix + std::to_string(i), momentum_buffers_[i].clone());
}

template <typename T>
void BasicSGD<T>::check_state(const StateDict& in) const {
    const std::string who = "SGD.load_state_dict";
    options_from(in.metadata(), who);
    for (const auto& [name, value] : in.entries()) {
        const int64_t i = buffer_index(name);
        if (i < 0 || i >= int64_t(this->params_.size()))
            throw std::invalid_argument(who + ": unexpected tensor \"" + name +
                                        "\" in the state (expected momentum_buffer.0 to momentum_buffer." +
                                        std::to_string(this->params_.size() - 1) + ")");
        if (in.dtype(name) != dtype_name<T>())
            throw std::invalid_argument(who + ": \"" + name + "\" is " + in.dtype(name) + ", expected " + dtype_name<T>());
        const BasicTensor<T> buffer = in.get<T>(name);
        if (buffer.shape() != this->params_[size_t(i)].shape())
            throw std::invalid_argument(who + ": size mismatch for \"" + name + "\": the state's has shape " +
                                        to_string(buffer.shape()) + ", parameter " + std::to_string(i) + " has shape " +
                                        to_string(this->params_[size_t(i)].shape()));
    }
}

template <typename T>
void BasicSGD<T>::apply_state(const StateDict& in) {
    options_ = options_from(in.metadata(), "SGD.load_state_dict");
    std::vector<BasicTensor<T>> buffers(this->params_.size());
    for (const auto& [name, value] : in.entries()) buffers[size_t(buffer_index(name))] = in.get<T>(name).clone();
    momentum_buffers_ = std::move(buffers);
}

template class BasicSGD<float>;
template class BasicSGD<double>;

}  // namespace tapegrad
