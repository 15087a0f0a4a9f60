// safetensors reading and writing; see safetensors.hpp. The layout is huggingface/safetensors'
// (docs: "the format"): u64 little-endian N, N bytes of UTF-8 JSON, then the data, to which
// every data_offsets pair is relative. A reader trusts nothing in the file: the header length
// is bounded before the header is read, and every tensor's bytes are checked against its dtype,
// its shape (overflow-checked) and the size of the file before any tensor is allocated.
#include "framework/io/safetensors.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <numeric>
#include <optional>
#include <stdexcept>
#include <vector>

#include "framework/core/checked.hpp"
#include "framework/io/document.hpp"

namespace tapegrad {

namespace {

namespace fs = std::filesystem;
using io_detail::FormatError;
using io_detail::Json;

// The reference implementation's limit (safetensors' MAX_HEADER_SIZE): a header past it is an
// error rather than an allocation the file's first 8 bytes ask for.
constexpr uint64_t max_header_bytes = 100'000'000;
constexpr const char* metadata_key = "__metadata__";
// The header nests three levels: {name: {"shape": [...]}}.
constexpr size_t header_max_depth = 3;

enum class Dtype { f32, f64, i64, bf16, f16 };

struct DtypeInfo {
    Dtype dtype;
    const char* name;
    size_t size;
};
// In the order of Dtype.
constexpr DtypeInfo dtypes[] = {
    {Dtype::f32, "F32", 4},   {Dtype::f64, "F64", 8}, {Dtype::i64, "I64", 8},
    {Dtype::bf16, "BF16", 2}, {Dtype::f16, "F16", 2},
};

const DtypeInfo* find_dtype(const std::string& name) {
    for (const DtypeInfo& d : dtypes)
        if (name == d.name) return &d;
    return nullptr;
}

template <typename T> constexpr Dtype dtype_of();
template <> constexpr Dtype dtype_of<float>() { return Dtype::f32; }
template <> constexpr Dtype dtype_of<double>() { return Dtype::f64; }
template <> constexpr Dtype dtype_of<int64_t>() { return Dtype::i64; }

// --- values -------------------------------------------------------------------------------

// Every bfloat16 is the float32 with the same upper 16 bits.
float bf16_to_float(uint16_t h) { return std::bit_cast<float>(uint32_t(h) << 16); }

// IEEE binary16 → binary32, exactly: the exponent re-biased (15 → 127), the 10 mantissa bits
// moved up 13; subnormals (m · 2^-24) are normal floats, and NaN keeps its payload.
float f16_to_float(uint16_t h) {
    const uint32_t sign = uint32_t(h & 0x8000u) << 16;
    const uint32_t exponent = (h >> 10) & 0x1fu, mantissa = h & 0x3ffu;
    if (exponent == 0x1f) return std::bit_cast<float>(sign | 0x7f800000u | (mantissa << 13));
    if (exponent != 0) return std::bit_cast<float>(sign | ((exponent + 127 - 15) << 23) | (mantissa << 13));
    return std::bit_cast<float>(sign | std::bit_cast<uint32_t>(float(mantissa) * 0x1p-24f));
}

// Byte order of the file (little-endian) ↔ this machine's, in place, for n elements of
// `size` bytes at p (any alignment).
void swap_if_big_endian(void* p, int64_t n, size_t size) {
    if constexpr (std::endian::native == std::endian::big) {
        auto* bytes = static_cast<unsigned char*>(p);
        for (int64_t i = 0; i < n; ++i) std::reverse(bytes + size_t(i) * size, bytes + size_t(i + 1) * size);
    } else {
        (void)p, (void)n, (void)size;
    }
}

uint64_t read_le64(const unsigned char* p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
    return v;
}

// --- the file -----------------------------------------------------------------------------

// A file open for reading at offsets; system errors are std::runtime_error naming it.
class InputFile {
  public:
    explicit InputFile(const fs::path& path) : path_(path) {
        fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd_ < 0) fail(std::strerror(errno));
        struct stat st {};
        if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
            ::close(fd_);
            fail("not a regular file");
        }
        size_ = uint64_t(st.st_size);
    }
    ~InputFile() { ::close(fd_); }
    InputFile(const InputFile&) = delete;
    InputFile& operator=(const InputFile&) = delete;

    uint64_t size() const { return size_; }

