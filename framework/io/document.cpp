// The on-disk document; see document.hpp.
#include "framework/io/document.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <type_traits>
#include <unordered_set>
#include <vector>

#include <zlib.h>

#include "framework/core/checked.hpp"

namespace tapegrad::io_detail {

namespace fs = std::filesystem;
using fields::describe;

namespace {

// The DOM builder of nlohmann, with a bound on nesting (its CBOR reader recurses once per
// level, so a crafted file could otherwise exhaust the stack) and, if asked, a check that no
// object names a key twice.
class BoundedDomParser {
  public:
    BoundedDomParser(Json& result, size_t max_depth, DuplicateKeys duplicates)
        : dom_(result, true), max_depth_(max_depth), check_keys_(duplicates == DuplicateKeys::rejected) {}

    bool null() { return dom_.null(); }
    bool boolean(bool v) { return dom_.boolean(v); }
    bool number_integer(Json::number_integer_t v) { return dom_.number_integer(v); }
    bool number_unsigned(Json::number_unsigned_t v) { return dom_.number_unsigned(v); }
    bool number_float(Json::number_float_t v, const Json::string_t& text) { return dom_.number_float(v, text); }
    bool string(Json::string_t& v) { return dom_.string(v); }
    bool binary(Json::binary_t& v) { return dom_.binary(v); }
    bool start_object(size_t n) {
        if (check_keys_) keys_.emplace_back();
        return enter() && dom_.start_object(n);
    }
    bool key(Json::string_t& k) {
        if (check_keys_ && !keys_.back().insert(k).second) {
            duplicate_ = k;
            return false;
        }
        return dom_.key(k);
    }
    bool end_object() {
        --depth_;
        if (check_keys_) keys_.pop_back();
        return dom_.end_object();
    }
    bool start_array(size_t n) { return enter() && dom_.start_array(n); }
    bool end_array() {
        --depth_;
        return dom_.end_array();
    }
    template <typename Exception>
    bool parse_error(size_t position, const std::string& last_token, const Exception& ex) {
        return dom_.parse_error(position, last_token, ex);
    }

    bool too_deep() const { return too_deep_; }
    // The first key found twice in one object, if any.
    const std::optional<std::string>& duplicate() const { return duplicate_; }

  private:
    bool enter() {
        if (++depth_ > max_depth_) too_deep_ = true;
        return !too_deep_;
    }

