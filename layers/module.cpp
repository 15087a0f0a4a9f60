// BasicModule implementation; see module.hpp.
#include "layers/module.hpp"

#include <algorithm>
#include <sstream>
#include <stdexcept>

namespace tapegrad {

template <typename T>
void BasicModule<T>::check_new_name(const std::string& name) const {
    if (name.empty() || name.find('.') != std::string::npos)
        throw std::invalid_argument("module attribute name must be non-empty and contain no '.', but got \"" + name + "\"");
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
void BasicModule<T>::add_child(const std::string& name, std::shared_ptr<BasicModule> m) {
    if (!m) throw std::invalid_argument("register_module: module \"" + name + "\" is null");
    check_new_name(name);
    children_.emplace_back(name, std::move(m));
}

template <typename T>
void BasicModule<T>::collect(const std::string& prefix, Named<BasicTensor<T>>& out, bool buffers) const {
    for (const auto& [name, t] : buffers ? buffers_ : parameters_) out.emplace_back(prefix + name, t);
    for (const auto& [name, child] : children_) child->collect(prefix + name + ".", out, buffers);
}

template <typename T>
auto BasicModule<T>::named_parameters() const -> Named<BasicTensor<T>> {
    Named<BasicTensor<T>> out;
    collect("", out, false);
    return out;
}

template <typename T>
auto BasicModule<T>::named_buffers() const -> Named<BasicTensor<T>> {
    Named<BasicTensor<T>> out;
    collect("", out, true);
    return out;
}

template <typename T>
std::vector<BasicTensor<T>> BasicModule<T>::parameters() const {
    std::vector<BasicTensor<T>> out;
    for (auto& [_, t] : named_parameters()) out.push_back(t);
    return out;
}

template <typename T>
auto BasicModule<T>::state_dict() const -> Named<BasicTensor<T>> {
    Named<BasicTensor<T>> out = named_parameters();
    for (auto& entry : named_buffers()) out.push_back(std::move(entry));
    return out;
}

template <typename T>
void BasicModule<T>::load_state_dict(const Named<BasicTensor<T>>& state) {
    const Named<BasicTensor<T>> own = state_dict();
    auto find = [](const Named<BasicTensor<T>>& list, const std::string& name) -> const BasicTensor<T>* {
        for (const auto& [n, t] : list)
            if (n == name) return &t;
        return nullptr;
    };
    // Validate everything first, so that a bad state leaves the module untouched.
    for (const auto& [name, t] : state)
        if (!find(own, name)) throw std::invalid_argument("load_state_dict: unexpected key \"" + name + "\" in state dict for " + type_name());
    for (const auto& [name, t] : own) {
        const BasicTensor<T>* given = find(state, name);
        if (!given) throw std::invalid_argument("load_state_dict: missing key \"" + name + "\" in state dict for " + type_name());
        if (given->shape() != t.shape())
            throw std::invalid_argument("load_state_dict: size mismatch for " + name + ": copying a param with shape " +
                                        to_string(given->shape()) + ", the shape in current model is " + to_string(t.shape()));
    }
    for (const auto& [name, t] : own) {
        const BasicTensor<T>* given = find(state, name);
        std::copy(given->data(), given->data() + given->numel(), const_cast<BasicTensor<T>&>(t).data());
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
