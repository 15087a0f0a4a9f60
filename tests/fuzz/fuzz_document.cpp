// libFuzzer harness for the state-dict/checkpoint reader (framework/io): each input is saved
// as a ".json" or ".cbor" file (TAPEGRAD_FUZZ_EXTENSION: this source is built once per
// encoding) and loaded both as a StateDict and as a Checkpoint. The reader's contract
// (state_dict.hpp) is that a bad file is std::runtime_error; an oversized one may also be
// std::invalid_argument or std::length_error (a size that does not fit). Any other exception escapes and
// aborts, which libFuzzer reports as a crash, as it does for sanitizer errors, a malloc
// above -malloc_limit_mb and a -timeout. What loads is read in full: every value of every
// tensor, so a tensor whose shape promises more than its storage holds is a heap overflow.
#include <cstddef>
#include <cstdint>
#include <stdexcept>

#include <tapegrad/tapegrad.hpp>

#include "read_all.hpp"
#include "scratch_file.hpp"

namespace tg = tapegrad;
using tapegrad_fuzz::read_all;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const tapegrad_fuzz::ScratchFile file(TAPEGRAD_FUZZ_EXTENSION);
    const auto& path = file.write(data, size);
    try {
        read_all(tg::StateDict::load(path));
    } catch (const std::runtime_error&) {
    } catch (const std::invalid_argument&) {
    } catch (const std::length_error&) {
    }
    try {
        const tg::Checkpoint checkpoint = tg::Checkpoint::load(path);
        read_all(checkpoint.model);
        read_all(checkpoint.optimizer);
        read_all(checkpoint.scheduler);
    } catch (const std::runtime_error&) {
    } catch (const std::invalid_argument&) {
    } catch (const std::length_error&) {
    }
    return 0;
}