    nlohmann::detail::json_sax_dom_parser<Json> dom_;
    size_t max_depth_;
    size_t depth_ = 0;
    bool too_deep_ = false;
    bool check_keys_;
    std::vector<std::unordered_set<std::string>> keys_;  // per open object, when checked
    std::optional<std::string> duplicate_;
};

// A tapegrad document: a state dict nests 4 levels, a checkpoint's config what its user put in.
constexpr size_t document_max_depth = 256;

Json parse(const std::string& bytes, Encoding encoding) {
    if (bytes.empty()) throw FormatError("the file is empty");
    return parse_bounded(bytes, encoding, document_max_depth, DuplicateKeys::allowed);
}

void check_header(const Json& doc, const std::string& kind) {
    const auto format = doc.is_object() ? doc.find("format") : doc.end();
    if (!doc.is_object() || format == doc.end() || *format != format_name)
        throw FormatError("not a tapegrad file (expected a {\"format\": \"tapegrad\", \"version\": ...} header)");
    const auto version = doc.find("version");
    if (version == doc.end() || !version->is_number_integer())
        throw FormatError("the header has no integer \"version\"");
    if (version->is_number_unsigned() ? version->get<uint64_t>() > uint64_t(format_version)
                                      : version->get<int64_t>() > format_version)
        throw FormatError("written by a newer tapegrad (format version " + version->dump() +
                          "); this build reads format version " + std::to_string(format_version) + " and older");
    if (version->get<int64_t>() < 1) throw FormatError("unsupported format version " + version->dump());
    const auto found = doc.find("kind");
    if (found == doc.end() || !found->is_string())
        throw FormatError("the header has no \"kind\" (expected \"" + kind + "\")");
    if (*found != kind)
        throw FormatError("the file holds a " + found->get<std::string>() + ", not a " + kind);
}

// Objects and arrays of objects are indented one level per line; an array of scalars (a
// shape, a tensor's values) stays on one line, so a file reads like a table of tensors.
void write_readable(std::string& out, const Json& j, int indent) {
    const auto newline = [&](int level) {
        out += '\n';
        out.append(size_t(2 * level), ' ');
    };
    if (j.is_object() && !j.empty()) {
        out += '{';
        bool first = true;
        for (const auto& [key, value] : j.items()) {
            if (!first) out += ',';
            first = false;
            newline(indent + 1);
            out += Json(key).dump();
            out += ": ";
            write_readable(out, value, indent + 1);
        }
        newline(indent);
        out += '}';
    } else if (j.is_array() && std::any_of(j.begin(), j.end(), [](const Json& e) { return e.is_structured(); })) {
        out += '[';
        for (size_t i = 0; i < j.size(); ++i) {
            if (i) out += ',';
            newline(indent + 1);
            write_readable(out, j[i], indent + 1);
        }
        newline(indent);
        out += ']';
    } else {
        std::string flat = j.dump();
        if (j.is_array()) {  // "[1,2,3]" → "[1, 2, 3]", outside strings
            std::string spaced;
            spaced.reserve(flat.size() + j.size());
            bool in_string = false, escaped = false;
            for (const char c : flat) {
                spaced += c;
                if (in_string) {
                    if (escaped)
                        escaped = false;
                    else if (c == '\\')
                        escaped = true;
                    else if (c == '"')
                        in_string = false;
                } else if (c == '"') {
                    in_string = true;
                } else if (c == ',') {
                    spaced += ' ';
                }
            }
            flat = std::move(spaced);
        }
        out += flat;
    }
}

std::string read_file(const fs::path& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw std::runtime_error("cannot load " + path.string() + ": " + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        ::close(fd);
        throw std::runtime_error("cannot load " + path.string() + ": not a regular file");
    }
    std::string bytes;
    bytes.reserve(size_t(st.st_size));
    char buffer[1 << 16];
    for (;;) {
        const ssize_t n = ::read(fd, buffer, sizeof buffer);
        if (n == 0) break;
        if (n < 0) {
            if (errno == EINTR) continue;
            const int err = errno;
            ::close(fd);
            throw std::runtime_error("cannot load " + path.string() + ": " + std::strerror(err));
        }
        bytes.append(buffer, size_t(n));
    }
    ::close(fd);
    return bytes;
}

// --- atomic writes ------------------------------------------------------------------------
//
// A save must leave the target either as it was or complete, and — when the process is
// killed at any moment (200 SIGKILLs once left 74 temporary files behind) — nothing
// else behind. rename(2) over the target is the only atomic replace, and it needs the new
// file to have a name in the same directory; linkat(2) cannot replace an existing name. So:
//   1. On Linux the data is written into an unnamed file, open(dir, O_TMPFILE), and fsynced;
//      if the writer dies during this, the longest step, the kernel drops the file.
//   2. The finished file is linked under the temporary name ".<target>.tmp.<pid>.<n>" and at
//      once renamed over the target: the name exists only between two system calls.
//   Where the filesystem has no O_TMPFILE (EOPNOTSUPP; EISDIR from kernels before 3.11;
//   NFS, some FUSE) or the file cannot be linked (no /proc), the data goes into the named
//   temporary file itself, and then it exists for the whole write, as it always did.
// A writer killed while its temporary file has a name leaves that one file. So each save
// first removes the temporary files of its own target whose writer pid no longer exists
// (kill(pid, 0) is ESRCH): after any kill there is at most one leftover, and none after the
// next save. Pids are those of this machine: a directory shared with writers in another pid
// namespace (another host over NFS) may see such a writer's temporary file removed, which
// makes that save fail with "the previous file, if any, is unchanged", never tears a file;
// a reused pid only keeps a leftover until that process ends.

// ".<target name>.tmp."; a temporary file is that, then "<pid>.<n>" in decimal.
std::string temp_prefix(const fs::path& path) { return "." + path.filename().string() + ".tmp."; }

// The writer pid of a temporary file of `path` called `name`, or 0 if it is no such name.
pid_t temp_writer(const std::string& name, const std::string& prefix) {
    if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) return 0;
    const std::string rest = name.substr(prefix.size());
    const size_t dot = rest.find('.');
    const auto digits = [](const std::string& t) {
        return !t.empty() && t.size() <= 18 &&
               std::all_of(t.begin(), t.end(), [](unsigned char c) { return std::isdigit(c); });
    };
    if (dot == std::string::npos || !digits(rest.substr(0, dot)) || !digits(rest.substr(dot + 1))) return 0;
    const long long pid = std::stoll(rest.substr(0, dot));
    return pid > 0 && pid <= std::numeric_limits<pid_t>::max() ? pid_t(pid) : 0;
}

// Removes the temporary files of `path` left by writers that are gone; best effort.
void remove_stale_temps(const fs::path& dir, const fs::path& path) {
    const std::string prefix = temp_prefix(path);
    std::error_code error;
    for (fs::directory_iterator it(dir, error), end; !error && it != end; it.increment(error)) {
        const pid_t writer = temp_writer(it->path().filename().string(), prefix);
        // This process's own temporary files belong to saves in flight on other threads.
        if (writer <= 0 || writer == ::getpid()) continue;
        if (::kill(writer, 0) != 0 && errno == ESRCH) ::unlink(it->path().c_str());
    }
}

// Writes all of data; false with errno set on an error.
bool write_all(int fd, const char* data, size_t size) {
    while (size > 0) {
        const ssize_t n = ::write(fd, data, std::min<size_t>(size, size_t(1) << 30));
        if (n < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        data += n;
        size -= size_t(n);
    }
    return true;
}

}  // namespace

void write_file_atomically(const fs::path& path, std::string_view bytes, [[maybe_unused]] TempFile how) {
    const char* const data = bytes.data();
    const size_t size = bytes.size();
    const fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
    remove_stale_temps(dir, path);
    static std::atomic<uint64_t> counter{0};
    const auto next_temp = [&] {
        return dir / (temp_prefix(path) + std::to_string(::getpid()) + "." + std::to_string(counter++));
    };
    fs::path temp;  // named once it exists under that name
    int fd = -1;
    const auto fail = [&](const std::string& step) {
        const int err = errno;
        if (fd >= 0) ::close(fd);
        if (!temp.empty()) ::unlink(temp.c_str());
        throw std::runtime_error("cannot save " + path.string() + ": " + step + ": " + std::strerror(err) +
                                 " (the previous file, if any, is unchanged)");
    };
    const auto cannot_create = [&] {
        const int err = errno;
        throw std::runtime_error("cannot save " + path.string() + ": cannot create a temporary file in " +
                                 dir.string() + ": " + std::strerror(err));
    };

    bool linked = false;
#ifdef O_TMPFILE
    if (how == TempFile::unnamed_if_supported) {
        fd = ::open(dir.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) cannot_create();
        if (fd >= 0) {
            if (!write_all(fd, data, size)) fail("writing the new file");
            if (::fsync(fd) != 0) fail("flushing the new file to disk");
            const std::string self = "/proc/self/fd/" + std::to_string(fd);
            for (int attempt = 0; !linked && attempt <= 100; ++attempt) {
                const fs::path name = next_temp();
                // Without /proc, AT_EMPTY_PATH links the descriptor itself (it needs CAP_DAC_READ_SEARCH).
                linked = ::linkat(AT_FDCWD, self.c_str(), AT_FDCWD, name.c_str(), AT_SYMLINK_FOLLOW) == 0 ||
                         (errno != EEXIST && ::linkat(fd, "", AT_FDCWD, name.c_str(), AT_EMPTY_PATH) == 0);
                if (linked) temp = name;
                else if (errno != EEXIST) break;
            }
            const int closed = ::close(fd);
            fd = -1;
            if (linked && closed != 0) fail("closing the new file");
            // Not linked: the unnamed file goes away with the descriptor; write the named way.
        }
    }
#endif
    if (!linked) {
        for (int attempt = 0; fd < 0; ++attempt) {
            const fs::path name = next_temp();
            fd = ::open(name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
            if (fd >= 0) temp = name;
            else if (errno != EEXIST || attempt == 100) cannot_create();
        }
        if (!write_all(fd, data, size)) fail("writing " + temp.string());
        if (::fsync(fd) != 0) fail("flushing " + temp.string() + " to disk");
        const int closed = ::close(fd);
        fd = -1;
        if (closed != 0) fail("closing " + temp.string());
    }
    if (::rename(temp.c_str(), path.c_str()) != 0) fail("renaming " + temp.string() + " over it");
    // Make the rename durable too; the data is already safe, so a failure here is ignored.
    const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd >= 0) {
        ::fsync(dir_fd);
        ::close(dir_fd);
    }
}

namespace {

// --- tensor values ------------------------------------------------------------------------

uint32_t crc32_of(const std::vector<uint8_t>& bytes) {
    return uint32_t(::crc32_z(::crc32_z(0, nullptr, 0), bytes.data(), bytes.size()));
}

template <typename T>
Json values_to_json(const BasicTensor<T>& t, Encoding encoding) {
    const std::span<const T> values = t.values();
    if (encoding == Encoding::cbor) {
        std::vector<uint8_t> bytes(checked_bytes(int64_t(values.size()), sizeof(T), "tensor data"));
        if constexpr (std::endian::native == std::endian::little) {
            if (!values.empty()) std::memcpy(bytes.data(), values.data(), bytes.size());
        } else {
            for (size_t i = 0; i < values.size(); ++i) {
                const auto* v = reinterpret_cast<const uint8_t*>(&values[i]);
                std::reverse_copy(v, v + sizeof(T), bytes.data() + i * sizeof(T));
            }
        }
        return Json::binary(std::move(bytes));
    }
    Json array = Json::array();
    array.get_ref<Json::array_t&>().reserve(values.size());
    for (const T v : values) {
        if constexpr (std::is_integral_v<T>)
            array.push_back(v);  // a JSON integer, exact at any magnitude
        else if (std::isnan(v))
            array.push_back("NaN");
        else if (std::isinf(v))
            array.push_back(v > 0 ? "Infinity" : "-Infinity");
        else
            array.push_back(static_cast<double>(v));  // exact for float
    }
    return array;
}

// The tensor's bytes are sized (overflow-checked) before anything is compared or allocated:
// a shape whose byte count wraps could otherwise match a short data block and yield a tensor
// far larger than its storage.
template <typename T>
BasicTensor<T> values_from_json(const Json& data, std::optional<uint32_t> expected_crc, const Shape& shape,
                                int64_t numel, const std::string& where) {
    size_t size_in_bytes = 0;
    try {
        size_in_bytes = checked_bytes(numel, sizeof(T), "its size in bytes");
    } catch (const std::length_error& e) {
        throw FormatError(where + ": shape " + to_string(shape) + " of " + dtype_name<T>() + " is too large (" +
                          e.what() + ")");
    }
    const std::string needs =
        "shape " + to_string(shape) + " needs " + std::to_string(numel) + " " + dtype_name<T>() + " values";
    if (data.is_binary()) {
        const auto& bytes = data.get_binary();
        if (expected_crc && *expected_crc != crc32_of(bytes))
            throw FormatError(where + ": the data is corrupt (its CRC-32 is " + std::to_string(crc32_of(bytes)) +
                              ", but the file says " + std::to_string(*expected_crc) + ")");
        if (bytes.size() != size_in_bytes)
            throw FormatError(where + ": " + needs + " (" + std::to_string(size_in_bytes) +
                              " bytes), but the data has " + std::to_string(bytes.size()) + " bytes");
        BasicTensor<T> t(shape);
        if constexpr (std::endian::native == std::endian::little) {
            if (numel > 0) std::memcpy(t.data(), bytes.data(), bytes.size());
        } else {
            for (int64_t i = 0; i < numel; ++i)
                std::reverse_copy(bytes.data() + i * sizeof(T), bytes.data() + (i + 1) * sizeof(T),
                                  reinterpret_cast<uint8_t*>(t.data() + i));
        }
        return t;
    }
    if (!data.is_array()) throw FormatError(where + ": \"data\" is neither an array of numbers nor binary");
    if (data.size() != size_t(numel))
        throw FormatError(where + ": " + needs + ", but the data has " + std::to_string(data.size()));
    BasicTensor<T> t(shape);
    T* out = t.data();
    for (int64_t i = 0; i < numel; ++i) {
        const Json& v = data[size_t(i)];
        if constexpr (std::is_integral_v<T>) {
            if (!v.is_number_integer() || (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX)))
                throw FormatError(where + ": data[" + std::to_string(i) + "] = " + describe(v) + " is not an int64");
            out[i] = v.get<int64_t>();
        } else if (v.is_number()) {
            const double d = v.get<double>();
            if (std::abs(d) > double(std::numeric_limits<T>::max()))
                throw FormatError(where + ": data[" + std::to_string(i) + "] = " + v.dump() +
                                  " is out of the range of " + dtype_name<T>());
            out[i] = static_cast<T>(d);
        } else if (v == "NaN") {
            out[i] = std::numeric_limits<T>::quiet_NaN();
        } else if (v == "Infinity" || v == "-Infinity") {
            out[i] = v == "Infinity" ? std::numeric_limits<T>::infinity() : -std::numeric_limits<T>::infinity();
        } else {
            throw FormatError(where + ": data[" + std::to_string(i) + "] = " + describe(v) + " is not a number");
        }
    }
    return t;
}

std::string lower_extension(const fs::path& path) {
    std::string ext = path.extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    return ext;
}

}  // namespace

