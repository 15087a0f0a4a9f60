// framework/io: state dicts and checkpoints through JSON and CBOR files — exact round trips,
// clear errors for bad files with the model left unchanged, and atomic writes.
#include <boost/test/unit_test.hpp>

#include <csignal>
#include <cstring>
#include <filesystem>
#include <limits>
#include <sys/resource.h>

#include <nlohmann/json.hpp>

#include <tapegrad/tapegrad.hpp>
#include "support/messages.hpp"
#include "support/temp_dir.hpp"

using tapegrad::testing::check_message;
using tapegrad::testing::message_contains;
using tapegrad::testing::read_bytes;
using tapegrad::testing::TempDir;
using tapegrad::testing::write_bytes;

using namespace tapegrad;
using Json = nlohmann::ordered_json;
namespace fs = std::filesystem;

namespace {

// Same bits, or both NaN.
template <typename T>
bool same_values(const BasicTensor<T>& a, const BasicTensor<T>& b) {
    if (a.shape() != b.shape()) return false;
    for (int64_t i = 0; i < a.numel(); ++i) {
        const T x = a.data()[i], y = b.data()[i];
        if (std::isnan(x) && std::isnan(y)) continue;
        if (std::memcmp(&x, &y, sizeof(T)) != 0) return false;
    }
    return true;
}

// Random bit patterns (every exponent, subnormals included) that are not NaN, and the edge cases.
template <typename T, typename Bits>
BasicTensor<T> awkward_values(Generator& gen, int64_t n) {
    std::vector<T> values = {T(0),
                             -T(0),
                             T(0.1),
                             T(1) / T(3),
                             std::numeric_limits<T>::max(),
                             std::numeric_limits<T>::lowest(),
                             std::numeric_limits<T>::min(),
                             std::numeric_limits<T>::denorm_min(),
                             -std::numeric_limits<T>::denorm_min(),
                             std::numeric_limits<T>::infinity(),
                             -std::numeric_limits<T>::infinity(),
                             std::numeric_limits<T>::quiet_NaN()};
    while (int64_t(values.size()) < n) {
        const Bits bits = Bits(gen.next_u64());
        T v;
        std::memcpy(&v, &bits, sizeof v);
        if (!std::isnan(v)) values.push_back(v);
    }
    return from_vector<T>({n}, values);
}

StateDict sample_state_dict() {
    Generator gen(42);
    StateDict state;
    state.add("features.0.weight", randn<float>({3, 4}, &gen));
    state.add("awkward_float", awkward_values<float, uint32_t>(gen, 500));
    state.add("awkward_double", awkward_values<double, uint64_t>(gen, 500));
    state.add("scalar", full<float>({}, 2.5f));
    state.add("empty", zeros<float>({0, 3}));
    state.add("a.b", randn<double>({2, 1, 3}, &gen));
    Json& m = state.metadata();
    m["epoch"] = 3;
    m["lr"] = 0.1;
    m["note"] = "ünïcödé, \"quoted\", back\\slash";
    m["nested"] = {{"list", {1, 2.5, "x", nullptr, true}}, {"empty", Json::object()}};
    return state;
}

void check_same(const StateDict& a, const StateDict& b) {
    BOOST_TEST(a.names() == b.names(), boost::test_tools::per_element());
    for (const auto& [name, value] : a.entries()) {
        BOOST_TEST_CONTEXT("tensor " << name) {
            BOOST_TEST_REQUIRE(a.dtype(name) == b.dtype(name));
            if (a.dtype(name) == "float32")
                BOOST_TEST(same_values(a.get<float>(name), b.get<float>(name)));
            else
                BOOST_TEST(same_values(a.get<double>(name), b.get<double>(name)));
        }
    }
    BOOST_TEST(a.metadata() == b.metadata());
}

// Something with state_dict()/load_state_dict() that is not a Module.
struct Duck {
    DoubleTensor table = full<double>({2, 2}, 0.5);
    std::vector<std::pair<std::string, DoubleTensor>> state_dict() const { return {{"table", table}}; }
    void load_state_dict(const std::vector<std::pair<std::string, DoubleTensor>>& state) {
        if (state.size() != 1 || state[0].first != "table")
            throw std::invalid_argument("Duck: expected one tensor \"table\"");
        std::copy_n(state[0].second.data(), table.numel(), table.data());
    }
};

GroupNorm trained_group_norm(uint64_t seed) {
    GroupNorm gn(2, 4);
    Generator gen(seed);
    const Tensor w = randn<float>({4}, &gen), b = randn<float>({4}, &gen);
    std::copy_n(w.data(), 4, gn.weight().data());
    std::copy_n(b.data(), 4, gn.bias().data());
    return gn;
}

std::vector<float> values_of(const Module& m) {
    std::vector<float> out;
    for (const auto& [_, t] : m.state_dict().named<float>())
        for (float v : t.to_vector()) out.push_back(v);
    return out;
}

const std::vector<std::string> extensions = {".json", ".cbor"};

}  // namespace

