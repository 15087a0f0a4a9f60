// save(model, path) and load(model, path) for anything with state_dict() and
// load_state_dict() — a Module, or a class of your own — without io knowing what a Module
// is. The file format follows the extension, as for StateDict.
#pragma once

#include <filesystem>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "framework/io/state_dict.hpp"

namespace tapegrad {

// Types whose state_dict() returns a StateDict (a Module) or named tensors of one type, which
// load_state_dict() takes back.
template <typename M>
concept Saveable = requires(M& m) {
    StateDict(m.state_dict());
    m.load_state_dict(m.state_dict());
};

template <Saveable M>
void save(const M& model, const std::filesystem::path& path) {
    StateDict(model.state_dict()).save(path);
}

// Reads and checks the whole file before the model is touched; then load_state_dict()
// validates names and shapes before it copies. Any error leaves the model unchanged.
template <Saveable M>
void load(M& model, const std::filesystem::path& path) {
    using State = std::remove_cvref_t<decltype(model.state_dict())>;
    const StateDict state = StateDict::load(path);
    try {
        if constexpr (std::is_same_v<State, StateDict>) {
            model.load_state_dict(state);  // a Module: tensors of several dtypes
        } else {
            using T = typename State::value_type::second_type::value_type;
            model.load_state_dict(state.named<T>());
        }
    } catch (const std::invalid_argument& e) {
        throw std::invalid_argument("cannot load " + path.string() + " into the model: " + e.what());
    }
}

}  // namespace tapegrad