    // Bytes [offset, offset + n) into out; a file that shrank since it was opened is a
    // FormatError naming `what` was being read.
    void read_at(uint64_t offset, void* out, size_t n, const std::string& what) const {
        auto* p = static_cast<char*>(out);
        while (n > 0) {
            const ssize_t got = ::pread(fd_, p, std::min<size_t>(n, size_t(1) << 30), off_t(offset));
            if (got < 0) {
                if (errno == EINTR) continue;
                fail(std::strerror(errno));
            }
            if (got == 0)
                throw FormatError("the file ends at byte " + std::to_string(offset) + ", inside " + what +
                                  " (it was shortened while being read)");
            p += got;
            offset += uint64_t(got);
            n -= size_t(got);
        }
    }

  private:
    [[noreturn]] void fail(const std::string& why) const {
        throw std::runtime_error("cannot load " + path_.string() + ": " + why);
    }

    fs::path path_;
    int fd_ = -1;
    uint64_t size_ = 0;
};

// --- the header ---------------------------------------------------------------------------

struct TensorInfo {
    std::string name;
    Dtype dtype;
    Shape shape;
    int64_t numel;
    uint64_t begin, end;  // data_offsets, relative to the first byte after the header
};

std::string tensor_label(const std::string& name) { return "tensor " + Json(name).dump(); }

// A JSON integer in [0, 2^63), or nothing.
std::optional<int64_t> size_value(const Json& v) {
    if (!v.is_number_unsigned() || v.get<uint64_t>() > uint64_t(INT64_MAX)) return std::nullopt;
    return int64_t(v.get<uint64_t>());
}

TensorInfo tensor_info(const std::string& name, const Json& j, uint64_t data_size) {
    const std::string who = tensor_label(name);
    if (!j.is_object())
        throw FormatError(who + ": expected {\"dtype\", \"shape\", \"data_offsets\"}, but got " + fields::describe(j));
    const fields::Reader reader(who, fields::Wording::document);
    TensorInfo t{name, Dtype::f32, {}, 0, 0, 0};

    const Json& dtype = reader.at(j, "dtype");
    if (!dtype.is_string()) throw FormatError(who + ": \"dtype\" is " + fields::describe(dtype) + ", not a string");
    const DtypeInfo* d = find_dtype(dtype.get<std::string>());
    if (!d)
        throw FormatError(who + ": unknown dtype " + dtype.dump() + " (tapegrad reads F32, F64, I64, BF16 and F16)");
    t.dtype = d->dtype;

    const Json& shape = reader.at(j, "shape");
    if (!shape.is_array()) throw FormatError(who + ": \"shape\" is " + fields::describe(shape) + ", not an array");
    for (const Json& e : shape) {
        const std::optional<int64_t> extent = size_value(e);
        if (!extent)
            throw FormatError(who + ": shape " + fields::describe(shape) +
                              " has an extent that is not an integer >= 0");
        t.shape.push_back(*extent);
    }
    size_t bytes = 0;
    try {
        t.numel = checked_numel(t.shape, "its element count");
        bytes = checked_bytes(t.numel, d->size, "its size in bytes");
    } catch (const std::length_error& e) {
        throw FormatError(who + ": shape " + to_string(t.shape) + " of " + d->name + " is too large (" + e.what() +
                          ")");
    }

    const Json& offsets = reader.at(j, "data_offsets");
    const std::optional<int64_t> begin =
        offsets.is_array() && offsets.size() == 2 ? size_value(offsets[0]) : std::nullopt;
    const std::optional<int64_t> end =
        offsets.is_array() && offsets.size() == 2 ? size_value(offsets[1]) : std::nullopt;
    if (!begin || !end)
        throw FormatError(who + ": data_offsets " + fields::describe(offsets) +
                          " is not [begin, end] of integers >= 0");
    t.begin = uint64_t(*begin);
    t.end = uint64_t(*end);
    const std::string range = "data_offsets [" + std::to_string(t.begin) + ", " + std::to_string(t.end) + "]";
    if (t.end < t.begin) throw FormatError(who + ": " + range + " end before they begin");
    if (t.end > data_size)
        throw FormatError(who + ": " + range + " run past the end of the data, which has " + std::to_string(data_size) +
                          " bytes");
    if (t.end - t.begin != bytes)
        throw FormatError(who + ": shape " + to_string(t.shape) + " of " + d->name + " takes " + std::to_string(bytes) +
                          " bytes, but " + range + " hold " + std::to_string(t.end - t.begin));
    return t;
}

