// The caching tensor allocator; see allocator.hpp.
#include "framework/allocator.hpp"

#include <cstdlib>
#include <list>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>

#include "framework/core/checked.hpp"

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace tapegrad {

namespace {

constexpr std::size_t kAlignment = 64;
constexpr std::size_t kMinCached = 256 * 1024;

// Blocks of at least one huge page (2 MiB on x86-64) are aligned to it and offered to the
// kernel's transparent huge pages (madvise; most distributions, Debian's included, enable THP
// only for the regions that ask). A kernel streaming a tensor from memory then misses the TLB
// once per 2 MiB instead of once per 4 KiB; a row reduction of 51 MB ran 10-15% faster on the
// 2-vCPU AMD EPYC VM (Zen 3). The pages are faulted in once: the cache below keeps the block.
constexpr std::size_t kHugePage = std::size_t{2} << 20;

void* system_allocate(std::size_t size) {
    const bool huge = size >= kHugePage;
    void* p =
        std::aligned_alloc(huge ? kHugePage : kAlignment, huge ? (size + kHugePage - 1) / kHugePage * kHugePage : size);
    if (p == nullptr) throw std::bad_alloc();
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (huge) madvise(p, size, MADV_HUGEPAGE);  // advice only: a kernel without THP ignores it
#endif
    return p;
}

// Freed blocks by size, oldest first in `age`; when the cache would exceed its limit, the
// oldest blocks go back to the system, so a working set that changes (training batches,
// then a larger evaluation batch, then training again) replaces the old one instead of
// being locked out by it.
struct Cache {
    struct Block {
        std::size_t size;
        void* p;
    };
    std::mutex mutex;
    std::list<Block> age;                                           // front: newest
    std::multimap<std::size_t, std::list<Block>::iterator> by_size;  // rounded size → block
    std::size_t cached = 0;
    std::size_t limit = 256u << 20;

    void* take(std::size_t size) {
        const auto it = by_size.find(size);
        if (it == by_size.end()) return nullptr;
        void* p = it->second->p;
        age.erase(it->second);
        by_size.erase(it);
        cached -= size;
        return p;
    }
    void put(std::size_t size, void* p) {
        age.push_front({size, p});
        by_size.emplace(size, age.begin());
        cached += size;
        shrink_to(limit);
    }
    void shrink_to(std::size_t bytes) {
        while (cached > bytes) {
            const Block oldest = age.back();
            for (auto [it, end] = by_size.equal_range(oldest.size); it != end; ++it)
                if (it->second == std::prev(age.end())) {
                    by_size.erase(it);
                    break;
                }
            age.pop_back();
            cached -= oldest.size;
            std::free(oldest.p);
        }
    }
    ~Cache() { shrink_to(0); }
};

Cache& cache() {
    static Cache c;
    return c;
}

// Up to whole pages. bytes <= INT64_MAX (allocate_tensor_bytes checks it); within the last
// page below INT64_MAX the rounding itself would not fit, which checked_add refuses.
std::size_t rounded(std::size_t bytes) {
    return static_cast<std::size_t>(checked_add(static_cast<int64_t>(bytes), 4095, "tensor storage")) / 4096 * 4096;
}

}  // namespace

void* allocate_tensor_bytes(std::size_t bytes) {
    if (bytes > static_cast<std::size_t>(INT64_MAX))
        throw std::length_error("tensor storage: size overflow (" + std::to_string(bytes) +
                                " bytes do not fit in int64)");
    if (bytes == 0) bytes = kAlignment;
    const std::size_t size = bytes >= kMinCached ? rounded(bytes) : (bytes + kAlignment - 1) / kAlignment * kAlignment;
    if (size >= kMinCached) {
        Cache& c = cache();
        std::lock_guard lock(c.mutex);
        if (void* p = c.take(size)) return p;
    }
    return system_allocate(size);
}

void free_tensor_bytes(void* p, std::size_t bytes) noexcept {
    if (p == nullptr) return;
    if (bytes >= kMinCached) {
        const std::size_t size = rounded(bytes);
        Cache& c = cache();
        std::lock_guard lock(c.mutex);
        if (size <= c.limit) {
            c.put(size, p);
            return;
        }
    }
    std::free(p);
}

void set_allocator_cache_limit(std::size_t bytes) {
    Cache& c = cache();
    std::lock_guard lock(c.mutex);
    c.limit = bytes;
    c.shrink_to(bytes);
}

std::size_t allocator_cached_bytes() {
    Cache& c = cache();
    std::lock_guard lock(c.mutex);
    return c.cached;
}

}  // namespace tapegrad