// --- public (to framework/io) -------------------------------------------------------------

Encoding encoding_for(const fs::path& path, std::string_view also) {
    const std::string lower = lower_extension(path);
    if (lower == ".json") return Encoding::json;
    if (lower == ".cbor") return Encoding::cbor;
    const std::string ext = path.extension().string();
    const std::string choices = also.empty() ? std::string(".json (readable) or .cbor (compact)")
                                             : ".json (readable), .cbor (compact) or " + std::string(also);
    throw std::invalid_argument("unsupported file extension " +
                                (ext.empty() ? std::string("(none)") : "\"" + ext + "\"") + " in " + path.string() +
                                ": expected " + choices);
}

bool is_safetensors(const fs::path& path) { return lower_extension(path) == ".safetensors"; }

Json parse_bounded(std::string_view bytes, Encoding encoding, size_t max_depth, DuplicateKeys duplicates) {
    Json doc;
    BoundedDomParser sax(doc, max_depth, duplicates);
    const char* what = encoding == Encoding::json ? "JSON" : "CBOR";
    bool ok = false;
    try {
        ok = Json::sax_parse(bytes.begin(), bytes.end(), &sax,
                             encoding == Encoding::json ? Json::input_format_t::json : Json::input_format_t::cbor);
    } catch (const nlohmann::json::parse_error& e) {
        throw FormatError(std::string("not valid ") + what + " (" + e.what() + ")");
    }
    if (sax.too_deep())
        throw FormatError(std::string(what) + " nested deeper than " + std::to_string(max_depth) + " levels");
    if (sax.duplicate()) throw FormatError("the key " + Json(*sax.duplicate()).dump() + " appears twice in one object");
    if (!ok) throw FormatError(std::string("not valid ") + what);
    return doc;
}