// The tensors' byte ranges must cover [0, data_size) exactly once, as the reference reader
// demands: walked in order of their offsets, each begins where the one before ended.
void check_tiling(const std::vector<TensorInfo>& tensors, uint64_t data_size) {
    std::vector<size_t> order(tensors.size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
        return std::pair(tensors[a].begin, tensors[a].end) < std::pair(tensors[b].begin, tensors[b].end);
    });
    uint64_t at = 0;
    const TensorInfo* previous = nullptr;
    const auto bytes = [](uint64_t a, uint64_t b) {
        return "bytes [" + std::to_string(a) + ", " + std::to_string(b) + ")";
    };
    for (const size_t i : order) {
        const TensorInfo& t = tensors[i];
        const std::string range = "data_offsets [" + std::to_string(t.begin) + ", " + std::to_string(t.end) + "]";
        if (t.begin > at)
            throw FormatError(tensor_label(t.name) + ": " + range + " leave a gap: " + bytes(at, t.begin) +
                              " of the data belong to no tensor");
        if (t.begin < at)
            throw FormatError(tensor_label(t.name) + ": " + range + " overlap those of " +
                              tensor_label(previous->name) + ", [" + std::to_string(previous->begin) + ", " +
                              std::to_string(previous->end) + "]");
        at = t.end;
        previous = &t;
    }
    if (at != data_size)
        throw FormatError(
            bytes(at, data_size) + " of the data belong to no tensor" +
            (previous ? " (the last one, " + tensor_label(previous->name) + ", ends at " + std::to_string(at) + ")"
                      : std::string(" (the header lists none)")));
}

Json metadata_of(const Json& j) {
    if (!j.is_object())
        throw FormatError(std::string("\"") + metadata_key + "\" is " + fields::describe(j) +
                          ", not an object of strings");
    for (const auto& [key, value] : j.items())
        if (!value.is_string())
            throw FormatError(std::string("\"") + metadata_key + "\" entry " + Json(key).dump() + " is " +
                              fields::describe(value) + ", not a string");
    return j;
}

// --- reading ------------------------------------------------------------------------------

template <typename T>
BasicTensor<T> read_raw(const InputFile& file, const TensorInfo& t, uint64_t data_start) {
    BasicTensor<T> out(t.shape);
    if (t.numel > 0) file.read_at(data_start + t.begin, out.data(), size_t(t.end - t.begin), tensor_label(t.name));
    swap_if_big_endian(out.data(), t.numel, sizeof(T));
    return out;
}

Tensor read_half(const InputFile& file, const TensorInfo& t, uint64_t data_start) {
    std::vector<unsigned char> raw(size_t(t.end - t.begin));
    if (!raw.empty()) file.read_at(data_start + t.begin, raw.data(), raw.size(), tensor_label(t.name));
    Tensor out(t.shape);
    float* values = out.data();
    for (int64_t i = 0; i < t.numel; ++i) {
        const uint16_t h = uint16_t(raw[size_t(2 * i)] | (raw[size_t(2 * i + 1)] << 8));
        values[i] = t.dtype == Dtype::bf16 ? bf16_to_float(h) : f16_to_float(h);
    }
    return out;
}

StateDict read_safetensors(const InputFile& file) {
    const uint64_t size = file.size();
    if (size == 0) throw FormatError("the file is empty");
    if (size < 8)
        throw FormatError("the file is too short for the 8-byte header length (" + std::to_string(size) + " bytes)");
    unsigned char length_bytes[8];
    file.read_at(0, length_bytes, 8, "the header length");
    const uint64_t header_bytes = read_le64(length_bytes);
    if (header_bytes > max_header_bytes)
        throw FormatError("the header length " + std::to_string(header_bytes) + " is over the limit of " +
                          std::to_string(max_header_bytes) + " bytes (100 MB)");
    if (header_bytes > size - 8)
        throw FormatError("the header length " + std::to_string(header_bytes) + " runs past the end of the file (" +
                          std::to_string(size - 8) + " bytes follow it)");
    std::string text(size_t(header_bytes), '\0');
    file.read_at(8, text.data(), text.size(), "the header");
    Json header;
    try {
        header = io_detail::parse_bounded(text, io_detail::Encoding::json, header_max_depth,
                                          io_detail::DuplicateKeys::rejected);
    } catch (const FormatError& e) {
        throw FormatError(std::string("the header: ") + e.what());
    }
    if (!header.is_object()) throw FormatError("the header is " + fields::describe(header) + ", not a JSON object");

    const uint64_t data_start = 8 + header_bytes, data_size = size - data_start;
    StateDict state;
    std::vector<TensorInfo> tensors;
    for (const auto& [name, value] : header.items()) {
        if (name == metadata_key)
            state.metadata() = metadata_of(value);
        else
            tensors.push_back(tensor_info(name, value, data_size));
    }
    check_tiling(tensors, data_size);
    for (const TensorInfo& t : tensors) {
        switch (t.dtype) {
            case Dtype::f32: state.add(t.name, read_raw<float>(file, t, data_start)); break;
            case Dtype::f64: state.add(t.name, read_raw<double>(file, t, data_start)); break;
            case Dtype::i64: state.add(t.name, read_raw<int64_t>(file, t, data_start)); break;
            case Dtype::bf16:
            case Dtype::f16: state.add(t.name, read_half(file, t, data_start)); break;
        }
    }
    return state;
}

