// The caching tensor allocator; see allocator.hpp.
#include "framework/allocator.hpp"

#include <cstdlib>
#include <map>
#include <mutex>

namespace tapegrad {

namespace {

constexpr std::size_t kAlignment = 64;
constexpr std::size_t kMinCached = 256 * 1024;

struct Cache {
    std::mutex mutex;
    std::multimap<std::size_t, void*> free_blocks;  // rounded size → block
    std::size_t cached = 0;
    std::size_t limit = 256u << 20;

    ~Cache() {
        for (auto& [size, p] : free_blocks) std::free(p);
    }
};

Cache& cache() {
    static Cache c;
    return c;
}

std::size_t rounded(std::size_t bytes) { return (bytes + 4095) / 4096 * 4096; }

}  // namespace

void* allocate_tensor_bytes(std::size_t bytes) {
    if (bytes == 0) bytes = kAlignment;
    const std::size_t size = bytes >= kMinCached ? rounded(bytes) : (bytes + kAlignment - 1) / kAlignment * kAlignment;
    if (size >= kMinCached) {
        Cache& c = cache();
        std::lock_guard lock(c.mutex);
        if (auto it = c.free_blocks.find(size); it != c.free_blocks.end()) {
            void* p = it->second;
            c.free_blocks.erase(it);
            c.cached -= size;
            return p;
        }
    }
    void* p = std::aligned_alloc(kAlignment, size);
    if (p == nullptr) throw std::bad_alloc();
    return p;
}

void free_tensor_bytes(void* p, std::size_t bytes) noexcept {
    if (p == nullptr) return;
    if (bytes >= kMinCached) {
        const std::size_t size = rounded(bytes);
        Cache& c = cache();
        std::lock_guard lock(c.mutex);
        if (c.cached + size <= c.limit) {
            c.free_blocks.emplace(size, p);
            c.cached += size;
            return;
        }
    }
    std::free(p);
}

void set_allocator_cache_limit(std::size_t bytes) {
    Cache& c = cache();
    std::lock_guard lock(c.mutex);
    c.limit = bytes;
    while (c.cached > c.limit && !c.free_blocks.empty()) {
        auto it = std::prev(c.free_blocks.end());  // drop the largest first
        c.cached -= it->first;
        std::free(it->second);
        c.free_blocks.erase(it);
    }
}

std::size_t allocator_cached_bytes() {
    Cache& c = cache();
    std::lock_guard lock(c.mutex);
    return c.cached;
}

}  // namespace tapegrad