Json new_document(const std::string& kind) {
    Json doc = Json::object();
    doc["format"] = format_name;
    doc["version"] = format_version;
    doc["kind"] = kind;
    return doc;
}

void write_document(const Json& doc, const fs::path& path, TempFile how) {
    const Encoding encoding = encoding_for(path);
    std::string bytes;
    try {
        if (encoding == Encoding::json) {
            write_readable(bytes, doc, 0);
            bytes += '\n';
        } else {
            const std::vector<uint8_t> cbor = Json::to_cbor(doc);
            bytes.assign(cbor.begin(), cbor.end());
        }
    } catch (const nlohmann::json::exception& e) {
        throw std::runtime_error("cannot save " + path.string() + ": " + e.what());
    }
    write_file_atomically(path, bytes, how);
}

Json read_document(const fs::path& path, const std::string& kind) {
    const Encoding encoding = encoding_for(path);
    const std::string bytes = read_file(path);
    return with_file_context(path, [&] {
        Json doc = parse(bytes, encoding);
        check_header(doc, kind);
        return doc;
    });
}

void encode_state_dict(const StateDict& state, Encoding encoding, Json& into) {
    into["metadata"] = state.metadata();
    Json tensors = Json::array();
    for (const auto& [name, value] : state.entries()) {
        Json t = Json::object();
        t["name"] = name;
        std::visit(
            [&](const auto& tensor) {
                using T = typename std::decay_t<decltype(tensor)>::value_type;
                t["dtype"] = dtype_name<T>();
                t["shape"] = tensor.shape();
                t["data"] = values_to_json(tensor, encoding);
                if (t["data"].is_binary()) t["crc32"] = crc32_of(t["data"].get_binary());
            },
            value);
        tensors.push_back(std::move(t));
    }
    into["tensors"] = std::move(tensors);
}

