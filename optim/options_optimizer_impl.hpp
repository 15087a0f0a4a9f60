// The members of BasicOptionsOptimizer (optimizer.hpp), for the .cpp of an optimizer to
// instantiate once it has specialised OptimizerOptions<Options>:
//   template <> struct OptimizerOptions<SGDOptions> {
//       static std::string name(); // "SGD"
//       static void check(const SGDOptions&, const std::string& who);  // PyTorch's checks, lr included
//       static void write(const SGDOptions&, Json& out);               // every option but lr
//       static void read(const fields::Reader&, const Json& in, SGDOptions&);  // the same, back
//   };
// Internal to optim/ (it includes <nlohmann/json.hpp>).
#pragma once

#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "framework/io/fields.hpp"
#include "optim/optimizer.hpp"

namespace tapegrad {

namespace options_optimizer {

// The options, once they passed the checks (for the base's constructor to take).
template <typename Options>
const Options& checked(const Options& options, const std::string& who) {
    OptimizerOptions<Options>::check(options, who);
    return options;
}

}  // namespace options_optimizer

template <typename T, typename Options>
BasicOptionsOptimizer<T, Options>::BasicOptionsOptimizer(std::vector<BasicTensor<T>> params, const Options& options,
                                                         std::vector<std::string> buffer_names)
    : BasicOptimizer<T>(std::move(params), options_optimizer::checked(options, OptimizerOptions<Options>::name()).lr,
                        std::move(buffer_names), OptimizerOptions<Options>::name()),
      options_{options} {}

template <typename T, typename Options>
std::string BasicOptionsOptimizer<T, Options>::type_name() const {
    return OptimizerOptions<Options>::name();
}

template <typename T, typename Options>
Options BasicOptionsOptimizer<T, Options>::options(size_t group) const {
    Options o = options_.at(group);
    o.lr = this->lr(group);
    return o;
}

template <typename T, typename Options>
void BasicOptionsOptimizer<T, Options>::add_param_group(std::vector<BasicTensor<T>> params, const Options& options) {
    const std::string who = type_name() + ".add_param_group";
    OptimizerOptions<Options>::check(options, who);
    this->add_group(std::move(params), options.lr, who);
    options_.push_back(options);
}

template <typename T, typename Options>
void BasicOptionsOptimizer<T, Options>::write_group_options(size_t group, nlohmann::ordered_json& out) const {
    OptimizerOptions<Options>::write(options_[group], out);
}

template <typename T, typename Options>
void BasicOptionsOptimizer<T, Options>::read_group_options(size_t group, const nlohmann::ordered_json& in, double lr,
                                                           bool apply, const std::string& who) {
    const nlohmann::ordered_json* o = fields::Reader::find(in, "options");
    if (!o || !o->is_object()) throw std::invalid_argument(who + ": the state has no \"options\" object");
    Options options;
    OptimizerOptions<Options>::read(fields::Reader(who, fields::Wording::options), *o, options);
    options.lr = lr;
    OptimizerOptions<Options>::check(options, who);
    if (apply) options_[group] = options;
}

}  // namespace tapegrad