BOOST_AUTO_TEST_SUITE(io)

BOOST_AUTO_TEST_CASE(state_dict_round_trips_bit_for_bit) {
    TempDir scratch("tapegrad_test_io");
    const StateDict state = sample_state_dict();
    for (const std::string& ext : extensions) {
        BOOST_TEST_CONTEXT("format " << ext) {
            const fs::path path = scratch / ("state" + ext);
            state.save(path);
            check_same(state, StateDict::load(path));
        }
    }
    // Upper-case extensions are accepted too.
    state.save(scratch / "STATE.JSON");
    check_same(state, StateDict::load(scratch / "STATE.JSON"));
}

BOOST_AUTO_TEST_CASE(files_are_readable_json_or_compact_cbor) {
    TempDir scratch("tapegrad_test_io");
    StateDict state;
    Generator gen(1);
    state.add("weight", randn<float>({64, 64}, &gen));
    state.metadata()["epoch"] = 7;
    state.save(scratch / "m.json");
    state.save(scratch / "m.cbor");
    const std::string text = read_bytes(scratch / "m.json");
    BOOST_TEST(text.find("\"format\": \"tapegrad\"") != std::string::npos);
    BOOST_TEST(text.find("\"version\": 1") != std::string::npos);
    BOOST_TEST(text.find("\"name\": \"weight\"") != std::string::npos);
    BOOST_TEST(text.find("\"shape\": [64, 64]") != std::string::npos);
    // Raw float32 bytes plus a small header.
    BOOST_TEST(fs::file_size(scratch / "m.cbor") < 64 * 64 * 4 + 256);
    const Json doc = Json::from_cbor(read_bytes(scratch / "m.cbor"));
    BOOST_TEST(doc.at("format") == "tapegrad");
    BOOST_TEST(doc.at("tensors").at(0).at("data").is_binary());
}

BOOST_AUTO_TEST_CASE(state_dict_container) {
    StateDict state = sample_state_dict();
    BOOST_TEST(state.size() == 6u);
    BOOST_TEST(state.contains("scalar"));
    BOOST_TEST(state.get<float>("scalar").item() == 2.5f);
    BOOST_CHECK_EXCEPTION(state.get<double>("scalar"), std::invalid_argument, [](const auto& e) {
        return message_contains(e, "\"scalar\" is float32, but float64 was asked for");
    });
    BOOST_CHECK_THROW(state.get<float>("nope"), std::out_of_range);
    BOOST_CHECK_EXCEPTION(state.add("scalar", zeros({1})), std::invalid_argument,
                          [](const auto& e) { return message_contains(e, "\"scalar\" is already there"); });
    BOOST_CHECK_THROW(state.add("undefined", Tensor()), std::invalid_argument);
    BOOST_CHECK_THROW(state.named<float>(), std::invalid_argument);  // holds float64 entries too
    const StateDict copy = state;  // deep copy of the metadata
    state.metadata()["epoch"] = 4;
    BOOST_TEST(copy.metadata().at("epoch") == 3);
}

