// framework/io/safetensors: exact round trips and the file's layout; PyTorch-made files (the
// golden fixtures of tests/golden/make_safetensors_golden.py) giving PyTorch's logits and its
// float32 of every BF16 and F16 value; every malformed case by name, each an error naming the
// file (and the tensor) that leaves the model unchanged; and a few hundred damaged files.
#include <boost/test/unit_test.hpp>

#include <bit>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <tapegrad/tapegrad.hpp>
#include "framework/io/safetensors.hpp"
#include "support/golden.hpp"
#include "support/messages.hpp"
#include "support/temp_dir.hpp"
#include "support/tensors.hpp"

using tapegrad::testing::message_contains;
using tapegrad::testing::read_bytes;
using tapegrad::testing::same_bits;
using tapegrad::testing::TempDir;
using tapegrad::testing::write_bytes;

using namespace tapegrad;
using Json = nlohmann::ordered_json;
namespace fs = std::filesystem;

namespace {

fs::path golden_file(const std::string& name) { return tapegrad::testing::golden_path(name); }

// The 8-byte little-endian length (the header's own unless `length` says otherwise), the
// header text, the data: a file as a writer lays it out, or as a broken one does.
std::string raw_file(const std::string& header, const std::string& data = {}, std::optional<uint64_t> length = {}) {
    const uint64_t n = length.value_or(header.size());
    std::string out;
    for (int i = 0; i < 8; ++i) out += char((n >> (8 * i)) & 0xffu);
    return out + header + data;
}

uint64_t header_length(const std::string& file) {
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | uint8_t(file[size_t(i)]);
    return n;
}

Json header_of(const std::string& file) { return Json::parse(file.substr(8, header_length(file))); }

// The small CNN of make_safetensors_golden.py, as tapegrad layers.
Sequential small_cnn() {
    return Sequential(Conv2d(1, 4, 3, 1, 1), GroupNorm(2, 4), ReLU(), MaxPool2d(2), Conv2d(4, 8, 3, 1, 1),
                      BatchNorm2d(8), ReLU(), MaxPool2d(2), Flatten(), Linear(8 * 3 * 3, 16), ReLU(), Linear(16, 10));
}

// Every parameter and buffer of a module, in order, as doubles (int64 counters included).
std::vector<double> values_of(const Module& m) {
    std::vector<double> out;
    const StateDict state = m.state_dict();  // kept alive: entries() refers into it
    for (const auto& [name, value] : state.entries())
        std::visit([&](const auto& t) { for (const auto v : t.values()) out.push_back(double(v)); }, value);
    return out;
}

StateDict mixed_state() {
    Generator gen(7);
    StateDict s;
    s.add("0.weight", randn<float>({3, 2, 3}, &gen));
    s.add("1.running_var", randn<double>({5}, &gen));
    s.add("1.num_batches_tracked", from_vector<int64_t>({}, {int64_t{3}}));
    s.add("edges", from_vector<float>(
                       {6}, {-0.0f, std::numeric_limits<float>::infinity(), std::numeric_limits<float>::denorm_min(),
                             std::numeric_limits<float>::max(), std::bit_cast<float>(0x7fc01234u), 1.0f}));
    s.add("counts", from_vector<int64_t>({2, 2}, {INT64_MIN, -1, 0, INT64_MAX}));
    s.add("scalar", full<float>({}, 2.5f));
    s.add("empty", zeros<float>({0, 3}));
    s.add("ünï.cödé", full<double>({1}, 1.0 / 3.0));
    return s;
}

void check_same(const StateDict& a, const StateDict& b) {
    BOOST_TEST(a.names() == b.names(), boost::test_tools::per_element());
    for (const auto& entry : a.entries()) {
        const std::string& name = entry.first;  // a lambda below uses it: no structured binding (clang 14)
        const StateDict::Value& value = entry.second;
        BOOST_TEST_CONTEXT("tensor " << name) {
            BOOST_TEST_REQUIRE(a.dtype(name) == b.dtype(name));
            std::visit([&](const auto& t) {
                using T = typename std::decay_t<decltype(t)>::value_type;
                BOOST_TEST(same_bits(t, b.get<T>(name)));
            }, value);
        }
    }
}

// load_safetensors(path) must throw std::runtime_error "cannot load <path>: ..." containing
// every one of `parts`, and load(model, path) must throw and leave a model unchanged.
void rejected(const fs::path& path, const std::vector<std::string>& parts) {
    BOOST_TEST_CONTEXT("file " << path.filename()) {
        try {
            load_safetensors(path);
            BOOST_ERROR("expected std::runtime_error");
        } catch (const std::runtime_error& e) {
            BOOST_TEST(message_contains(e, "cannot load " + path.string() + ": "));
            for (const std::string& part : parts) BOOST_TEST(message_contains(e, part));
        }
        Sequential net = small_cnn();
        const std::vector<double> before = values_of(net);
        BOOST_CHECK_THROW(load(net, path), std::runtime_error);
        BOOST_TEST(values_of(net) == before, boost::test_tools::per_element());
    }
}

// A file of one F32 tensor "w" with the given members, and `data` after the header.
std::string one_tensor(const std::string& members, const std::string& data) {
    return raw_file("{\"w\":{" + members + "}}", data);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(round_trips)

BOOST_AUTO_TEST_CASE(every_dtype_and_shape_comes_back_bit_for_bit_in_order) {
    TempDir scratch("tapegrad_test_safetensors");
    StateDict s = mixed_state();
    s.metadata()["note"] = "from a test";
    save_safetensors(s, scratch / "mixed.safetensors", {{"epoch", "3"}});
    const StateDict back = load_safetensors(scratch / "mixed.safetensors");
    check_same(s, back);
    BOOST_TEST(back.metadata() == Json({{"note", "from a test"}, {"epoch", "3"}}));
    BOOST_TEST(back.get<float>("scalar").shape().empty());
    BOOST_TEST(to_string(back.get<float>("empty").shape()) == "[0, 3]");
    // Through StateDict's own save and load, by the extension (in any case).
    s.save(scratch / "again.SafeTensors");
    check_same(s, StateDict::load(scratch / "again.SafeTensors"));
    BOOST_TEST(scratch.files() == std::vector<std::string>({"again.SafeTensors", "mixed.safetensors"}),
               boost::test_tools::per_element());  // no temporary file left
}

BOOST_AUTO_TEST_CASE(the_layout_is_the_reference_writers) {
    TempDir scratch("tapegrad_test_safetensors");
    StateDict s;
    s.add("a", from_vector<float>({3}, {1.0f, 2.0f, 3.0f}));
    s.add("n", from_vector<int64_t>({}, {int64_t{258}}));
    s.add("b", from_vector<double>({1, 1}, {-2.0}));
    save_safetensors(s, scratch / "x.safetensors", {{"format", "pt"}});
    const std::string file = read_bytes(scratch / "x.safetensors");
    const uint64_t n = header_length(file);
    BOOST_TEST(n % 8 == 0);
    const std::string text = file.substr(8, n);
    BOOST_TEST(text.find_last_not_of(' ') + 1 > n - 8);  // padded with fewer than 8 spaces
    // __metadata__ first, tensors in the state's order; data largest elements first (I64, F64, F32).
    BOOST_TEST(header_of(file).dump() ==
               R"({"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[3],"data_offsets":[16,28]},)"
               R"("n":{"dtype":"I64","shape":[],"data_offsets":[0,8]},)"
               R"("b":{"dtype":"F64","shape":[1,1],"data_offsets":[8,16]}})");
    BOOST_TEST(file.size() == 8 + n + 28);
    const std::string data = file.substr(8 + n);
    BOOST_TEST(data.substr(0, 8) == std::string("\x02\x01\0\0\0\0\0\0", 8));        // 258, little-endian
    BOOST_TEST(data.substr(16, 4) == std::string("\0\0\x80\x3f", 4));               // 1.0f
    BOOST_TEST(data.substr(8, 8) == std::string("\0\0\0\0\0\0\0\xc0", 8));          // -2.0
}

