// Checkpoint file round trip; see checkpoint.hpp. The document is
// {"format": "tapegrad", "version": 1, "kind": "checkpoint", "epoch", "rng": {name: state},
//  "config", "model", "optimizer", "scheduler"}, each state dict as in a state_dict file.
#include "framework/io/checkpoint.hpp"

#include <stdexcept>

#include "framework/generator.hpp"
#include "framework/io/document.hpp"

namespace tapegrad {

const std::string& Checkpoint::rng_state(const std::string& name) const {
    for (const auto& [n, state] : rng)
        if (n == name) return state;
    throw std::out_of_range("Checkpoint: no generator state named \"" + name + "\"");
}

void Checkpoint::save(const std::filesystem::path& path) const {
    using namespace io_detail;
    const Encoding encoding = encoding_for(path);
    Json doc = new_document("checkpoint");
    doc["epoch"] = epoch;
    Json states = Json::object();
    for (const auto& [name, state] : rng) {
        if (states.contains(name))
            throw std::invalid_argument("Checkpoint::save: the generator name \"" + name + "\" appears twice");
        states[name] = state;
    }
    doc["rng"] = std::move(states);
    doc["config"] = config();
    encode_state_dict(model, encoding, doc["model"]);
    encode_state_dict(optimizer, encoding, doc["optimizer"]);
    encode_state_dict(scheduler, encoding, doc["scheduler"]);
    write_document(doc, path);
}

Checkpoint Checkpoint::load(const std::filesystem::path& path) {
    using namespace io_detail;
    const Json doc = read_document(path, "checkpoint");
    return with_file_context(path, [&] {
        const fields::Reader checkpoint("checkpoint", fields::Wording::document);
        Checkpoint c;
        c.epoch = fields::Reader("epoch", fields::Wording::document).integer(checkpoint.at(doc, "epoch"));
        const Json& states = checkpoint.at(doc, "rng");
        if (!states.is_object()) throw FormatError("rng: expected an object of generator states");
        for (const auto& [name, state] : states.items()) {
            if (!state.is_string()) throw FormatError("rng \"" + name + "\": expected a string");
            try {
                Generator().set_state(state.get<std::string>());
            } catch (const std::invalid_argument&) {
                throw FormatError("rng \"" + name + "\" is not a generator state");
            }
            c.rng.emplace_back(name, state.get<std::string>());
        }
        c.config() = checkpoint.at(doc, "config");
        c.model = decode_state_dict(checkpoint.at(doc, "model"), "model");
        c.optimizer = decode_state_dict(checkpoint.at(doc, "optimizer"), "optimizer");
        c.scheduler = decode_state_dict(checkpoint.at(doc, "scheduler"), "scheduler");
        return c;
    });
}

}  // namespace tapegrad
