// framework/io against hostile files and hostile timing: sizes in a file that do not fit
// (shape products, byte counts) are the usual load error naming the file and the shape,
// never a crash or a huge allocation (issue 14); and a save killed at any moment leaves the
// target loadable, old or new, with no pile of temporary files.
#include <boost/test/unit_test.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include <tapegrad/tapegrad.hpp>
#include "framework/io/document.hpp"
#include "support/messages.hpp"
#include "support/temp_dir.hpp"

using tapegrad::testing::message_contains;
using tapegrad::testing::TempDir;
using tapegrad::testing::write_bytes;

using namespace tapegrad;
using Json = nlohmann::ordered_json;
namespace fs = std::filesystem;

namespace {

std::string from_hex(const std::string& hex) {
    std::string bytes;
    for (size_t i = 0; i + 1 < hex.size(); i += 2) bytes += char(std::stoi(hex.substr(i, 2), nullptr, 16));
    return bytes;
}

// The file as issue 14 gives it (112 bytes): a CBOR state dict with one float32 tensor "w" of shape
// [1, 1, 2^32, 2^30] and empty data, which 2^62 · 4 bytes wrapping to 0 used to accept.
const std::string issue_14_reproducer = from_hex(
    "a566666f726d61746874617065677261646776657273696f6e01646b696e646a73746174655f64696374686d65746164617461a067746"
    "56e736f727381a4646e616d65617765647479706567666c6f617433326573686170658401011b00000001000000001a40000000646461"
    "746140");
const Shape wrapping_shape = {1, 1, int64_t(1) << 32, int64_t(1) << 30};

// One tensor "w" of `dtype` and `shape` whose data is `data` (binary in CBOR, an array in JSON).
Json tensor_entry(const std::string& dtype, const Json& shape, Json data) {
    Json t = Json::object();
    t["name"] = "w";
    t["dtype"] = dtype;
    t["shape"] = shape;
    t["data"] = std::move(data);
    return t;
}

Json state_dict_part(Json tensor) {
    Json part = Json::object();
    part["metadata"] = Json::object();
    part["tensors"] = Json::array({std::move(tensor)});
    return part;
}

Json document(const std::string& kind) {
    Json doc = Json::object();
    doc["format"] = "tapegrad";
    doc["version"] = 1;
    doc["kind"] = kind;
    return doc;
}

Json state_dict_document(Json tensor) {
    Json doc = document("state_dict");
    Json part = state_dict_part(std::move(tensor));
    doc["metadata"] = part["metadata"];
    doc["tensors"] = part["tensors"];
    return doc;
}

// A checkpoint whose model holds `tensor`, with an empty optimizer and scheduler.
Json checkpoint_document(Json tensor) {
    Json doc = document("checkpoint");
    doc["epoch"] = 0;
    doc["rng"] = Json::object();
    doc["config"] = Json::object();
    doc["model"] = state_dict_part(std::move(tensor));
    Json empty = Json::object();
    empty["metadata"] = Json::object();
    empty["tensors"] = Json::array();
    doc["optimizer"] = empty;
    doc["scheduler"] = empty;
    return doc;
}

fs::path write_document(const TempDir& scratch, const std::string& name, const Json& doc) {
    const fs::path path = scratch / name;
    if (path.extension() == ".json") {
        write_bytes(path, doc.dump());
    } else {
        const std::vector<uint8_t> cbor = Json::to_cbor(doc);
        write_bytes(path, std::string(cbor.begin(), cbor.end()));
    }
    return path;
}

// load(path) must throw std::runtime_error "cannot load <path>: ..." containing every one of `parts`.
template <typename Load>
void rejected(const fs::path& path, Load load, const std::vector<std::string>& parts) {
    BOOST_TEST_CONTEXT("loading " << path.filename()) {
        try {
            load(path);
            BOOST_ERROR("the file was accepted");
        } catch (const std::runtime_error& e) {
            BOOST_TEST(message_contains(e, "cannot load " + path.string() + ": "));
            for (const std::string& part : parts) BOOST_TEST(message_contains(e, part));
        }
    }
}

void load_state_dict(const fs::path& path) { StateDict::load(path); }
void load_checkpoint(const fs::path& path) { Checkpoint::load(path); }

}  // namespace

BOOST_AUTO_TEST_CASE(issue_14_cbor_reproducer_is_a_load_error_naming_the_shape) {
    TempDir scratch("tapegrad_test_io_hardening");
    const fs::path path = scratch / "wraps.cbor";
    write_bytes(path, issue_14_reproducer);
    rejected(path, load_state_dict, {"tensors[0] \"w\"", "shape " + to_string(wrapping_shape) + " of float32 is too large"});
}

BOOST_AUTO_TEST_CASE(byte_counts_that_wrap_to_the_data_size_are_load_errors) {
    // Not only to 0: (2^62 + 1) · 4 bytes wraps to 4, the size of one float, and 2^61 · 8 to 0.
    TempDir scratch("tapegrad_test_io_hardening");
    const Json four_bytes = Json::binary({0, 0, 128, 63});
    rejected(write_document(scratch, "one_float.cbor",
                            state_dict_document(tensor_entry("float32", {(int64_t(1) << 62) + 1}, four_bytes))),
             load_state_dict, {"shape [4611686018427387905] of float32 is too large"});
    rejected(write_document(scratch, "double.cbor",
                            state_dict_document(tensor_entry("float64", {int64_t(1) << 61}, Json::binary({})))),
             load_state_dict, {"shape [2305843009213693952] of float64 is too large"});
}

BOOST_AUTO_TEST_CASE(json_twins_are_load_errors_naming_the_shape) {
    TempDir scratch("tapegrad_test_io_hardening");
    // The reproducer's shape in JSON: its element count fits in int64, its byte count does not.
    rejected(write_document(scratch, "wraps.json", state_dict_document(tensor_entry("float32", wrapping_shape, Json::array()))),
             load_state_dict, {"shape " + to_string(wrapping_shape) + " of float32 is too large"});
    // A shape whose element count does not fit in int64 at all.
    rejected(write_document(scratch, "product.json",
                            state_dict_document(tensor_entry("float32", {int64_t(1) << 32, int64_t(1) << 32}, Json::array()))),
             load_state_dict, {"shape [4294967296, 4294967296] is too large"});
    // Huge but representable (2^40 floats, 4 TiB), with one value: a size mismatch, nothing allocated.
    rejected(write_document(scratch, "short.json",
                            state_dict_document(tensor_entry("float32", {int64_t(1) << 20, int64_t(1) << 20}, Json::array({1.0})))),
             load_state_dict, {"shape [1048576, 1048576] needs 1099511627776 float32 values, but the data has 1"});
}

BOOST_AUTO_TEST_CASE(checkpoints_with_the_reproducers_tensor_are_load_errors) {
    TempDir scratch("tapegrad_test_io_hardening");
    for (const std::string ext : {".cbor", ".json"}) {
        const Json data = ext == ".cbor" ? Json::binary({}) : Json::array();
        rejected(write_document(scratch, "wraps" + ext, checkpoint_document(tensor_entry("float32", wrapping_shape, data))),
                 load_checkpoint, {"model.tensors[0] \"w\"", "shape " + to_string(wrapping_shape) + " of float32 is too large"});
    }
}
