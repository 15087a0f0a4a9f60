// The allocator behind every tensor: 64-byte aligned, and large blocks are recycled.
// Freeing a large block and allocating one of the same size again (every training step
// does) would otherwise return the pages to the OS and fault them back in, which on a VM
// costs more than the kernel that fills them. Freed blocks of at least 256 KiB are kept in
// a size-keyed cache up to a total that set_allocator_cache_limit() controls (256 MiB by
// default; 0 disables the cache); past it, the least recently freed blocks are released.
// A request of more bytes than int64 holds is std::length_error, one that the system cannot
// satisfy std::bad_alloc.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "framework/core/checked.hpp"

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

    T* allocate(std::size_t n) {
        if (n > static_cast<std::size_t>(INT64_MAX))
            throw std::length_error("tensor storage: size overflow (" + std::to_string(n) + " elements)");
        return static_cast<T*>(
            allocate_tensor_bytes(checked_bytes(static_cast<int64_t>(n), sizeof(T), "tensor storage")));
    }
    void deallocate(T* p, std::size_t n) noexcept { free_tensor_bytes(p, n * sizeof(T)); }

    template <typename U> bool operator==(const CachingAllocator<U>&) const noexcept { return true; }
    template <typename U> bool operator!=(const CachingAllocator<U>&) const noexcept { return false; }
};

// An uninitialised buffer of n T's from the same allocator, for a kernel's scratch space
// (im2col columns, pooling indices): recycled like tensors, so a training step that needs
// the same buffers every time does not fault their pages in again.
template <typename T>
class ScratchBuffer {
  public:
    explicit ScratchBuffer(std::size_t n) : n_(n), data_(n ? CachingAllocator<T>().allocate(n) : nullptr) {}
    ~ScratchBuffer() {
        if (data_) CachingAllocator<T>().deallocate(data_, n_);
    }
    ScratchBuffer(const ScratchBuffer&) = delete;
    ScratchBuffer& operator=(const ScratchBuffer&) = delete;

    T* data() { return data_; }
    const T* data() const { return data_; }
    std::size_t size() const { return n_; }
    T& operator[](std::size_t i) { return data_[i]; }
    const T& operator[](std::size_t i) const { return data_[i]; }

  private:
    std::size_t n_;
    T* data_;
};

}  // namespace tapegrad
