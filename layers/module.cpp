// BasicModule implementation; see module.hpp.
#include "layers/module.hpp"

#include <algorithm>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <variant>

namespace tapegrad {

template <typename T>
void BasicModule<T>::check_new_name(const std::string& name) const {
    if (name.empty() || name.find('.') != std::string::npos)
        throw std::invalid_argument("module attribute name must be non-empty and contain no '.', but got \"" + name +
                                    "\"");
    auto taken = [&](const auto& list) {
        for (const auto& [n, _] : list)
            if (n == name) return true;
        return false;
    };
    if (taken(parameters_) || taken(buffers_) || taken(children_))
        throw std::invalid_argument("attribute \"" + name + "\" is already registered in " + type_name());
}

template <typename T>
BasicTensor<T> BasicModule<T>::register_parameter(const std::string& name, BasicTensor<T> t) {
    check_new_name(name);
    t.requires_grad_(true);
    parameters_.emplace_back(name, t);
    return t;
}

template <typename T>
BasicTensor<T> BasicModule<T>::register_buffer(const std::string& name, BasicTensor<T> t) {
    check_new_name(name);
    buffers_.emplace_back(name, t);
    return t;
}

template <typename T>
LongTensor BasicModule<T>::register_buffer(const std::string& name, LongTensor t) {
    check_new_name(name);
    buffers_.emplace_back(name, t);
    return t;
}

template <typename T>
void BasicModule<T>::add_child(const std::string& name, std::shared_ptr<BasicModule> m) {
    if (!m) throw std::invalid_argument("register_module: module \"" + name + "\" is null");
    check_new_name(name);
    children_.emplace_back(name, std::move(m));
}

template <typename T>
void BasicModule<T>::collect_parameters(const std::string& prefix, Named<BasicTensor<T>>& out) const {
    for (const auto& [name, t] : parameters_) out.emplace_back(prefix + name, t);
    for (const auto& [name, child] : children_) child->collect_parameters(prefix + name + ".", out);
}

template <typename T>
void BasicModule<T>::collect_buffers(const std::string& prefix, Named<Buffer>& out) const {
    for (const auto& [name, b] : buffers_) out.emplace_back(prefix + name, b);
    for (const auto& [name, child] : children_) child->collect_buffers(prefix + name + ".", out);
}

// torch.nn.Module.state_dict's order: a module's parameters, its buffers, then each child's.
template <typename T>
void BasicModule<T>::collect_state(const std::string& prefix, StateDict& out) const {
    for (const auto& [name, t] : parameters_) out.add(prefix + name, t);
    for (const auto& [name, b] : buffers_) {
        const std::string key = prefix + name;  // (clang 14 cannot capture a structured binding)
        std::visit([&](const auto& t) { out.add(key, t); }, b);
    }
    for (const auto& [name, child] : children_) child->collect_state(prefix + name + ".", out);
}

template <typename T>
auto BasicModule<T>::named_parameters() const -> Named<BasicTensor<T>> {
    Named<BasicTensor<T>> out;
    collect_parameters("", out);
    return out;
}

template <typename T>
auto BasicModule<T>::named_buffers() const -> Named<Buffer> {
    Named<Buffer> out;
    collect_buffers("", out);
    return out;
}

template <typename T>
std::vector<BasicTensor<T>> BasicModule<T>::parameters() const {
    std::vector<BasicTensor<T>> out;
    for (auto& [_, t] : named_parameters()) out.push_back(t);
    return out;
}

template <typename T>
StateDict BasicModule<T>::state_dict() const {
    StateDict out;
    collect_state("", out);
    return out;
}

namespace {

// The tensor in a state entry, its shape and dtype name.
const Shape& shape_of(const StateDict::Value& v) {
    return std::visit([](const auto& t) -> const Shape& { return t.shape(); }, v);
}
std::string dtype_of(const StateDict::Value& v) {
    return std::visit(
        [](const auto& t) { return std::string(dtype_name<typename std::decay_t<decltype(t)>::value_type>()); }, v);
}

}  // namespace

template <typename T>
void BasicModule<T>::load_state_dict(const StateDict& state) {
    const StateDict own = state_dict();
    // Validate everything first, so that a bad state leaves the module untouched.
    for (const auto& [name, _] : state.entries())
        if (!own.contains(name))
            throw std::invalid_argument("load_state_dict: unexpected key \"" + name + "\" in state dict for " +
                                        type_name());
    auto given_of = [&](const std::string& name) -> const StateDict::Value& {
        for (const auto& [n, v] : state.entries())
            if (n == name) return v;
        throw std::invalid_argument("load_state_dict: missing key \"" + name + "\" in state dict for " + type_name());
    };
    for (const auto& [name, t] : own.entries()) {
        const StateDict::Value& given = given_of(name);
        if (given.index() != t.index())
            throw std::invalid_argument("load_state_dict: dtype mismatch for " + name + ": copying a " +
                                        dtype_of(given) + " tensor, the dtype in current model is " + dtype_of(t));
        if (shape_of(given) != shape_of(t))
            throw std::invalid_argument("load_state_dict: size mismatch for " + name + ": copying a param with shape " +
                                        to_string(shape_of(given)) + ", the shape in current model is " +
                                        to_string(shape_of(t)));
    }
    for (const auto& [name, t] : own.entries()) {
        const StateDict::Value& given = given_of(name);
        std::visit([&](const auto& to) {
            using Tensor = std::decay_t<decltype(to)>;
            const Tensor& from = std::get<Tensor>(given);
            Tensor into = to;  // a handle on the module's own storage
            std::copy(from.data(), from.data() + from.numel(), into.data());
        }, t);
    }
}

template <typename T>
void BasicModule<T>::zero_grad() {
    for (auto& p : parameters()) p.zero_grad();
}

template <typename T>
void BasicModule<T>::train(bool on) {
    training_ = on;
    for (auto& [_, child] : children_) child->train(on);
}

template <typename T>
std::string BasicModule<T>::repr() const {
    std::ostringstream out;
    out << type_name() << '(' << extra_repr();
    if (!children_.empty()) {
        out << '\n';
        for (const auto& [name, child] : children_) {
            std::string text = child->repr();
            // Indent nested lines by two spaces, as torch.nn.Module.__repr__ does.
            for (size_t pos = text.find('\n'); pos != std::string::npos; pos = text.find('\n', pos + 1))
                text.insert(pos + 1, "  ");
            out << "  (" << name << "): " << text << '\n';
        }
    }
    out << ')';
    return out.str();
}

template class BasicModule<float>;
template class BasicModule<double>;

}  // namespace tapegrad