BOOST_AUTO_TEST_CASE(a_module_saves_and_loads_under_pytorchs_names) {
    TempDir scratch("tapegrad_test_safetensors");
    manual_seed(3);
    Sequential source = small_cnn();
    source(randn<float>({2, 1, 12, 12}));  // training mode: BatchNorm's statistics and counter move
    save(source, scratch / "net.safetensors");
    const Json header = header_of(read_bytes(scratch / "net.safetensors"));
    std::vector<std::string> keys;
    for (const auto& [key, _] : header.items()) keys.push_back(key);
    BOOST_TEST(
        keys == std::vector<std::string>({"0.weight", "0.bias", "1.weight", "1.bias", "4.weight", "4.bias", "5.weight",
                                          "5.bias", "5.running_mean", "5.running_var", "5.num_batches_tracked",
                                          "9.weight", "9.bias", "11.weight", "11.bias"}),
        boost::test_tools::per_element());
    BOOST_TEST(header["5.num_batches_tracked"].dump() == R"({"dtype":"I64","shape":[],"data_offsets":[0,8]})");

    manual_seed(4);
    Sequential target = small_cnn();
    BOOST_TEST(values_of(target) != values_of(source));
    load(target, scratch / "net.safetensors");
    BOOST_TEST(values_of(target) == values_of(source), boost::test_tools::per_element());
    BOOST_TEST(target.state_dict().get<int64_t>("5.num_batches_tracked").item() == 1);

    // save_safetensors takes the module itself too, with metadata.
    save_safetensors(source, scratch / "explicit.st", {{"producer", "tapegrad"}});
    const StateDict back = load_safetensors(scratch / "explicit.st");
    check_same(source.state_dict(), back);
    BOOST_TEST(back.metadata()["producer"] == "tapegrad");
}

