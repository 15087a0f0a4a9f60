// StateDict: an ordered list of named tensors (float32, float64 or int64) plus a JSON metadata
// object, saved to and loaded from one file: ".json" (readable), ".cbor" (compact binary) or
// ".safetensors" (PyTorch users' format, safetensors.hpp). Values round-trip bit for bit;
// writes are atomic. This header needs only nlohmann's
// forward declarations; include <nlohmann/json.hpp> to read or write metadata().
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "framework/tensor.hpp"

namespace tapegrad {

namespace detail {

// An owned nlohmann::ordered_json (an empty object by default) behind a pointer, so that
// headers holding one need only json_fwd.hpp. Copies are deep.
class JsonBox {
  public:
    JsonBox();
    ~JsonBox();
    JsonBox(const JsonBox& other);
    JsonBox(JsonBox&& other) noexcept;
    JsonBox& operator=(const JsonBox& other);
    JsonBox& operator=(JsonBox&& other) noexcept;

    nlohmann::ordered_json& get();
    const nlohmann::ordered_json& get() const;

  private:
    std::unique_ptr<nlohmann::ordered_json> value_;
};

}  // namespace detail

class StateDict {
  public:
    using Value = std::variant<Tensor, DoubleTensor, LongTensor>;
    using Entry = std::pair<std::string, Value>;

    StateDict() = default;
    // From a module's state_dict() (or any list of named tensors), keeping the order. The
    // tensors are shared, not copied, as in PyTorch: save them before changing the module.
    template <typename T> StateDict(const std::vector<std::pair<std::string, BasicTensor<T>>>& named);

    // Appends a tensor; throws std::invalid_argument for an undefined tensor or a name that
    // is already there.
    template <typename T> void add(const std::string& name, const BasicTensor<T>& tensor);

    size_t size() const { return entries_.size(); }
    bool empty() const { return entries_.empty(); }
    bool contains(const std::string& name) const;
    const std::vector<Entry>& entries() const { return entries_; }
    std::vector<std::string> names() const;
    // "float32", "float64" or "int64"; throws std::out_of_range naming a missing entry.
    std::string dtype(const std::string& name) const;

    // The tensor called `name`: std::out_of_range if there is none, std::invalid_argument
    // naming both dtypes if it is not a BasicTensor<T>.
    template <typename T> BasicTensor<T> get(const std::string& name) const;
    // Every entry as a BasicTensor<T> (what load_state_dict() takes); std::invalid_argument
    // naming the first entry of another dtype.
    template <typename T> std::vector<std::pair<std::string, BasicTensor<T>>> named() const;

    // Free-form data saved with the tensors (a JSON object unless you replace it).
    nlohmann::ordered_json& metadata() { return metadata_.get(); }
    const nlohmann::ordered_json& metadata() const { return metadata_.get(); }

    // The format follows the extension, in any case: ".json", ".cbor" or ".safetensors"
    // (save_safetensors / load_safetensors; its metadata must be strings); anything else is
    // std::invalid_argument naming it. save() writes a temporary file next to `path`
    // (unnamed, O_TMPFILE, where the filesystem allows), flushes it to disk and renames it
    // over `path`, so `path` is either the old file or the complete new one, and a killed
    // save leaves at most one temporary file, which the next save removes; a failure is
    // std::runtime_error naming the file and the reason.
    void save(const std::filesystem::path& path) const;
    // A missing, truncated, corrupt, foreign or newer file is std::runtime_error naming the
    // file and what is wrong.
    static StateDict load(const std::filesystem::path& path);

  private:
    const Entry* find(const std::string& name) const;

    std::vector<Entry> entries_;
    detail::JsonBox metadata_;
};

// "float32" / "float64" / "int64".
template <typename T> const char* dtype_name();

}  // namespace tapegrad
