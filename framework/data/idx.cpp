// read_idx_gz; see idx.hpp.
#include "framework/data/idx.hpp"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>

#include "framework/core/checked.hpp"

namespace tapegrad::data {

namespace {

[[noreturn]] void fail(const std::filesystem::path& path, const std::string& reason) {
    throw std::runtime_error("IDX file '" + path.string() + "': " + reason);
}

std::string hex(uint32_t v, int digits) {
    char text[16];
    std::snprintf(text, sizeof text, "0x%0*X", digits, v);
    return text;
}

struct GzClose {
    void operator()(gzFile f) const { gzclose(f); }
};
using GzFile = std::unique_ptr<std::remove_pointer_t<gzFile>, GzClose>;

// Reads up to n bytes; a short count means the decompressed stream ended. Throws when zlib
// reports corrupt or truncated compressed data.
int64_t read_some(gzFile f, uint8_t* out, int64_t n, const std::filesystem::path& path) {
    int64_t done = 0;
    while (done < n) {
        const unsigned chunk = static_cast<unsigned>(std::min<int64_t>(n - done, int64_t{1} << 24));
        const int got = gzread(f, out + done, chunk);
        int errnum = Z_OK;
        const char* message = gzerror(f, &errnum);
        if (got < 0 || (errnum != Z_OK && errnum != Z_STREAM_END)) {
            const std::string detail = errnum == Z_ERRNO ? std::strerror(errno) : message;
            fail(path, "truncated or corrupt gzip data after " + std::to_string(done + std::max(got, 0)) +
                           " decompressed bytes (zlib: " + detail + ")");
        }
        if (got == 0) break;
        done += got;
    }
    return done;
}

}  // namespace

IdxArray read_idx_gz(const std::filesystem::path& path, int64_t expected_ndim) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) fail(path, "no such file");
    if (std::filesystem::is_directory(path, ec)) fail(path, "is a directory, not a file");

    // zlib reads a file without a gzip header transparently; this reader insists on gzip so
    // that a stray text file is reported as what it is.
    {
        std::ifstream raw(path, std::ios::binary);
        if (!raw) fail(path, std::string("cannot open: ") + std::strerror(errno));
        std::array<unsigned char, 2> magic{};
        raw.read(reinterpret_cast<char*>(magic.data()), 2);
        if (raw.gcount() < 2 || magic[0] != 0x1f || magic[1] != 0x8b)
            fail(path, "not a gzip file (it does not start with the gzip magic bytes 1f 8b)");
    }

    GzFile file(gzopen(path.c_str(), "rb"));
    if (!file) fail(path, std::string("cannot open: ") + std::strerror(errno));
    gzbuffer(file.get(), 1 << 17);

    // Header: magic (0, 0, type, ndim), then ndim big-endian uint32 extents.
    const uint32_t expected_magic = 0x800u | static_cast<uint32_t>(expected_ndim);
    const std::string expected_text = hex(expected_magic, 8) + " (unsigned bytes, " + std::to_string(expected_ndim) +
                                      (expected_ndim == 1 ? " dimension)" : " dimensions)");
    std::array<uint8_t, 4> head{};
    if (read_some(file.get(), head.data(), 4, path) < 4)
        fail(path, "truncated: the file ends inside the 4-byte magic number");
    const uint32_t magic = (uint32_t{head[0]} << 24) | (uint32_t{head[1]} << 16) | (uint32_t{head[2]} << 8) | head[3];
    if (head[0] != 0 || head[1] != 0)
        fail(path, "not an IDX file: magic number " + hex(magic, 8) + " does not start with two zero bytes; expected " +
                       expected_text);
    if (head[2] != 0x08)
        fail(path, "wrong magic number " + hex(magic, 8) + ": element type " + hex(head[2], 2) +
                       " is not 0x08 (unsigned byte), the only type supported; expected " + expected_text);
    if (head[3] != expected_ndim)
        fail(path, "wrong magic number " + hex(magic, 8) + ": " + std::to_string(head[3]) +
                       (head[3] == 1 ? " dimension; expected " : " dimensions; expected ") + expected_text);

    IdxArray out;
    std::vector<uint8_t> dims_raw(4 * static_cast<size_t>(expected_ndim));
    if (read_some(file.get(), dims_raw.data(), static_cast<int64_t>(dims_raw.size()), path) <
        static_cast<int64_t>(dims_raw.size()))
        fail(path, "truncated: the file ends inside the header's dimensions");
    for (int64_t d = 0; d < expected_ndim; ++d) {
        const uint8_t* b = dims_raw.data() + 4 * d;
        out.dims.push_back((int64_t{b[0]} << 24) | (int64_t{b[1]} << 16) | (int64_t{b[2]} << 8) | b[3]);
    }
    // Counted before anything is allocated. A header whose product does not fit in int64 is
    // this reader's usual error (std::runtime_error naming the file), naming the dimensions;
    // one that fits but promises more than the file holds is reported as truncation below,
    // having grown the buffer only as far as the data went.
    int64_t total = 0;
    try {
        total = checked_numel(out.dims, [&] {
            std::string dims;
            for (int64_t e : out.dims) dims += (dims.empty() ? "" : " x ") + std::to_string(e);
            return "the header's dimensions " + dims;
        });
    } catch (const std::length_error& e) {
        fail(path, e.what());
    }

    // Grows the buffer chunk by chunk, so that a header promising far more than the file holds
    // is reported as truncation rather than exhausting memory.
    out.values.reserve(static_cast<size_t>(std::min<int64_t>(total, int64_t{1} << 28)));
    int64_t have = 0;
    while (have < total) {
        const int64_t chunk = std::min<int64_t>(total - have, int64_t{1} << 24);
        out.values.resize(static_cast<size_t>(have + chunk));
        const int64_t got = read_some(file.get(), out.values.data() + have, chunk, path);
        have += got;
        if (got < chunk) {
            std::string shape;
            for (int64_t e : out.dims) shape += (shape.empty() ? "" : " x ") + std::to_string(e);
            fail(path, "truncated: the header promises " + shape + " = " + std::to_string(total) +
                           " bytes of values, but the file holds only " + std::to_string(have));
        }
    }

    std::array<uint8_t, 1 << 12> extra{};
    int64_t trailing = 0;
    for (int64_t got; (got = read_some(file.get(), extra.data(), extra.size(), path)) > 0;) trailing += got;
    if (trailing > 0)
        fail(path, "has " + std::to_string(trailing) + (trailing == 1 ? " trailing byte" : " trailing bytes") +
                       " after the " + std::to_string(total) + " bytes of values its header promises");
    return out;
}

}  // namespace tapegrad::data
