// Scratch files for the suites: a fresh directory per use, and whole-file reads and writes.
// The directory is made by mkdtemp, so its name is unique across threads, processes and
// concurrent runs of the same suite; it is removed with everything in it on destruction.
#pragma once

#include <boost/test/unit_test.hpp>

#include <stdlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <system_error>
#include <vector>

namespace tapegrad::testing {

class TempDir {
  public:
    // A new directory <system temp>/<prefix>_XXXXXX.
    explicit TempDir(const std::string& prefix = "tapegrad_test") {
        std::string pattern = (std::filesystem::temp_directory_path() / (prefix + "_XXXXXX")).string();
        if (::mkdtemp(pattern.data()) == nullptr)
            throw std::system_error(errno, std::generic_category(),
                                    "TempDir: cannot create a directory like " + pattern);
        path_ = pattern;
    }
    ~TempDir() {
        std::error_code ignored;  // a destructor must not throw; a leftover directory is harmless
        std::filesystem::remove_all(path_, ignored);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    const std::filesystem::path& path() const { return path_; }
    std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

    // The names of the entries in the directory, sorted (to see, say, that no temporary file is left).
    std::vector<std::string> files() const {
        std::vector<std::string> names;
        for (const auto& e : std::filesystem::directory_iterator(path_)) names.push_back(e.path().filename().string());
        std::sort(names.begin(), names.end());
        return names;
    }

  private:
    std::filesystem::path path_;
};

// The whole content of a file; fails the test case when it cannot be opened.
inline std::string read_bytes(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    BOOST_TEST_REQUIRE(bool(in), "cannot open " << path);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Replaces the file's content with `bytes`; fails the test case when it cannot be written.
inline void write_bytes(const std::filesystem::path& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary);
    out << bytes;
    out.close();
    BOOST_TEST_REQUIRE(bool(out), "cannot write " << path);
}

}  // namespace tapegrad::testing
