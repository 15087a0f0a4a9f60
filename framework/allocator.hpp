// The allocator behind every tensor: 64-byte aligned, and large blocks are recycled.
// Freeing a large block and allocating one of the same size again (every training step
// does) would otherwise return the pages to the OS and fault them back in, which on a VM
// costs more than the kernel that fills them. Blocks of at least 256 KiB are kept in a
// size-keyed cache, up to a total that set_allocator_cache_limit() controls (256 MiB by
// default; 0 disables the cache).
#pragma once

#include <cstddef>
#include <new>

namespace tapegrad {

void* allocate_tensor_bytes(std::size_t bytes);
void free_tensor_bytes(void* p, std::size_t bytes) noexcept;

void set_allocator_cache_limit(std::size_t bytes);
std::size_t allocator_cached_bytes();

template <typename T>
struct CachingAllocator {
    using value_type = T;
    CachingAllocator() = default;
    template <typename U> CachingAllocator(const CachingAllocator<U>&) noexcept {}
    template <typename U> struct rebind { using other = CachingAllocator<U>; };

    T* allocate(std::size_t n) { return static_cast<T*>(allocate_tensor_bytes(n * sizeof(T))); }
    void deallocate(T* p, std::size_t n) noexcept { free_tensor_bytes(p, n * sizeof(T)); }

    template <typename U> bool operator==(const CachingAllocator<U>&) const noexcept { return true; }
    template <typename U> bool operator!=(const CachingAllocator<U>&) const noexcept { return false; }
};

}  // namespace tapegrad
