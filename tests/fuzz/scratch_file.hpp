// The one file a harness hands to the library's readers, which take paths only: each input is
// written over <tmp>/tapegrad-fuzz-XXXXXX/input<ext> (on /dev/shm when there is one, so
// nothing touches a disk), and the directory goes when the process exits normally.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace tapegrad_fuzz {

class ScratchFile {
  public:
    explicit ScratchFile(const std::string& extension) {
        namespace fs = std::filesystem;
        std::error_code ec;
        const fs::path base = fs::is_directory("/dev/shm", ec) ? fs::path("/dev/shm") : fs::temp_directory_path();
        std::string pattern = (base / "tapegrad-fuzz-XXXXXX").string();
        if (!mkdtemp(pattern.data())) {
            std::perror("mkdtemp");
            std::abort();
        }
        dir_ = pattern;
        path_ = dir_ / ("input" + extension);
    }
    ~ScratchFile() {
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }
    ScratchFile(const ScratchFile&) = delete;
    ScratchFile& operator=(const ScratchFile&) = delete;

    const std::filesystem::path& path() const { return path_; }
    // Replaces the file's contents with data[0, size).
    const std::filesystem::path& write(const uint8_t* data, size_t size) const {
        std::FILE* f = std::fopen(path_.c_str(), "wb");
        if (!f || (size && std::fwrite(data, 1, size, f) != size) || std::fclose(f) != 0) {
            std::perror(path_.c_str());
            std::abort();
        }
        return path_;
    }

  private:
    std::filesystem::path dir_;
    std::filesystem::path path_;
};

}  // namespace tapegrad_fuzz