BOOST_AUTO_TEST_CASE(metadata_must_be_strings_and_the_name_is_reserved) {
    TempDir scratch("tapegrad_test_safetensors");
    StateDict s = mixed_state();
    s.metadata()["epoch"] = 3;
    const fs::path path = scratch / "x.safetensors";
    tapegrad::testing::check_message([&] { s.save(path); },
                                     {"save_safetensors(" + path.string() + ")", "strings only", "\"epoch\" is 3"});
    StateDict reserved;
    reserved.add("__metadata__", zeros<float>({1}));
    tapegrad::testing::check_message([&] { save_safetensors(reserved, path); }, {"cannot be called \"__metadata__\""});
    BOOST_TEST(scratch.files().empty());
}

BOOST_AUTO_TEST_CASE(failed_saves_and_other_formats_leave_no_file) {
    TempDir scratch("tapegrad_test_safetensors");
    const fs::path missing = scratch / "no/such/dir/x.safetensors";
    BOOST_CHECK_EXCEPTION(save_safetensors(mixed_state(), missing), std::runtime_error, [&](const auto& e) {
        return message_contains(e, "cannot save " + missing.string()) &&
               message_contains(e, "No such file or directory");
    });
    // An unknown extension names every choice StateDict has; a checkpoint is no safetensors file.
    BOOST_CHECK_EXCEPTION(mixed_state().save(scratch / "x.pt"), std::invalid_argument, [](const auto& e) {
        return message_contains(e, "unsupported file extension \".pt\"") &&
               message_contains(e, ".safetensors (PyTorch's)");
    });
    BOOST_CHECK_EXCEPTION(StateDict::load(scratch / "x.pt"), std::invalid_argument,
                          [](const auto& e) { return message_contains(e, ".safetensors (PyTorch's)"); });
    Checkpoint ck;
    BOOST_CHECK_EXCEPTION(ck.save(scratch / "ck.safetensors"), std::invalid_argument, [](const auto& e) {
        return message_contains(e, "expected .json (readable) or .cbor (compact)");
    });
    BOOST_TEST(scratch.files().empty());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(pytorch_files)

BOOST_AUTO_TEST_CASE(pytorch_weights_give_pytorchs_logits) {
    Sequential net = small_cnn();
    load(net, golden_file("safetensors_small_cnn.safetensors"));
    const StateDict state = net.state_dict();
    BOOST_TEST(state.dtype("5.num_batches_tracked") == "int64");
    BOOST_TEST(state.get<int64_t>("5.num_batches_tracked").item() == 3);
    net.eval();
    const StateDict io = load_safetensors(golden_file("safetensors_small_cnn_io.safetensors"));
    const Tensor logits = net(io.get<float>("x"));
    const Tensor expected = io.get<float>("logits");
    BOOST_TEST_REQUIRE(to_string(logits.shape()) == "[4, 10]");
    BOOST_TEST(tapegrad::testing::worst(logits.to_vector(), expected.to_vector(), 1e-5) <= 1.0);
    // The file's metadata comes with it.
    const StateDict weights = load_safetensors(golden_file("safetensors_small_cnn.safetensors"));
    BOOST_TEST(weights.metadata()["producer"].get<std::string>().starts_with("PyTorch "));
}

BOOST_AUTO_TEST_CASE(bf16_and_f16_read_as_pytorchs_float32) {
    const StateDict s = load_safetensors(golden_file("safetensors_dtypes.safetensors"));
    BOOST_TEST(s.names() == std::vector<std::string>(
                                {"f16", "f16.as_f32", "bf16", "bf16.as_f32", "f64", "i64", "scalar", "empty"}),
               boost::test_tools::per_element());
    for (const std::string name : {"f16", "bf16"}) {
        BOOST_TEST_CONTEXT(name) {
            BOOST_TEST(s.dtype(name) == "float32");
            BOOST_TEST(same_bits(s.get<float>(name), s.get<float>(name + ".as_f32")));  // NaN, ±0, subnormals included
        }
    }
    BOOST_TEST(to_string(s.get<float>("bf16").shape()) == "[3, 4]");
    BOOST_TEST(s.get<float>("f16").data()[7] == 0x1p-24f);  // the smallest F16 subnormal
    BOOST_TEST(s.get<double>("f64").to_vector() == std::vector<double>({0.1, -1e300, 5e-324, 2.0 / 3.0}),
               boost::test_tools::per_element());
    BOOST_TEST(s.get<int64_t>("i64").to_vector() ==
                   std::vector<int64_t>({0, -1, int64_t{1} << 62, INT64_MIN, INT64_MAX}),
               boost::test_tools::per_element());
    BOOST_TEST(s.get<float>("scalar").item() == 7.25f);
    BOOST_TEST(s.get<float>("empty").numel() == 0);
    BOOST_TEST(s.metadata() == Json({{"format", "pt"}}));
}

BOOST_AUTO_TEST_CASE(every_f16_and_bf16_bit_pattern_converts_exactly) {
    // All 65536 patterns of each, against the definitions: bf16 is float32's upper half; f16
    // is (-1)^s · 2^(e-15) · (1 + m/1024), or 2^-14 · m/1024 for e = 0, inf/NaN for e = 31.
    TempDir scratch("tapegrad_test_safetensors");
    std::string data;
    for (int dtype = 0; dtype < 2; ++dtype)
        for (uint32_t h = 0; h < 65536; ++h) data += std::string{char(h & 0xffu), char(h >> 8)};
    write_bytes(scratch / "all.safetensors",
                raw_file(R"({"bf16":{"dtype":"BF16","shape":[65536],"data_offsets":[0,131072]},)"
                         R"("f16":{"dtype":"F16","shape":[256,256],"data_offsets":[131072,262144]}})",
                         data));
    const StateDict s = load_safetensors(scratch / "all.safetensors");
    const Tensor bf16 = s.get<float>("bf16"), f16 = s.get<float>("f16");
    int64_t wrong = 0;
    for (uint32_t h = 0; h < 65536; ++h) {
        wrong += std::bit_cast<uint32_t>(bf16.data()[h]) != h << 16;
        const uint32_t sign = h >> 15, e = (h >> 10) & 31, m = h & 1023;
        const float magnitude = e == 31 ? (m ? std::numeric_limits<float>::quiet_NaN() : INFINITY)
                                : e == 0 ? std::ldexp(float(m) / 1024.0f, -14)
                                         : std::ldexp(1.0f + float(m) / 1024.0f, int(e) - 15);
        const float expected = sign ? -magnitude : magnitude;
        const float got = f16.data()[h];
        wrong += std::isnan(expected) ? !(std::isnan(got) && std::signbit(got) == bool(sign))
                                      : std::bit_cast<uint32_t>(got) != std::bit_cast<uint32_t>(expected);
        // A NaN keeps its payload, as PyTorch's conversion does.
        if (e == 31 && m) wrong += (std::bit_cast<uint32_t>(got) & 0x7fffffu) != m << 13;
    }
    BOOST_TEST(wrong == 0);
}

BOOST_AUTO_TEST_CASE(a_pytorch_file_for_another_model_is_refused_by_load_state_dict) {
    Sequential other(Conv2d(1, 4, 3, 1, 1), GroupNorm(2, 4));
    const std::vector<double> before = values_of(other);
    const fs::path path = golden_file("safetensors_small_cnn.safetensors");
    BOOST_CHECK_EXCEPTION(load(other, path), std::invalid_argument, [&](const auto& e) {
        return message_contains(e, "cannot load " + path.string() + " into the model") &&
               message_contains(e, "unexpected key \"4.weight\"");
    });
    BOOST_TEST(values_of(other) == before, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(malformed_files)

BOOST_AUTO_TEST_CASE(the_header_length) {
    TempDir scratch("tapegrad_test_safetensors");
    write_bytes(scratch / "empty.safetensors", "");
    rejected(scratch / "empty.safetensors", {"the file is empty"});
    write_bytes(scratch / "short.safetensors", std::string("\x02\0\0", 3));
    rejected(scratch / "short.safetensors", {"the file is too short for the 8-byte header length (3 bytes)"});
    write_bytes(scratch / "past_end.safetensors", raw_file("{}", "", 1000));
    rejected(scratch / "past_end.safetensors",
             {"the header length 1000 runs past the end of the file (2 bytes follow it)"});
    // Over 100 MB: refused before anything is read or allocated, whatever the file's size.
    write_bytes(scratch / "huge.safetensors", raw_file("{}", "", 100'000'001));
    rejected(scratch / "huge.safetensors",
             {"the header length 100000001 is over the limit of 100000000 bytes (100 MB)"});
    write_bytes(scratch / "max.safetensors", raw_file("{}", "", UINT64_MAX));
    rejected(scratch / "max.safetensors", {"the header length 18446744073709551615 is over the limit"});
}

BOOST_AUTO_TEST_CASE(the_header_json) {
    TempDir scratch("tapegrad_test_safetensors");
    const auto bad = [&](const std::string& name, const std::string& header, const std::vector<std::string>& parts) {
        write_bytes(scratch / name, raw_file(header));
        rejected(scratch / name, parts);
    };
    bad("truncated.safetensors", R"({"w":{"dtype":)", {"the header: not valid JSON"});
    bad("garbage.safetensors", "{}\x01\x02", {"the header: not valid JSON"});
    bad("not_utf8.safetensors", "{\"\xff\":{}}", {"the header: not valid JSON"});
    bad("array.safetensors", "[1, 2]", {"the header is [1,2], not a JSON object"});
    bad("deep.safetensors", R"({"w":{"shape":[[1]]}})", {"the header: JSON nested deeper than 3 levels"});
    bad("very_deep.safetensors", std::string(1 << 20, '['), {"nested deeper than 3 levels"});
    bad("duplicate.safetensors",
        R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},)"
        R"("w":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}})",
        {"the header: the key \"w\" appears twice in one object"});
    bad("duplicate_member.safetensors", R"({"w":{"dtype":"F32","dtype":"F64","shape":[0],"data_offsets":[0,0]}})",
        {"the key \"dtype\" appears twice"});
    bad("metadata_number.safetensors", R"({"__metadata__":{"epoch":3}})",
        {"\"__metadata__\" entry \"epoch\" is 3, not a string"});
    bad("metadata_array.safetensors", R"({"__metadata__":["a"]})",
        {"\"__metadata__\" is [\"a\"], not an object of strings"});
    // Padding after the JSON is spaces; a header of spaces only around valid JSON loads.
    write_bytes(scratch / "padded.safetensors", raw_file("  {}      "));
    BOOST_TEST(load_safetensors(scratch / "padded.safetensors").empty());
}

BOOST_AUTO_TEST_CASE(a_tensors_entry) {
    TempDir scratch("tapegrad_test_safetensors");
    const std::string eight(8, '\0');
    const auto bad = [&](const std::string& name, const std::string& members, const std::vector<std::string>& parts) {
        write_bytes(scratch / name, one_tensor(members, eight));
        std::vector<std::string> with_name = parts;
        with_name.insert(with_name.begin(), "tensor \"w\": ");
        rejected(scratch / name, with_name);
    };
    bad("unknown_dtype.safetensors", R"("dtype":"Q7","shape":[2],"data_offsets":[0,8])",
        {"unknown dtype \"Q7\" (tapegrad reads F32, F64, I64, BF16 and F16)"});
    bad("int32.safetensors", R"("dtype":"I32","shape":[2],"data_offsets":[0,8])", {"unknown dtype \"I32\""});
    bad("dtype_number.safetensors", R"("dtype":4,"shape":[2],"data_offsets":[0,8])", {"\"dtype\" is 4, not a string"});
    bad("no_dtype.safetensors", R"("shape":[2],"data_offsets":[0,8])", {"missing \"dtype\""});
    bad("no_shape.safetensors", R"("dtype":"F32","data_offsets":[0,8])", {"missing \"shape\""});
    bad("no_offsets.safetensors", R"("dtype":"F32","shape":[2])", {"missing \"data_offsets\""});
    bad("negative_extent.safetensors", R"("dtype":"F32","shape":[-2],"data_offsets":[0,8])",
        {"shape [-2] has an extent that is not an integer >= 0"});
    bad("float_extent.safetensors", R"("dtype":"F32","shape":[2.0],"data_offsets":[0,8])", {"not an integer >= 0"});
    bad("huge_shape.safetensors", R"("dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,8])",
        {"shape [4294967296, 4294967296, 4294967296] of F32 is too large", "size overflow"});
    bad("bytes_overflow.safetensors", R"("dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,8])",
        {"of F64 is too large"});
    bad("offsets_short.safetensors", R"("dtype":"F32","shape":[2],"data_offsets":[0])",
        {"data_offsets [0] is not [begin, end] of integers >= 0"});
    bad("offsets_negative.safetensors", R"("dtype":"F32","shape":[2],"data_offsets":[-8,0])", {"is not [begin, end]"});
    bad("offsets_backwards.safetensors", R"("dtype":"F32","shape":[0],"data_offsets":[8,0])",
        {"data_offsets [8, 0] end before they begin"});
    bad("offsets_past_data.safetensors", R"("dtype":"F32","shape":[4],"data_offsets":[0,16])",
        {"data_offsets [0, 16] run past the end of the data, which has 8 bytes"});
    bad("offsets_far_past.safetensors", R"("dtype":"F32","shape":[2],"data_offsets":[18446744073709551608,0])",
        {"is not [begin, end]"});
    bad("bytes_disagree.safetensors", R"("dtype":"F32","shape":[3],"data_offsets":[0,8])",
        {"shape [3] of F32 takes 12 bytes, but data_offsets [0, 8] hold 8"});
    bad("half_disagree.safetensors", R"("dtype":"BF16","shape":[2],"data_offsets":[0,8])",
        {"shape [2] of BF16 takes 4 bytes, but data_offsets [0, 8] hold 8"});
    write_bytes(scratch / "entry_array.safetensors", raw_file(R"({"w":[1]})"));
    rejected(scratch / "entry_array.safetensors",
             {"tensor \"w\": expected {\"dtype\", \"shape\", \"data_offsets\"}, but got [1]"});
}

