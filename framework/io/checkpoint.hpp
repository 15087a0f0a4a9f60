// Checkpoint: everything needed to resume a training run, saved as one file (".json" or
// ".cbor", atomically, like StateDict): the model's, optimizer's and scheduler's state
// dicts, the epoch, the random generators' states and a free-form JSON config.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "framework/io/state_dict.hpp"

namespace tapegrad {

class Checkpoint {
  public:
    StateDict model;      // e.g. net.state_dict()
    StateDict optimizer;  // e.g. opt.state_dict()
    StateDict scheduler;  // e.g. scheduler.state_dict(); empty if there is none
    int64_t epoch = 0;
    // Named Generator::state() strings, e.g. {"default", default_generator().state()}.
    std::vector<std::pair<std::string, std::string>> rng;

    // Free-form settings of the run (a JSON object unless you replace it).
    nlohmann::ordered_json& config() { return config_.get(); }
    const nlohmann::ordered_json& config() const { return config_.get(); }

    // The state saved under `name` in rng; std::out_of_range if there is none.
    const std::string& rng_state(const std::string& name) const;

    // As StateDict::save / StateDict::load. load() also checks that every rng entry is a
    // valid generator state, so a bad file fails here rather than half-way through a resume.
    void save(const std::filesystem::path& path) const;
    static Checkpoint load(const std::filesystem::path& path);

  private:
    detail::JsonBox config_;
};

}  // namespace tapegrad
