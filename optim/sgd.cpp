// SGD: the update and its state; see sgd.hpp.
#include "optim/sgd.hpp"

#include <cmath>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "framework/core/parallel.hpp"
#include "framework/format.hpp"
#include "framework/io/fields.hpp"
#include "optim/options_optimizer_impl.hpp"

namespace tapegrad {

using Json = nlohmann::ordered_json;

// What SGDOptions are: the checks of torch.optim.SGD.__init__ (plus finiteness), and the
// options a state saves (lr is the group's "lr").
template <>
struct OptimizerOptions<SGDOptions> {
    static std::string name() { return "SGD"; }

    static void check(const SGDOptions& o, const std::string& who) {
        if (!(std::isfinite(o.lr) && o.lr >= 0.0))
            throw std::invalid_argument(who + ": invalid learning rate: lr=" + python_number_repr(o.lr) +
                                        " (expected a finite lr >= 0)");
        const auto check = [&](double v, const char* name) {
            if (!(std::isfinite(v) && v >= 0.0))
                throw std::invalid_argument(who + ": invalid " + name + " value: " + name + "=" +
                                            python_number_repr(v) + " (expected a finite " + name + " >= 0)");
        };
        check(o.momentum, "momentum");
        check(o.weight_decay, "weight_decay");
        if (!std::isfinite(o.dampening))
            throw std::invalid_argument(who + ": invalid dampening value: dampening=" +
                                        python_number_repr(o.dampening) + " (expected a finite number)");
        if (o.nesterov && (o.momentum <= 0.0 || o.dampening != 0.0))
            throw std::invalid_argument(
                who + ": Nesterov momentum requires a momentum and zero dampening, but got momentum=" +
                python_number_repr(o.momentum) + " and dampening=" + python_number_repr(o.dampening));
    }

    static constexpr auto option_fields = std::tuple{
        fields::field("momentum", &SGDOptions::momentum),
        fields::field("dampening", &SGDOptions::dampening),
        fields::field("weight_decay", &SGDOptions::weight_decay),
        fields::field("nesterov", &SGDOptions::nesterov),
    };
    static void write(const SGDOptions& o, Json& out) { fields::write(o, out, option_fields); }
    static void read(const fields::Reader& reader, const Json& in, SGDOptions& o) {
        fields::read(reader, in, o, option_fields);
    }
};

template <typename T>
BasicSGD<T>::BasicSGD(std::vector<BasicTensor<T>> params, const SGDOptions& options)
    : BasicOptionsOptimizer<T, SGDOptions>(std::move(params), options, {"momentum_buffer"}) {}

template <typename T>
void BasicSGD<T>::step() {
    for (size_t group = 0; group < this->num_param_groups(); ++group) {
        const SGDOptions& o = this->options_[group];
        // Hyper-parameters are rounded to T first, as PyTorch does with a Python scalar
        // applied to a tensor of type T; the branches test the exact values, as it does.
        const bool decay = o.weight_decay != 0.0;
        const bool use_momentum = o.momentum != 0.0;
        const T weight_decay = static_cast<T>(o.weight_decay);
        const T momentum = static_cast<T>(o.momentum);
        const T keep = static_cast<T>(1.0 - o.dampening);
        const T neg_lr = static_cast<T>(-this->lr(group));
        const bool nesterov = o.nesterov;
        for (size_t k = this->group_begin(group); k < this->group_end(group); ++k) {
            BasicTensor<T>& param = this->params_[k];
            const BasicTensor<T> grad = param.grad();
            if (!grad.defined()) continue;
            const int64_t n = param.numel();
            T* p = param.data();
            const T* g = grad.data();
            if (!use_momentum) {
#pragma omp parallel for schedule(static) if (core::worth_parallel(core::Work::elements, n))
                for (int64_t i = 0; i < n; ++i) {
                    T d = g[i];
                    if (decay) d = d + weight_decay * p[i];
                    p[i] = p[i] + neg_lr * d;
                }
                continue;
            }
            BasicTensor<T>& buffer = this->buffers(0)[k];
            const bool first = !buffer.defined();
            if (first) buffer = BasicTensor<T>(param.shape());
            T* buf = buffer.data();
#pragma omp parallel for schedule(static) if (core::worth_parallel(core::Work::elements, n))
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
    }
    ++this->step_count_;
}

template class BasicOptionsOptimizer<float, SGDOptions>;
template class BasicOptionsOptimizer<double, SGDOptions>;
template class BasicSGD<float>;
template class BasicSGD<double>;

}  // namespace tapegrad