BOOST_AUTO_TEST_CASE(the_tensors_must_tile_the_data) {
    TempDir scratch("tapegrad_test_safetensors");
    const auto file = [](const std::string& a, const std::string& b, size_t data) {
        return raw_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":)" + a +
                            R"(},"b":{"dtype":"F32","shape":[2],"data_offsets":)" + b + "}}",
                        std::string(data, '\0'));
    };
    write_bytes(scratch / "overlap.safetensors", file("[0,8]", "[4,12]", 12));
    rejected(scratch / "overlap.safetensors",
             {"tensor \"b\": data_offsets [4, 12] overlap those of tensor \"a\", [0, 8]"});
    write_bytes(scratch / "same.safetensors", file("[0,8]", "[0,8]", 8));
    rejected(scratch / "same.safetensors", {"tensor \"b\": data_offsets [0, 8] overlap those of tensor \"a\""});
    write_bytes(scratch / "gap.safetensors", file("[0,8]", "[12,20]", 20));
    rejected(scratch / "gap.safetensors",
             {"tensor \"b\": data_offsets [12, 20] leave a gap: bytes [8, 12) of the data belong to no tensor"});
    write_bytes(scratch / "gap_first.safetensors", file("[4,12]", "[12,20]", 20));
    rejected(scratch / "gap_first.safetensors", {"tensor \"a\": data_offsets [4, 12] leave a gap: bytes [0, 4)"});
    write_bytes(scratch / "trailing.safetensors", file("[0,8]", "[8,16]", 20));
    rejected(scratch / "trailing.safetensors",
             {"bytes [16, 20) of the data belong to no tensor (the last one, tensor \"b\", ends at 16)"});
    write_bytes(scratch / "no_tensors.safetensors", raw_file("{}", "abc"));
    rejected(scratch / "no_tensors.safetensors",
             {"bytes [0, 3) of the data belong to no tensor (the header lists none)"});
    // Listed in any order, a tiling loads, and the entries keep the header's order.
    write_bytes(scratch / "reversed.safetensors", file("[8,16]", "[0,8]", 16));
    BOOST_TEST(load_safetensors(scratch / "reversed.safetensors").names() == std::vector<std::string>({"a", "b"}),
               boost::test_tools::per_element());
    // A zero-size tensor may sit at a boundary, not inside another tensor.
    write_bytes(scratch / "empty_inside.safetensors",
                raw_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                         R"("z":{"dtype":"F32","shape":[0,5],"data_offsets":[4,4]}})",
                         std::string(8, '\0')));
    rejected(scratch / "empty_inside.safetensors", {"tensor \"z\": data_offsets [4, 4] overlap those of tensor \"a\""});
    write_bytes(scratch / "empty_edge.safetensors",
                raw_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                         R"("z":{"dtype":"F32","shape":[0,5],"data_offsets":[8,8]}})",
                         std::string(8, '\0')));
    BOOST_TEST(load_safetensors(scratch / "empty_edge.safetensors").size() == 2);
}

