// BasicModule<T>: the base of every layer. A module owns named parameters (learnable
// tensors), buffers (state that is saved but not learned) and child modules, and maps one
// tensor to another in forward(). Names are dotted through children ("features.0.weight").
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "framework/format.hpp"  // python_float_repr, for extra_repr()
#include "framework/io/state_dict.hpp"
#include "framework/tensor.hpp"

namespace tapegrad {

template <typename T>
class BasicModule {
  public:
    template <typename U> using Named = std::vector<std::pair<std::string, U>>;
    // A buffer holds values of the module's type, or int64 counts (BatchNorm's
    // num_batches_tracked).
    using Buffer = std::variant<BasicTensor<T>, LongTensor>;

    virtual ~BasicModule() = default;

    virtual BasicTensor<T> forward(const BasicTensor<T>& x) = 0;
    BasicTensor<T> operator()(const BasicTensor<T>& x) { return forward(x); }

    // The class name as PyTorch prints it ("GroupNorm"), and the text inside its parentheses.
    virtual std::string type_name() const = 0;
    virtual std::string extra_repr() const { return {}; }
    // The whole module tree, printed as PyTorch prints it.
    std::string repr() const;

    // Parameters of this module and all children, in registration order.
    std::vector<BasicTensor<T>> parameters() const;
    Named<BasicTensor<T>> named_parameters() const;
    Named<Buffer> named_buffers() const;
    const Named<std::shared_ptr<BasicModule>>& children() const { return children_; }

    // Parameters and buffers by dotted name, in PyTorch's order (each module's own parameters,
    // then its own buffers, then its children's, depth first): what save() writes and
    // load_state_dict() reads. The tensors are shared with the module, not copied.
    StateDict state_dict() const;
    // Copies values from `state` into this module's parameters and buffers. Strict: a
    // missing, unexpected, wrongly shaped or wrongly typed entry is std::invalid_argument
    // naming it, and then nothing has been changed. (A list of named tensors converts to a
    // StateDict.)
    void load_state_dict(const StateDict& state);

    // Drops every parameter's gradient.
    void zero_grad();
    // Training mode (the default) or evaluation mode, for this module and its children.
    void train(bool on = true);
    void eval() { train(false); }
    bool is_training() const { return training_; }

  protected:
    BasicModule() = default;
    BasicModule(const BasicModule&) = default;
    BasicModule& operator=(const BasicModule&) = default;

    // Registers t as a learnable parameter (sets requires_grad) and returns it.
    BasicTensor<T> register_parameter(const std::string& name, BasicTensor<T> t);
    BasicTensor<T> register_buffer(const std::string& name, BasicTensor<T> t);
    LongTensor register_buffer(const std::string& name, LongTensor t);
    template <typename M>
    std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> m) {
        add_child(name, m);
        return m;
    }

  private:
    void add_child(const std::string& name, std::shared_ptr<BasicModule> m);
    void check_new_name(const std::string& name) const;
    void collect_parameters(const std::string& prefix, Named<BasicTensor<T>>& out) const;
    void collect_buffers(const std::string& prefix, Named<Buffer>& out) const;
    void collect_state(const std::string& prefix, StateDict& out) const;

    Named<BasicTensor<T>> parameters_;
    Named<Buffer> buffers_;
    Named<std::shared_ptr<BasicModule>> children_;
    bool training_ = true;
};

using Module = BasicModule<float>;

}  // namespace tapegrad
