// The fusion table and forward_chain; see fusion.hpp. The table starts with the pairs the
// library's own layers make (ReLU, MaxPool2d); entries are never removed, so a pointer to one
// stays valid after the lock that found it is released.
#include "layers/fusion.hpp"

#include <cstdlib>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <stdexcept>
#include <string>

#if __has_include(<cxxabi.h>)
#include <cxxabi.h>
#endif

#include "framework/ops/pooling.hpp"
#include "layers/activation.hpp"
#include "layers/pooling.hpp"

namespace tapegrad {

namespace {

// The C++ name of a type, for messages ("tapegrad::BasicReLU<float>").
std::string type_name_of(std::type_index t) {
#if __has_include(<cxxabi.h>)
    int status = 0;
    char* name = abi::__cxa_demangle(t.name(), nullptr, nullptr, &status);
    if (status == 0 && name) {
        std::string out(name);
        std::free(name);
        return out;
    }
#endif
    return t.name();
}

// A ReLU then a MaxPool2d is relu_max_pool2d: for 2×2 windows one pass over x without the
// relu'd tensor, the same values and gradients (tests/test_relu_max_pool.cpp).
template <typename T>
BasicTensor<T> relu_then_max_pool(BasicModule<T>&, BasicModule<T>& second, const BasicTensor<T>& x) {
    const auto& pool = static_cast<const BasicMaxPool2d<T>&>(second);
    return relu_max_pool2d(x, pool.kernel_size(), pool.stride(), pool.padding());
}

template <typename T>
struct FusionTable {
    FusionTable() { pairs.emplace(Key{typeid(BasicReLU<T>), typeid(BasicMaxPool2d<T>)}, relu_then_max_pool<T>); }

    using Key = std::pair<std::type_index, std::type_index>;
    std::shared_mutex mutex;
    std::map<Key, FusedForward<T>> pairs;  // a std::map's nodes never move
};

template <typename T>
FusionTable<T>& fusion_table() {
    static FusionTable<T> table;
    return table;
}

template <typename T, typename At>
BasicTensor<T> run_chain(size_t n, At at, const BasicTensor<T>& x) {
    BasicTensor<T> y = x;
    for (size_t i = 0; i < n; ++i) {
        if (i + 1 < n) {
            if (const FusedForward<T>* fused = find_fusion(at(i), at(i + 1))) {
                y = (*fused)(at(i), at(i + 1), y);
                ++i;
                continue;
            }
        }
        y = at(i).forward(y);
    }
    return y;
}

}  // namespace

template <typename T>
void register_fusion(std::type_index first, std::type_index second, FusedForward<T> fused) {
    const auto pair_name = [&] {
        std::string out(1, '(');  // piece by piece: GCC 12 warns falsely (-Wrestrict) on "(" + std::string
        out += type_name_of(first);
        out += ", ";
        out += type_name_of(second);
        out += ')';
        return out;
    };
    if (!fused)
        throw std::invalid_argument("register_fusion: expected a function for the pair " + pair_name() +
                                    ", but got an empty one");
    FusionTable<T>& table = fusion_table<T>();
    std::unique_lock lock(table.mutex);
    if (!table.pairs.emplace(std::pair{first, second}, std::move(fused)).second)
        throw std::invalid_argument("register_fusion: the pair " + pair_name() + " is already in the fusion table");
}

template <typename T>
const FusedForward<T>* find_fusion(const BasicModule<T>& first, const BasicModule<T>& second) {
    FusionTable<T>& table = fusion_table<T>();
    std::shared_lock lock(table.mutex);
    const auto it = table.pairs.find({typeid(first), typeid(second)});
    return it == table.pairs.end() ? nullptr : &it->second;
}

template <typename T>
BasicTensor<T> forward_chain(std::span<const std::shared_ptr<BasicModule<T>>> modules, const BasicTensor<T>& x) {
    return run_chain<T>(
        modules.size(), [&](size_t i) -> BasicModule<T>& { return *modules[i]; }, x);
}

template <typename T>
BasicTensor<T> forward_chain(std::span<BasicModule<T>* const> modules, const BasicTensor<T>& x) {
    return run_chain<T>(
        modules.size(), [&](size_t i) -> BasicModule<T>& { return *modules[i]; }, x);
}

template <typename T>
using SharedModules = std::span<const std::shared_ptr<BasicModule<T>>>;

#define TAPEGRAD_INSTANTIATE_FUSION(T)                                                            \
    template void register_fusion<T>(std::type_index, std::type_index, FusedForward<T>);          \
    template const FusedForward<T>* find_fusion<T>(const BasicModule<T>&, const BasicModule<T>&); \
    template BasicTensor<T> forward_chain<T>(SharedModules<T>, const BasicTensor<T>&);            \
    template BasicTensor<T> forward_chain<T>(std::span<BasicModule<T>* const>, const BasicTensor<T>&);
TAPEGRAD_INSTANTIATE_FUSION(float)
TAPEGRAD_INSTANTIATE_FUSION(double)
#undef TAPEGRAD_INSTANTIATE_FUSION

}  // namespace tapegrad