BOOST_AUTO_TEST_CASE(a_directory_or_a_missing_file) {
    TempDir scratch("tapegrad_test_safetensors");
    const fs::path missing = scratch / "missing.safetensors";
    BOOST_CHECK_EXCEPTION(load_safetensors(missing), std::runtime_error, [&](const auto& e) {
        return message_contains(e, "cannot load " + missing.string() + ": No such file");
    });
    fs::create_directories(scratch / "dir.safetensors");
    BOOST_CHECK_EXCEPTION(load_safetensors(scratch / "dir.safetensors"), std::runtime_error,
                          [](const auto& e) { return message_contains(e, "not a regular file"); });
}

BOOST_AUTO_TEST_CASE(damaged_files_are_refused_cleanly) {
    // Seeded damage to a PyTorch-made and a tapegrad-made file: byte flips (most of them in the
    // header), cuts, insertions, header edits (a digit, a dtype, the length field). Each load
    // succeeds or throws std::runtime_error naming the file (std::invalid_argument when it is a
    // valid file that no longer fits the model), and a throwing load leaves the model as it was.
    TempDir scratch("tapegrad_test_safetensors");
    manual_seed(5);
    save(small_cnn(), scratch / "tapegrad.safetensors");
    const std::vector<std::string> sources = {read_bytes(golden_file("safetensors_small_cnn.safetensors")),
                                              read_bytes(scratch / "tapegrad.safetensors")};
    Generator gen(2025);
    const fs::path path = scratch / "damaged.safetensors";
    int64_t refused = 0, loaded = 0;
    for (const std::string& source : sources) {
        const size_t header_end = 8 + header_length(source);
        for (int trial = 0; trial < 200; ++trial) {
            std::string d = source;
            const size_t in_header = 8 + gen.below(header_end - 8);
            switch (gen.below(6)) {
                case 0: d[in_header] = char(d[in_header] ^ (1 << gen.below(8))); break;
                case 1: { const size_t at = gen.below(d.size()); d[at] = char(d[at] ^ (1 << gen.below(8))); break; }
                case 2: d.resize(gen.below(d.size())); break;
                case 3: d.insert(gen.below(d.size()), 1, char(gen.below(256))); break;
                case 4: {  // a digit of the header becomes another digit
                    size_t at = in_header;
                    while (at < header_end && !std::isdigit(uint8_t(d[at]))) ++at;
                    if (at < header_end) d[at] = char('0' + gen.below(10));
                    break;
                }
                default: {  // a dtype becomes another, or the length field changes
                    const size_t at = d.find("\"F32\"", in_header);
                    if (at < header_end && gen.below(2)) d.replace(at + 1, 3, gen.below(2) ? "F64" : "I64");
                    else d[gen.below(8)] = char(gen.below(256));
                }
            }
            write_bytes(path, d);
            BOOST_TEST_CONTEXT("trial " << trial) {
                Sequential net = small_cnn();
                const std::vector<double> before = values_of(net);
                try {
                    load(net, path);
                    ++loaded;
                } catch (const std::runtime_error& e) {
                    ++refused;
                    BOOST_TEST(message_contains(e, "cannot load " + path.string() + ": "));
                    BOOST_TEST(values_of(net) == before, boost::test_tools::per_element());
                } catch (const std::invalid_argument& e) {
                    ++refused;
                    BOOST_TEST(message_contains(e, "cannot load " + path.string() + " into the model: "));
                    BOOST_TEST(values_of(net) == before, boost::test_tools::per_element());
                }
            }
        }
    }
    BOOST_TEST_MESSAGE(refused << " of 400 damaged files refused, " << loaded << " loaded");
    BOOST_TEST(refused > 250);
    BOOST_TEST(loaded > 10);  // flips in the data are invisible to any reader
}

BOOST_AUTO_TEST_SUITE_END()
