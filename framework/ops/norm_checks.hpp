// Argument checks the normalisation ops share (batch_norm, instance_norm, group_norm,
// layer_norm), in PyTorch's words with the op's name in front; an implementation detail of
// their .cpp files, not part of <tapegrad/tapegrad.hpp>.
#pragma once

#include <stdexcept>
#include <string>

namespace tapegrad::detail {

inline void check_norm_eps(const char* op, double eps) {
    if (!(eps >= 0.0))
        throw std::invalid_argument(std::string(op) + ": expected eps >= 0, but got eps=" + std::to_string(eps));
}

// running_mean and running_var are both given or neither, and given when the op reads them
// (`required`; `required_when` names that case); then eps as above, and momentum, the weight of
// the batch in the running statistics' update, in [0, 1].
inline void check_running_stats(const char* op, bool has_mean, bool has_var, bool required, const char* required_when,
                                double eps, double momentum) {
    const std::string name(op);
    if (has_mean != has_var)
        throw std::invalid_argument(name + ": running_mean and running_var must be both defined or both undefined");
    if (required && !has_mean)
        throw std::invalid_argument(name + ": running_mean and running_var must be defined when " + required_when);
    check_norm_eps(op, eps);
    if (!(momentum >= 0.0 && momentum <= 1.0))
        throw std::invalid_argument(name +
                                    ": expected momentum in [0, 1], but got momentum=" + std::to_string(momentum));
}

}  // namespace tapegrad::detail
