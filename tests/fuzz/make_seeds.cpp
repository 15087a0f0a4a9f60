// Writes the harnesses' seed corpora with the library itself, so they follow the format as
// it is today: make_seeds <dir> fills <dir>/document_json and <dir>/document_cbor with state
// dicts and checkpoints saved by StateDict::save / Checkpoint::save (a trained module's,
// float64, empty and zero-size tensors, non-finite values, metadata), <dir>/safetensors with
// the same state dicts saved by save_safetensors and the PyTorch-made fixtures of tests/golden
// (BF16 and F16 among them), and <dir>/idx with IDX label and image files in fuzz_idx's input
// layout, each checked by its reader first.
#include <zlib.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <tapegrad/tapegrad.hpp>

namespace fs = std::filesystem;
namespace tg = tapegrad;

namespace {

// Saves through both encodings: <dir>/document_json/<name>.json and .../document_cbor/<name>.cbor.
template <typename Saveable>
void save_both(const Saveable& s, const fs::path& dir, const std::string& name) {
    s.save(dir / "document_json" / (name + ".json"));
    s.save(dir / "document_cbor" / (name + ".cbor"));
}

std::vector<tg::StateDict> state_dicts() {
    std::vector<tg::StateDict> out;
    out.emplace_back();  // empty

    tg::StateDict mixed;
    mixed.add("weight", tg::from_vector<float>({2, 3}, {1.0f, -2.5f, 0.1f, 3e-38f, 1e38f, -0.0f}));
    mixed.add("running_mean", tg::from_vector<double>({3}, {0.1, -1e300, 5e-324}));
    mixed.add("scalar", tg::from_vector<float>({}, {7.0f}));
    mixed.add("num_batches_tracked", tg::from_vector<int64_t>({2}, {int64_t{3}, INT64_MIN}));
    mixed.add("empty", tg::zeros<float>({0, 4}));
    mixed.metadata()["note"] = "fuzz seed";
    mixed.metadata()["nested"] = {{"epoch", 3}, {"values", {1, 2.5, "x", nullptr, true}}};
    out.push_back(mixed);

    const float inf = std::numeric_limits<float>::infinity();
    tg::StateDict special;
    special.add("nonfinite", tg::from_vector<float>({4}, {std::nanf(""), inf, -inf, 0.0f}));
    special.add("big", tg::randn<double>({2, 3, 4, 5}));
    out.push_back(special);
    return out;
}

// A small CNN after one SGD step (momentum buffers filled) under a cosine schedule.
tg::Checkpoint checkpoint(tg::StateDict* model) {
    tg::manual_seed(0);
    tg::Sequential net;
    net.add(tg::Conv2d(1, 4, 3, 1, 1));
    net.add(tg::GroupNorm(2, 4));
    net.add(tg::ReLU());
    net.add(tg::MaxPool2d(2));
    net.add(tg::Flatten());
    net.add(tg::Linear(4 * 2 * 2, 3));
    tg::SGD opt(net.parameters(), {.lr = 0.05, .momentum = 0.9, .weight_decay = 5e-4});
    tg::CosineAnnealingLR schedule(opt, 12);
    {
        tg::Tape tape;
        const tg::Tensor loss = tg::cross_entropy(net(tg::randn<float>({2, 1, 4, 4})), std::vector<int64_t>{0, 2});
        opt.zero_grad();
        tape.backward(loss);
        opt.step();
        schedule.step();
    }
    tg::Checkpoint ck;
    ck.model = net.state_dict();
    ck.optimizer = opt.state_dict();
    ck.scheduler = schedule.state_dict();
    ck.epoch = 1;
    ck.rng = {{"default", tg::default_generator().state()}};
    ck.config() = {{"epochs", 12}, {"lr", 0.05}, {"norm", "gn"}};
    *model = ck.model;
    return ck;
}

std::vector<uint8_t> idx_bytes(const std::vector<uint32_t>& dims) {
    std::vector<uint8_t> out = {0, 0, 0x08, static_cast<uint8_t>(dims.size())};
    size_t numel = 1;
    for (const uint32_t d : dims) {
        for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(d >> shift));
        numel *= d;
    }
    for (size_t i = 0; i < numel; ++i) out.push_back(static_cast<uint8_t>(i * 37));
    return out;
}

