// A scheduler from a fixture's {"type", "args"} spec, as the golden generators write it for
// torch.optim.lr_scheduler (SequentialLR's args hold the specs of its schedulers), shared by
// the optimizer suites.
#pragma once

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "optim/lr_scheduler.hpp"

namespace tapegrad::testing {

inline std::shared_ptr<LRScheduler> make_scheduler(OptimizerBase& opt, const nlohmann::ordered_json& spec) {
    const std::string type = spec.at("type");
    const nlohmann::ordered_json& a = spec.at("args");
    if (type == "StepLR") return std::make_shared<StepLR>(opt, a.at("step_size").get<int64_t>(), a.value("gamma", 0.1));
    if (type == "CosineAnnealingLR")
        return std::make_shared<CosineAnnealingLR>(opt, a.at("T_max").get<int64_t>(), a.value("eta_min", 0.0));
    if (type == "LinearLR")
        return std::make_shared<LinearLR>(opt, a.at("start_factor").get<double>(), a.at("end_factor").get<double>(),
                                          a.at("total_iters").get<int64_t>());
    if (type == "SequentialLR") {
        std::vector<std::shared_ptr<LRScheduler>> inner;
        for (const auto& s : a.at("schedulers")) inner.push_back(make_scheduler(opt, s));
        return std::make_shared<SequentialLR>(opt, inner, a.at("milestones").get<std::vector<int64_t>>());
    }
    throw std::runtime_error("unknown scheduler " + type);
}

}  // namespace tapegrad::testing
