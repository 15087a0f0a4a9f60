// The on-disk document behind StateDict and Checkpoint (internal to framework/io): the
// {"format": "tapegrad", "version": 1, "kind": ...} header, the choice of JSON or CBOR by
// extension, tensors to and from JSON, bounded-depth parsing and atomic writes. The last two
// serve safetensors.cpp as well.
#pragma once

#include <cstddef>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "framework/io/fields.hpp"
#include "framework/io/state_dict.hpp"

namespace tapegrad::io_detail {

using Json = nlohmann::ordered_json;

inline constexpr const char* format_name = "tapegrad";
// Bump when a file written by this version cannot be read by older builds.
inline constexpr int64_t format_version = 1;

enum class Encoding { json, cbor };

// From the extension (".json" or ".cbor", in any case); std::invalid_argument naming any
// other. `also` adds to the choices that message lists (StateDict's ".safetensors (PyTorch's)").
Encoding encoding_for(const std::filesystem::path& path, std::string_view also = {});
// True for a ".safetensors" extension, in any case: StateDict's save and load hand such a file
// to safetensors.hpp.
bool is_safetensors(const std::filesystem::path& path);

// A document with the header filled in.
Json new_document(const std::string& kind);

// Where write_document puts the data before the rename. `named` (the fallback for
// filesystems without O_TMPFILE) is chosen here only by tests, to exercise that path.
enum class TempFile { unnamed_if_supported, named };

// Writes `bytes` as the file `path`, atomically: an unnamed O_TMPFILE file in the same
// directory (or a named temporary one where that is unsupported), fsync, a short-lived
// temporary name, rename over `path`. Temporary files of `path` left by killed writers are
// removed first (document.cpp, "atomic writes", says why). On failure the temporary file is
// removed, `path` is untouched, and the error is std::runtime_error naming `path`.
void write_file_atomically(const std::filesystem::path& path, std::string_view bytes,
                           TempFile how = TempFile::unnamed_if_supported);

// Serialises `doc` in the encoding of `path`'s extension and writes it with
// write_file_atomically.
void write_document(const Json& doc, const std::filesystem::path& path,
                    TempFile how = TempFile::unnamed_if_supported);

// Reads and parses `path`, checks the header and that the document is a `kind`. Errors are
// std::runtime_error naming the file.
Json read_document(const std::filesystem::path& path, const std::string& kind);

// A problem with the contents of a document; load functions add the file name. Members
// are read with a fields::Reader worded as a document (fields.hpp).
using fields::FormatError;

// Whether parse_bounded accepts an object that names a key twice (nlohmann then keeps one of
// the values, silently).
enum class DuplicateKeys { allowed, rejected };

// Parses `bytes` into a DOM, refusing nesting deeper than `max_depth` levels (nlohmann's CBOR
// reader recurses once per level, and every level of a deep array costs memory). Errors are
// FormatError: "not valid JSON (<nlohmann's message>)", "JSON nested deeper than <n> levels",
// "the key \"<k>\" appears twice in one object".
Json parse_bounded(std::string_view bytes, Encoding encoding, size_t max_depth, DuplicateKeys duplicates);

// Writes "metadata" and "tensors": [{"name", "dtype", "shape", "data"}, ...] into `into`.
// In JSON, data is an array of numbers (float32 values as the exact double; "NaN",
// "Infinity", "-Infinity" for non-finite values); in CBOR, the raw little-endian bytes
// with their "crc32" (zlib's), checked on load when present.
void encode_state_dict(const StateDict& state, Encoding encoding, Json& into);
// `where` names the part of the document in error messages ("model", ...).
StateDict decode_state_dict(const Json& j, const std::string& where);

// Runs f(); a FormatError, a nlohmann exception or a std::length_error (a size from the
// file that does not fit, framework/core/checked.hpp) becomes std::runtime_error
// "cannot load <path>: <what>".
template <typename F>
auto with_file_context(const std::filesystem::path& path, F&& f) {
    try {
        return f();
    } catch (const FormatError& e) {
        throw std::runtime_error("cannot load " + path.string() + ": " + e.what());
    } catch (const nlohmann::json::exception& e) {
        throw std::runtime_error("cannot load " + path.string() + ": " + e.what());
    } catch (const std::length_error& e) {
        throw std::runtime_error("cannot load " + path.string() + ": " + e.what());
    }
}

}  // namespace tapegrad::io_detail
