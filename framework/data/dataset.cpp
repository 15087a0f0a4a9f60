// Dataset::get; see dataset.hpp.
#include "framework/data/dataset.hpp"

#include <stdexcept>
#include <string>

namespace tapegrad::data {

Example Dataset::get(int64_t index) const {
    if (index < 0 || index >= size())
        throw std::out_of_range("Dataset::get: index " + std::to_string(index) + " is out of range for a dataset of " +
                                std::to_string(size()) + " samples");
    Example e{Tensor(sample_shape()), 0};
    e.y = get_into(index, e.x.data());
    return e;
}

}  // namespace tapegrad::data
