// safetensors files (huggingface/safetensors, the format PyTorch users exchange weights in): an
// 8-byte little-endian header length, a JSON header {name: {"dtype", "shape", "data_offsets"}}
// with an optional "__metadata__" of strings, then the tensors' raw little-endian row-major bytes.
// tapegrad writes F32, F64 and I64 and reads those and BF16 and F16 (converted to float32).
// Names are PyTorch's state_dict keys ("0.weight", "features.3.bias"), so a PyTorch
// nn.Sequential and a tapegrad Sequential of the same layers exchange weights with no renaming.
// StateDict's save and load, and so save(model, path) and load(model, path), use these for a
// ".safetensors" path.
#pragma once

#include <filesystem>
#include <map>
#include <string>

#include "framework/io/save_load.hpp"
#include "framework/io/state_dict.hpp"

namespace tapegrad {

// The header's "__metadata__": strings only, as the format has it.
using SafetensorsMetadata = std::map<std::string, std::string>;

// Writes `state` to `path` atomically, as StateDict::save does (the extension is not checked).
// The header lists the tensors in the state's order; their data is laid out largest element
// first (I64 and F64, then F32), as huggingface's writer does, so that each tensor starts at a
// multiple of its element size (the header is padded with spaces to a multiple of 8).
// "__metadata__" holds state.metadata()'s members, then `metadata`'s entries, which win over
// a member of the same name. std::invalid_argument, before anything is written, for a metadata
// member that is not a string or a tensor called "__metadata__"; std::runtime_error naming the
// file when it cannot be written.
void save_safetensors(const StateDict& state, const std::filesystem::path& path,
                      const SafetensorsMetadata& metadata = {});

// A module (anything with state_dict()): its parameters and buffers under PyTorch's names.
template <Saveable M>
void save_safetensors(const M& model, const std::filesystem::path& path, const SafetensorsMetadata& metadata = {}) {
    save_safetensors(StateDict(model.state_dict()), path, metadata);
}

// Reads `path` and checks all of it before it allocates a tensor: the header length (at most
// 100,000,000 bytes, and inside the file), the header's JSON (an object; no name twice), each
// tensor's dtype, shape and data_offsets (inside the data, with exactly the bytes its dtype and
// shape need, and all tensors together covering the data with no gap and no overlap). F32, F64
// and I64 come back as float32, float64 and int64 tensors, BF16 and F16 as float32 (exactly:
// float32 holds every value of both). The entries follow the header's order; metadata() is
// "__metadata__" as a JSON object of strings (empty when there is none). Every problem is
// std::runtime_error "cannot load <path>: ..." naming the tensor at fault, if one is.
StateDict load_safetensors(const std::filesystem::path& path);

}  // namespace tapegrad
