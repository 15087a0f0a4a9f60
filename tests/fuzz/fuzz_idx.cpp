// libFuzzer harness for the IDX reader (framework/data/idx.hpp, read_idx_gz). The first byte
// of an input says how to use the rest: bit 0 the rank the caller expects (0: 1, labels;
// 1: 3, images); bit 1 clear: the rest is an IDX stream that the harness gzips before the
// reader sees it (so mutations reach the IDX header and payload rather than dying on zlib's
// CRC); bit 1 set: the rest is the file itself (the gzip layer). A bad file must be
// std::runtime_error (idx.hpp), or std::invalid_argument / std::length_error for a size that
// does not fit; anything else aborts. What loads must hold exactly as many values
// as its dimensions promise, and is read in full.
#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

#include <tapegrad/tapegrad.hpp>

#include "scratch_file.hpp"

namespace {

volatile unsigned sink;

void write_gzip(const std::filesystem::path& path, const uint8_t* data, size_t size) {
    gzFile f = gzopen(path.c_str(), "wb1");
    if (!f || (size && gzwrite(f, data, static_cast<unsigned>(size)) != static_cast<int>(size)) || gzclose(f) != Z_OK) {
        std::fprintf(stderr, "cannot write %s\n", path.c_str());
        std::abort();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const tapegrad_fuzz::ScratchFile file(".gz");
    if (size == 0) return 0;
    const int64_t ndim = (data[0] & 1) ? 3 : 1;
    if (data[0] & 2)
        file.write(data + 1, size - 1);
    else
        write_gzip(file.path(), data + 1, size - 1);
    try {
        const tapegrad::data::IdxArray idx = tapegrad::data::read_idx_gz(file.path(), ndim);
        if (static_cast<int64_t>(idx.dims.size()) != ndim) __builtin_trap();
        int64_t numel = 1;
        for (const int64_t d : idx.dims)
            if (d < 0 || __builtin_mul_overflow(numel, d, &numel)) __builtin_trap();
        if (static_cast<uint64_t>(numel) != idx.values.size()) __builtin_trap();
        unsigned sum = 0;
        for (const uint8_t v : idx.values) sum += v;
        sink = sum;
    } catch (const std::runtime_error&) {
    } catch (const std::invalid_argument&) {
    } catch (const std::length_error&) {
    }
    return 0;
}