BOOST_AUTO_TEST_CASE(models_save_and_load_by_duck_typing) {
    TempDir scratch("tapegrad_test_io");
    const GroupNorm source = trained_group_norm(3);
    for (const std::string& ext : extensions) {
        BOOST_TEST_CONTEXT("format " << ext) {
            save(source, scratch / ("gn" + ext));
            GroupNorm target(2, 4);
            load(target, scratch / ("gn" + ext));
            BOOST_TEST(values_of(target) == values_of(source), boost::test_tools::per_element());

            Duck duck;
            duck.table.data()[3] = -1.25;
            save(duck, scratch / ("duck" + ext));
            Duck other;
            load(other, scratch / ("duck" + ext));
            BOOST_TEST(other.table.to_vector() == duck.table.to_vector(), boost::test_tools::per_element());
        }
    }
}

BOOST_AUTO_TEST_CASE(bad_files_are_clear_errors_and_leave_the_model_unchanged) {
    TempDir scratch("tapegrad_test_io");
    const GroupNorm source = trained_group_norm(5);
    GroupNorm target = trained_group_norm(6);
    const std::vector<float> before = values_of(target);
    const auto rejected = [&](const fs::path& path, const std::string& text) {
        BOOST_TEST_CONTEXT("loading " << path.filename() << " (expecting \"" << text << "\")") {
            bool thrown = false;
            try {
                load(target, path);
            } catch (const std::exception& e) {
                thrown = true;
                BOOST_TEST(message_contains(e, text));
                if (fs::exists(path)) BOOST_TEST(message_contains(e, path.string()));
            }
            BOOST_TEST(thrown);
            BOOST_TEST(values_of(target) == before, boost::test_tools::per_element());
        }
    };

    for (const std::string& ext : extensions) {
        const fs::path good = scratch / ("good" + ext);
        save(source, good);
        const std::string bytes = read_bytes(good);
        const std::string format = ext == ".json" ? "JSON" : "CBOR";
        // The JSON file ends in "}\n": drop two bytes to break it.
        for (size_t keep : {size_t(0), size_t(1), size_t(10), bytes.size() / 2, bytes.size() - 2}) {
            const fs::path cut = scratch / ("cut_" + std::to_string(keep) + ext);
            write_bytes(cut, bytes.substr(0, keep));
            rejected(cut, keep == 0 ? "the file is empty" : "not valid " + format);
        }
        const fs::path garbage = scratch / ("garbage" + ext);
        write_bytes(garbage, "\x89PNG\r\n\x1a\n\x00\x01garbage\xff\xfe");
        rejected(garbage, "not valid " + format);

        Json doc = ext == ".json" ? Json::parse(bytes) : Json::from_cbor(bytes);
        const auto write_doc = [&](const std::string& name, const Json& d) {
            const fs::path p = scratch / (name + ext);
            if (ext == ".json") {
                write_bytes(p, d.dump());
            } else {
                const auto cbor = Json::to_cbor(d);
                write_bytes(p, std::string(cbor.begin(), cbor.end()));
            }
            return p;
        };
        Json newer = doc;
        newer["version"] = 2;
        rejected(write_doc("newer", newer), "written by a newer tapegrad (format version 2)");
        rejected(write_doc("foreign", Json{{"weights", {1, 2, 3}}}), "not a tapegrad file");
        rejected(write_doc("list", Json::array({1, 2})), "not a tapegrad file");
        Json kind = doc;
        kind["kind"] = "checkpoint";
        rejected(write_doc("kind", kind), "the file holds a checkpoint, not a state_dict");
        Json short_data = doc;
        if (ext == ".json") {
            short_data["tensors"][0]["data"].erase(0);
            rejected(write_doc("short", short_data), "shape [4] needs 4 float32 values, but the data has 3");
        } else {
            auto& blob = short_data["tensors"][0]["data"].get_binary();
            blob.pop_back();
            short_data["tensors"][0]["crc32"] = nullptr;
            short_data["tensors"][0].erase("crc32");
            rejected(write_doc("short", short_data), "(16 bytes), but the data has 15 bytes");
            Json flipped = doc;
            flipped["tensors"][1]["data"].get_binary()[2] ^= 0x10;
            rejected(write_doc("flipped", flipped), "tensors[1] \"bias\": the data is corrupt");
        }
        Json bad_shape = doc;
        bad_shape["tensors"][0]["shape"] = {-4};
        rejected(write_doc("negative", bad_shape), "negative extent");
        Json huge = doc;
        huge["tensors"][0]["shape"] = {int64_t(1) << 40, int64_t(1) << 40};
        rejected(write_doc("huge", huge), "is too large");
        Json dtype = doc;
        dtype["tensors"][0]["dtype"] = "int8";
        rejected(write_doc("dtype", dtype), "unsupported dtype \"int8\"");
        Json no_tensors = doc;
        no_tensors.erase("tensors");
        rejected(write_doc("no_tensors", no_tensors), "missing \"tensors\"");
        Json text_value = doc;
        if (ext == ".json") {
            text_value["tensors"][0]["data"][1] = "1.5";
            rejected(write_doc("text_value", text_value), "data[1] = \"1.5\" is not a number");
        }
        Json duplicate = doc;
        duplicate["tensors"][1]["name"] = "weight";
        rejected(write_doc("duplicate", duplicate), "the name appears twice");

        // Valid files that do not fit the model: load_state_dict's own checks.
        GroupNorm wider = trained_group_norm(7);
        GroupNorm six(2, 6);
        save(six, scratch / ("six" + ext));
        rejected(scratch / ("six" + ext), "size mismatch for weight");
        Duck duck;
        save(duck, scratch / ("duck" + ext));
        rejected(scratch / ("duck" + ext), "unexpected key \"table\"");
        BasicGroupNorm<double> in_double(2, 4);
        save(in_double, scratch / ("double" + ext));
        rejected(scratch / ("double" + ext),
                 "dtype mismatch for weight: copying a float64 tensor, the dtype in current model is float32");
    }
    // Nesting deep enough to exhaust the stack of a recursive parser.
    write_bytes(scratch / "deep.cbor", std::string(1 << 20, '\x81'));
    rejected(scratch / "deep.cbor", "nested deeper than");
    write_bytes(scratch / "deep.json", std::string(1 << 20, '['));
    rejected(scratch / "deep.json", "nested deeper than");

    rejected(scratch / "missing.json",
             "cannot load " + (scratch / "missing.json").string() + ": No such file or directory");
    rejected(scratch.path(), "unsupported file extension");
    fs::create_directories(scratch / "dir.json");
    rejected(scratch / "dir.json", "not a regular file");
    write_bytes(scratch / "model.txt", "{}");
    BOOST_CHECK_EXCEPTION(load(target, scratch / "model.txt"), std::invalid_argument,
                          [](const auto& e) { return message_contains(e, "unsupported file extension \".txt\""); });
    BOOST_TEST(values_of(target) == before, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(randomly_damaged_files_never_crash) {
    // Flipped bytes, cuts and insertions: each load succeeds or throws, never crashes, and a
    // throwing load leaves the model as it was.
    TempDir scratch("tapegrad_test_io");
    const GroupNorm source = trained_group_norm(8);
    Generator gen(2024);
    for (const std::string& ext : extensions) {
        save(source, scratch / ("good" + ext));
        const std::string bytes = read_bytes(scratch / ("good" + ext));
        int thrown = 0;
        for (int trial = 0; trial < 300; ++trial) {
            std::string damaged = bytes;
            const size_t at = gen.below(damaged.size());
            switch (gen.below(3)) {
                case 0: damaged[at] = char(damaged[at] ^ (1 << gen.below(8))); break;
                case 1: damaged.resize(at); break;
                default: damaged.insert(at, 1, char(gen.below(256))); break;
            }
            const fs::path path = scratch / ("damaged" + ext);
            write_bytes(path, damaged);
            GroupNorm target = trained_group_norm(9);
            const std::vector<float> before = values_of(target);
            try {
                load(target, path);
            } catch (const std::exception&) {
                ++thrown;
                BOOST_TEST(values_of(target) == before, boost::test_tools::per_element());
            }
        }
        BOOST_TEST(thrown > 100);
    }
}

BOOST_AUTO_TEST_CASE(wrong_extension_on_save_writes_nothing) {
    TempDir scratch("tapegrad_test_io");
    const GroupNorm gn(2, 4);
    BOOST_CHECK_EXCEPTION(save(gn, scratch / "model.pt"), std::invalid_argument, [](const auto& e) {
        return message_contains(e, "unsupported file extension \".pt\"") && message_contains(e, ".json");
    });
    BOOST_CHECK_EXCEPTION(save(gn, scratch / "model"), std::invalid_argument,
                          [](const auto& e) { return message_contains(e, "unsupported file extension (none)"); });
    BOOST_TEST(scratch.files().empty());
}

BOOST_AUTO_TEST_CASE(saving_into_a_missing_directory_fails_cleanly) {
    TempDir scratch("tapegrad_test_io");
    const GroupNorm gn(2, 4);
    const fs::path path = scratch / "no/such/dir/model.json";
    BOOST_CHECK_EXCEPTION(save(gn, path), std::runtime_error, [&](const auto& e) {
        return message_contains(e, "cannot save " + path.string()) && message_contains(e, "No such file or directory");
    });
    BOOST_TEST(scratch.files().empty());
}

BOOST_AUTO_TEST_CASE(a_failed_save_leaves_the_previous_file_intact) {
    TempDir scratch("tapegrad_test_io");
    const fs::path path = scratch / "state.cbor";
    StateDict small;
    small.add("w", full<float>({4}, 1.5f));
    small.save(path);
    const std::string old_bytes = read_bytes(path);

    StateDict big;
    big.add("w", zeros({1 << 16}));
    // The write of the temporary file fails half-way (EFBIG) once it passes the size limit.
    struct rlimit saved {};
    BOOST_REQUIRE(::getrlimit(RLIMIT_FSIZE, &saved) == 0);
    const auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
    struct rlimit limited = saved;
    limited.rlim_cur = 4096;
    BOOST_REQUIRE(::setrlimit(RLIMIT_FSIZE, &limited) == 0);
    bool thrown = false;
    try {
        big.save(path);
    } catch (const std::runtime_error& e) {
        thrown = true;
        BOOST_TEST(message_contains(e, "cannot save " + path.string()));
        BOOST_TEST(message_contains(e, "the previous file, if any, is unchanged"));
    }
    ::setrlimit(RLIMIT_FSIZE, &saved);
    std::signal(SIGXFSZ, old_handler);
    BOOST_TEST(thrown);
    BOOST_TEST(read_bytes(path) == old_bytes);
    BOOST_TEST(scratch.files() == std::vector<std::string>{"state.cbor"}, boost::test_tools::per_element());
    check_same(small, StateDict::load(path));

    // And a successful save replaces it, leaving no temporary file behind.
    big.save(path);
    check_same(big, StateDict::load(path));
    BOOST_TEST(scratch.files() == std::vector<std::string>{"state.cbor"}, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(checkpoint_round_trips) {
    TempDir scratch("tapegrad_test_io");
    Tensor w = ones({2, 3}, true);
    SGD opt({w}, {.lr = 0.1, .momentum = 0.9});
    StepLR scheduler(opt, 2);
    {
        Tape tape;
        tape.backward(sum(w));
    }
    opt.step();
    scheduler.step();
    const GroupNorm gn = trained_group_norm(9);
    Generator gen(123);
    gen.normal();  // a spare normal is part of the state

    Checkpoint c;
    c.model = gn.state_dict();
    c.optimizer = opt.state_dict();
    c.scheduler = scheduler.state_dict();
    c.epoch = 17;
    c.rng = {{"default", default_generator().state()}, {"data", gen.state()}};
    c.config()["batch_size"] = 64;
    c.config()["model"] = {{"groups", 2}, {"name", "gn"}};
    for (const std::string& ext : extensions) {
        BOOST_TEST_CONTEXT("format " << ext) {
            const fs::path path = scratch / ("ckpt" + ext);
            c.save(path);
            const Checkpoint back = Checkpoint::load(path);
            check_same(c.model, back.model);
            check_same(c.optimizer, back.optimizer);
            check_same(c.scheduler, back.scheduler);
            BOOST_TEST(back.epoch == 17);
            BOOST_TEST_REQUIRE(back.rng.size() == 2u);
            BOOST_TEST(back.rng[0].first == "default");
            BOOST_TEST(back.rng_state("data") == gen.state());
            BOOST_TEST(back.config() == c.config());
            Generator restored, expected = gen;
            restored.set_state(back.rng_state("data"));
            BOOST_TEST(restored.normal() == expected.normal());
            BOOST_CHECK_THROW(back.rng_state("nope"), std::out_of_range);

            BOOST_CHECK_EXCEPTION(StateDict::load(path), std::runtime_error, [](const auto& e) {
                return message_contains(e, "the file holds a checkpoint, not a state_dict");
            });
        }
    }
    // A broken generator state fails the load, not the later resume.
    Json doc = Json::parse(read_bytes(scratch / "ckpt.json"));
    doc["rng"]["data"] = "not a state";
    write_bytes(scratch / "bad_rng.json", doc.dump());
    BOOST_CHECK_EXCEPTION(Checkpoint::load(scratch / "bad_rng.json"), std::runtime_error,
                          [](const auto& e) { return message_contains(e, "rng \"data\" is not a generator state"); });
    Json bad_model = Json::parse(read_bytes(scratch / "ckpt.json"));
    bad_model["model"]["tensors"][0]["shape"] = {5};
    write_bytes(scratch / "bad_model.json", bad_model.dump());
    BOOST_CHECK_EXCEPTION(Checkpoint::load(scratch / "bad_model.json"), std::runtime_error, [](const auto& e) {
        return message_contains(e, "model.tensors[0] \"weight\": shape [5] needs 5 float32 values");
    });
    c.rng.emplace_back("data", "again");
    BOOST_CHECK_THROW(c.save(scratch / "dup.json"), std::invalid_argument);
}

// int64 tensors (BatchNorm's num_batches_tracked) round-trip exactly through both formats,
// values past 2^53 and the extremes included (JSON keeps them as integers, not doubles).
BOOST_AUTO_TEST_CASE(int64_tensors_round_trip_exactly) {
    TempDir scratch("tapegrad_test_io");
    const std::vector<int64_t> values{0, -1, (int64_t{1} << 53) + 1, INT64_MAX, INT64_MIN, 42};
    StateDict state;
    state.add("count", from_vector<int64_t>({2, 3}, values));
    state.add("num_batches_tracked", full<int64_t>({}, int64_t{7}));
    state.add("w", from_vector<float>({2}, {1.5f, -2.0f}));
    for (const std::string& ext : extensions) {
        BOOST_TEST_CONTEXT("format " << ext) {
            state.save(scratch / ("ints" + ext));
            const StateDict back = StateDict::load(scratch / ("ints" + ext));
            BOOST_TEST(back.dtype("count") == "int64");
            BOOST_TEST(back.get<int64_t>("count").to_vector() == values, boost::test_tools::per_element());
            BOOST_TEST(back.get<int64_t>("count").shape() == (Shape{2, 3}));
            BOOST_TEST(back.get<int64_t>("num_batches_tracked").item() == 7);
            BOOST_TEST(back.get<float>("w").to_vector()[1] == -2.0f);
            check_message([&] { back.get<float>("count"); }, {"count", "int64", "float32"});
        }
    }
    // A JSON int64 tensor holds integers only.
    write_bytes(scratch / "bad.json", R"({"format":"tapegrad","version":1,"kind":"state_dict","metadata":{},)"
                                      R"("tensors":[{"name":"n","dtype":"int64","shape":[2],"data":[1,2.5]}]})");
    BOOST_CHECK_EXCEPTION(StateDict::load(scratch / "bad.json"), std::runtime_error, [](const std::runtime_error& e) {
        return message_contains(e, "data[1] = 2.5 is not an int64");
    });
    write_bytes(scratch / "big.json",
                R"({"format":"tapegrad","version":1,"kind":"state_dict","metadata":{},)"
                R"("tensors":[{"name":"n","dtype":"int64","shape":[1],"data":[9223372036854775808]}]})");
    BOOST_CHECK_EXCEPTION(StateDict::load(scratch / "big.json"), std::runtime_error,
                          [](const std::runtime_error& e) { return message_contains(e, "is not an int64"); });
    // And, as in PyTorch, an integer tensor cannot require grad.
    check_message([] { zeros<int64_t>({2}, true); }, {"floating point"});
    check_message([] { LongTensor t = zeros<int64_t>({2}); t.requires_grad_(); }, {"floating point"});
}

BOOST_AUTO_TEST_SUITE_END()
