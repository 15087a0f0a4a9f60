// libFuzzer harness for the safetensors reader (framework/io/safetensors): each input is saved
// as a ".safetensors" file and read by load_safetensors, whose contract is that a bad file is
// std::runtime_error naming it (any other exception escapes and aborts: a crash to libFuzzer,
// as are sanitizer errors, a malloc above -malloc_limit_mb and a -timeout). What loads is read
// in full. The file is also loaded into the small CNN of tests/golden/make_safetensors_golden.py
// (whose PyTorch-made weights are a seed): a load that throws must leave the model unchanged.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <variant>
#include <vector>

#include <tapegrad/tapegrad.hpp>

#include "read_all.hpp"
#include "scratch_file.hpp"

namespace tg = tapegrad;

namespace {

tg::Sequential small_cnn() {
    return tg::Sequential(tg::Conv2d(1, 4, 3, 1, 1), tg::GroupNorm(2, 4), tg::ReLU(), tg::MaxPool2d(2),
                          tg::Conv2d(4, 8, 3, 1, 1), tg::BatchNorm2d(8), tg::ReLU(), tg::MaxPool2d(2), tg::Flatten(),
                          tg::Linear(8 * 3 * 3, 16), tg::ReLU(), tg::Linear(16, 10));
}

// The model's parameters and buffers, bit for bit (int64 counters included).
std::vector<uint64_t> bits_of(const tg::Module& m) {
    std::vector<uint64_t> out;
    const tg::StateDict state = m.state_dict();  // kept alive: entries() refers into it
    for (const auto& [name, value] : state.entries())
        std::visit(
            [&](const auto& t) {
                for (const auto v : t.values()) {
                    uint64_t b = 0;
                    __builtin_memcpy(&b, &v, sizeof v);
                    out.push_back(b);
                }
            },
            value);
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const tapegrad_fuzz::ScratchFile file(".safetensors");
    static tg::Sequential net = small_cnn();
    const auto& path = file.write(data, size);
    try {
        tapegrad_fuzz::read_all(tg::load_safetensors(path));
    } catch (const std::runtime_error&) {
    }
    const std::vector<uint64_t> before = bits_of(net);
    try {
        tg::load(net, path);
    } catch (const std::runtime_error&) {
        if (bits_of(net) != before) __builtin_trap();
    } catch (const std::invalid_argument&) {  // a valid file of other tensors
        if (bits_of(net) != before) __builtin_trap();
    }
    return 0;
}
