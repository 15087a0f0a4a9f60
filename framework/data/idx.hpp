// IDX reader for gzip-compressed files (the format of MNIST and Fashion-MNIST: a big-endian
// header of magic number and dimensions, then the values). Only unsigned-byte payloads (type
// 0x08) are supported; every malformed file is a std::runtime_error naming the path.
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

namespace tapegrad::data {

// The contents of an IDX file: its dimensions and its values, row-major.
struct IdxArray {
    std::vector<int64_t> dims;
    std::vector<uint8_t> values;  // shape_numel(dims) bytes
};

// Reads a gzip-compressed IDX file of unsigned bytes with `expected_ndim` dimensions
// (3 for images, magic 0x00000803; 1 for labels, magic 0x00000801). Throws
// std::runtime_error, with the path and the reason in the message, when the file is missing
// or unreadable, is not gzip, is corrupt or truncated, has another magic number, element type
// or rank, or holds more or fewer bytes than its header promises.
IdxArray read_idx_gz(const std::filesystem::path& path, int64_t expected_ndim);

}  // namespace tapegrad::data