StateDict decode_state_dict(const Json& j, const std::string& where) {
    const std::string prefix = where.empty() ? std::string() : where + ".";
    const fields::Reader document(where.empty() ? "document" : where, fields::Wording::document);
    StateDict state;
    state.metadata() = document.at(j, "metadata");
    const Json& tensors = document.at(j, "tensors");
    if (!tensors.is_array()) throw FormatError(prefix + "tensors: expected an array, but got " + describe(tensors));
    for (size_t i = 0; i < tensors.size(); ++i) {
        std::string at = prefix + "tensors[" + std::to_string(i) + "]";
        const Json& name = fields::Reader(at, fields::Wording::document).at(tensors[i], "name");
        if (!name.is_string()) throw FormatError(at + ": \"name\" is not a string");
        at += " \"" + name.get<std::string>() + "\"";
        if (state.contains(name.get<std::string>())) throw FormatError(at + ": the name appears twice");
        const fields::Reader tensor(at, fields::Wording::document);
        const Json& dtype = tensor.at(tensors[i], "dtype");
        const Json& shape_json = tensor.at(tensors[i], "shape");
        if (!shape_json.is_array()) throw FormatError(at + ": \"shape\" is not an array");
        const fields::Reader extents(at + ": shape", fields::Wording::document);
        Shape shape;
        for (const Json& e : shape_json) {
            const int64_t extent = extents.integer(e);
            if (extent < 0) throw FormatError(at + ": negative extent in shape " + shape_json.dump());
            shape.push_back(extent);
        }
        int64_t numel = 1;
        try {
            for (const int64_t extent : shape) numel = checked_mul(numel, extent, "its element count");
        } catch (const std::length_error& e) {
            throw FormatError(at + ": shape " + to_string(shape) + " is too large (" + e.what() + ")");
        }
        const Json& data = tensor.at(tensors[i], "data");
        std::optional<uint32_t> expected_crc;
        if (tensors[i].contains("crc32")) {
            const int64_t value = tensor.integer(tensors[i], "crc32");
            if (value < 0 || value > int64_t(UINT32_MAX)) throw FormatError(at + ": crc32 is out of range");
            expected_crc = uint32_t(value);
        }
        if (dtype == "float32")
            state.add(name.get<std::string>(), values_from_json<float>(data, expected_crc, shape, numel, at));
        else if (dtype == "float64")
            state.add(name.get<std::string>(), values_from_json<double>(data, expected_crc, shape, numel, at));
        else if (dtype == "int64")
            state.add(name.get<std::string>(), values_from_json<int64_t>(data, expected_crc, shape, numel, at));
        else
            throw FormatError(at + ": unsupported dtype " + describe(dtype) +
                              " (expected \"float32\", \"float64\" or \"int64\")");
    }
    return state;
}

}  // namespace tapegrad::io_detail