std::vector<uint8_t> gzip(const std::vector<uint8_t>& raw, const fs::path& scratch) {
    gzFile f = gzopen(scratch.c_str(), "wb");
    if (!f || gzwrite(f, raw.data(), static_cast<unsigned>(raw.size())) != static_cast<int>(raw.size()) ||
        gzclose(f) != Z_OK)
        throw std::runtime_error("cannot write " + scratch.string());
    std::ifstream in(scratch, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_file(const fs::path& path, uint8_t mode, const std::vector<uint8_t>& bytes) {
    std::ofstream out(path, std::ios::binary);
    out.put(static_cast<char>(mode));
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    if (!out) throw std::runtime_error("cannot write " + path.string());
}

// fuzz_idx's two layouts (mode byte: bit 0 rank 3, bit 1 already gzipped) of one valid file.
void idx_seeds(const fs::path& dir, const std::string& name, const std::vector<uint32_t>& dims) {
    const int64_t ndim = static_cast<int64_t>(dims.size());
    const uint8_t rank_bit = ndim == 3 ? 1 : 0;
    const fs::path scratch = dir / (name + ".gz");
    const std::vector<uint8_t> compressed = gzip(idx_bytes(dims), scratch);
    const tg::data::IdxArray back = tg::data::read_idx_gz(scratch, ndim);  // valid, as the reader sees it
    fs::remove(scratch);
    if (back.dims.size() != dims.size()) throw std::runtime_error(name + ": read back with another rank");
    write_file(dir / (name + "_raw"), rank_bit, idx_bytes(dims));
    write_file(dir / (name + "_gz"), rank_bit | 2, compressed);
}

// The state dicts as safetensors (whose metadata holds strings only), and PyTorch's files.
void safetensors_seeds(const fs::path& dir, const std::vector<tg::StateDict>& dicts, const tg::StateDict& model) {
    for (size_t i = 0; i < dicts.size(); ++i) {
        tg::StateDict s = dicts[i];
        s.metadata() = {{"note", "fuzz seed"}};
        tg::save_safetensors(s, dir / ("state_dict_" + std::to_string(i) + ".safetensors"), {{"format", "pt"}});
    }
    tg::save_safetensors(model, dir / "model.safetensors");
    for (const char* name : {"safetensors_small_cnn", "safetensors_small_cnn_io", "safetensors_dtypes"}) {
        const std::string file = std::string(name) + ".safetensors";
        fs::copy_file(fs::path(TAPEGRAD_GOLDEN_DIR) / file, dir / file, fs::copy_options::overwrite_existing);
    }
    for (const auto& entry : fs::directory_iterator(dir)) tg::load_safetensors(entry.path());
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: make_seeds <dir>\n");
        return 2;
    }
    try {
        const fs::path dir = argv[1];
        for (const char* sub : {"document_json", "document_cbor", "safetensors", "idx"})
            fs::create_directories(dir / sub);
        const std::vector<tg::StateDict> dicts = state_dicts();
        for (size_t i = 0; i < dicts.size(); ++i) save_both(dicts[i], dir, "state_dict_" + std::to_string(i));
        tg::StateDict model;
        const tg::Checkpoint ck = checkpoint(&model);
        save_both(model, dir, "model");
        save_both(ck, dir, "checkpoint");
        // Each file must load again: a seed the reader rejects would teach the fuzzer nothing.
        for (const char* sub : {"document_json", "document_cbor"})
            for (const auto& entry : fs::directory_iterator(dir / sub)) {
                const std::string name = entry.path().filename().string();
                if (name.starts_with("checkpoint"))
                    tg::Checkpoint::load(entry.path());
                else
                    tg::StateDict::load(entry.path());
            }
        safetensors_seeds(dir / "safetensors", dicts, model);
        idx_seeds(dir / "idx", "labels", {5});
        idx_seeds(dir / "idx", "images", {2, 3, 4});
        idx_seeds(dir / "idx", "images_empty", {0, 28, 28});
        std::printf("make_seeds: corpora written under %s\n", dir.c_str());
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "make_seeds: %s\n", e.what());
        return 1;
    }
}