// --- writing ------------------------------------------------------------------------------

template <typename T>
size_t bytes_of(const BasicTensor<T>& t) {
    return checked_bytes(t.numel(), sizeof(T), "tensor data");
}

template <typename T>
void append_le(std::string& out, const BasicTensor<T>& t) {
    const size_t at = out.size();
    out.resize(at + bytes_of(t));
    if (t.numel() > 0) std::memcpy(out.data() + at, t.data(), bytes_of(t));
    swap_if_big_endian(out.data() + at, t.numel(), sizeof(T));
}

}  // namespace

void save_safetensors(const StateDict& state, const fs::path& path, const SafetensorsMetadata& metadata) {
    const std::string who = "save_safetensors(" + path.string() + ")";
    const Json& own = state.metadata();
    if (!own.is_object())
        throw std::invalid_argument(who + ": the metadata must be an object of strings, but it is " +
                                    fields::describe(own));
    Json meta = Json::object();
    for (const auto& [key, value] : own.items()) {
        if (!value.is_string())
            throw std::invalid_argument(who + ": safetensors metadata holds strings only, but " + Json(key).dump() +
                                        " is " + fields::describe(value));
        meta[key] = value;
    }
    for (const auto& [key, value] : metadata) meta[key] = value;

    // Data order: larger elements first (stable), so each tensor is aligned to its element size.
    const std::vector<StateDict::Entry>& entries = state.entries();
    std::vector<size_t> element_size, size;
    for (const auto& [name, value] : entries) {
        if (name == metadata_key)
            throw std::invalid_argument(who + ": a tensor cannot be called \"" + metadata_key +
                                        "\", the name safetensors keeps for the metadata");
        std::visit(
            [&](const auto& t) {
                element_size.push_back(sizeof(typename std::decay_t<decltype(t)>::value_type));
                size.push_back(bytes_of(t));
            },
            value);
    }
    std::vector<size_t> order(entries.size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return element_size[a] > element_size[b]; });
    std::vector<uint64_t> begin(entries.size());
    int64_t data_size = 0;
    for (const size_t i : order) {
        begin[i] = uint64_t(data_size);
        data_size = checked_add(data_size, int64_t(size[i]), "the data of the file");
    }

    Json header = Json::object();
    if (!meta.empty()) header[metadata_key] = std::move(meta);
    for (size_t i = 0; i < entries.size(); ++i) {
        const char* dtype = std::visit(
            [](const auto& t) {
                return dtypes[size_t(dtype_of<typename std::decay_t<decltype(t)>::value_type>())].name;
            },
            entries[i].second);
        const Shape& shape = std::visit([](const auto& t) -> const Shape& { return t.shape(); }, entries[i].second);
        header[entries[i].first] = {
            {"dtype", dtype}, {"shape", shape}, {"data_offsets", {begin[i], begin[i] + size[i]}}};
    }

    std::string text;
    try {
        text = header.dump();
    } catch (const nlohmann::json::exception& e) {  // a name that is not UTF-8
        throw std::runtime_error("cannot save " + path.string() + ": " + e.what());
    }
    text.append((8 - text.size() % 8) % 8, ' ');  // as the reference writer pads

    std::string bytes;
    bytes.reserve(8 + text.size() + size_t(data_size));
    for (int i = 0; i < 8; ++i) bytes += char((uint64_t(text.size()) >> (8 * i)) & 0xffu);
    bytes += text;
    for (const size_t i : order) std::visit([&](const auto& t) { append_le(bytes, t); }, entries[i].second);
    io_detail::write_file_atomically(path, bytes);
}

StateDict load_safetensors(const fs::path& path) {
    const InputFile file(path);
    return io_detail::with_file_context(path, [&] { return read_safetensors(file); });
}

}  // namespace tapegrad
