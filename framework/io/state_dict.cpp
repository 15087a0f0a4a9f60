// StateDict: the container and its file round trip; see state_dict.hpp. The document
// format lives in document.cpp.
#include "framework/io/state_dict.hpp"

#include <stdexcept>

#include "framework/io/document.hpp"
#include "framework/io/safetensors.hpp"

namespace tapegrad {

namespace detail {

JsonBox::JsonBox() : value_(std::make_unique<nlohmann::ordered_json>(nlohmann::ordered_json::object())) {}
JsonBox::~JsonBox() = default;
JsonBox::JsonBox(const JsonBox& other) : value_(std::make_unique<nlohmann::ordered_json>(other.get())) {}
JsonBox::JsonBox(JsonBox&& other) noexcept = default;
JsonBox& JsonBox::operator=(const JsonBox& other) {
    if (this != &other) value_ = std::make_unique<nlohmann::ordered_json>(other.get());
    return *this;
}
JsonBox& JsonBox::operator=(JsonBox&& other) noexcept = default;

nlohmann::ordered_json& JsonBox::get() {
    // A moved-from box comes back to life as an empty object.
    if (!value_) value_ = std::make_unique<nlohmann::ordered_json>(nlohmann::ordered_json::object());
    return *value_;
}

const nlohmann::ordered_json& JsonBox::get() const {
    static const nlohmann::ordered_json empty = nlohmann::ordered_json::object();
    return value_ ? *value_ : empty;
}

}  // namespace detail

namespace {
// What StateDict's save and load take besides a tapegrad document, for the unknown-extension message.
constexpr const char* safetensors_choice = ".safetensors (PyTorch's)";
}  // namespace

template <> const char* dtype_name<float>() { return "float32"; }
template <> const char* dtype_name<double>() { return "float64"; }
template <> const char* dtype_name<int64_t>() { return "int64"; }

template <typename T>
StateDict::StateDict(const std::vector<std::pair<std::string, BasicTensor<T>>>& named) {
    for (const auto& [name, tensor] : named) add(name, tensor);
}

template <typename T>
void StateDict::add(const std::string& name, const BasicTensor<T>& tensor) {
    if (!tensor.defined()) throw std::invalid_argument("StateDict::add: the tensor \"" + name + "\" is undefined");
    if (contains(name)) throw std::invalid_argument("StateDict::add: the name \"" + name + "\" is already there");
    entries_.emplace_back(name, tensor);
}

const StateDict::Entry* StateDict::find(const std::string& name) const {
    for (const Entry& e : entries_)
        if (e.first == name) return &e;
    return nullptr;
}

bool StateDict::contains(const std::string& name) const { return find(name) != nullptr; }

std::vector<std::string> StateDict::names() const {
    std::vector<std::string> out;
    out.reserve(entries_.size());
    for (const Entry& e : entries_) out.push_back(e.first);
    return out;
}

std::string StateDict::dtype(const std::string& name) const {
    const Entry* e = find(name);
    if (!e) throw std::out_of_range("StateDict: no tensor named \"" + name + "\"");
    return std::visit(
        [](const auto& t) { return std::string(dtype_name<typename std::decay_t<decltype(t)>::value_type>()); },
        e->second);
}

template <typename T>
BasicTensor<T> StateDict::get(const std::string& name) const {
    const Entry* e = find(name);
    if (!e) throw std::out_of_range("StateDict: no tensor named \"" + name + "\"");
    const auto* t = std::get_if<BasicTensor<T>>(&e->second);
    if (!t)
        throw std::invalid_argument("StateDict: the tensor \"" + name + "\" is " + dtype(name) + ", but " +
                                    dtype_name<T>() + " was asked for");
    return *t;
}

template <typename T>
std::vector<std::pair<std::string, BasicTensor<T>>> StateDict::named() const {
    std::vector<std::pair<std::string, BasicTensor<T>>> out;
    out.reserve(entries_.size());
    for (const Entry& e : entries_) out.emplace_back(e.first, get<T>(e.first));
    return out;
}

void StateDict::save(const std::filesystem::path& path) const {
    using namespace io_detail;
    if (is_safetensors(path)) return save_safetensors(*this, path);
    Json doc = new_document("state_dict");
    encode_state_dict(*this, encoding_for(path, safetensors_choice), doc);
    write_document(doc, path);
}

StateDict StateDict::load(const std::filesystem::path& path) {
    using namespace io_detail;
    if (is_safetensors(path)) return load_safetensors(path);
    encoding_for(path, safetensors_choice);  // an unknown extension, named with every choice
    const Json doc = read_document(path, "state_dict");
    return with_file_context(path, [&] { return decode_state_dict(doc, ""); });
}

#define TAPEGRAD_INSTANTIATE(T)                                                                      \
    template StateDict::StateDict(const std::vector<std::pair<std::string, BasicTensor<T>>>&);       \
    template void StateDict::add<T>(const std::string&, const BasicTensor<T>&);                      \
    template BasicTensor<T> StateDict::get<T>(const std::string&) const;                             \
    template std::vector<std::pair<std::string, BasicTensor<T>>> StateDict::named<T>() const;
TAPEGRAD_INSTANTIATE(float)
TAPEGRAD_INSTANTIATE(double)
TAPEGRAD_INSTANTIATE(int64_t)
#undef TAPEGRAD_INSTANTIATE

}  // namespace tapegrad
