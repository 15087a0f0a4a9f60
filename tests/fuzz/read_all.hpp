// What a harness does with every StateDict a reader returns: reads each value of each tensor,
// so that a tensor whose shape promises more than its storage holds is a heap overflow, and
// traps unless the shape's product fits in int64_t and is the storage's size.
#pragma once

#include <cstdint>
#include <variant>

#include <tapegrad/tapegrad.hpp>

namespace tapegrad_fuzz {

inline volatile double sink;

inline void read_all(const tapegrad::StateDict& state) {
    double sum = 0.0;
    for (const auto& [name, value] : state.entries())
        std::visit(
            [&](const auto& t) {
                int64_t numel = 1;
                for (const int64_t d : t.shape())
                    if (d < 0 || __builtin_mul_overflow(numel, d, &numel)) __builtin_trap();
                if (numel != t.numel()) __builtin_trap();
                for (const auto v : t.values()) sum += double(v);
            },
            value);
    sink = sum;
}

}  // namespace tapegrad_fuzz
