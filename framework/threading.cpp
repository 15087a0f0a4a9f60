// set_num_threads / get_num_threads / simd_level / blas_core; see threading.hpp.
#include "framework/threading.hpp"

#include "framework/kernels/gemm.hpp"
#include "framework/kernels/isa.hpp"

#include <omp.h>

#include <stdexcept>
#include <string>

namespace tapegrad {

void set_num_threads(int n) {
    if (n < 1) throw std::invalid_argument("set_num_threads: expected n >= 1, but got " + std::to_string(n));
    omp_set_num_threads(n);
    kernels::blas_set_num_threads(n);
}

int get_num_threads() { return omp_get_max_threads(); }

// The kernels' own answer: in a dispatch build, the level chosen at load time.
const char* simd_level() { return kernels::simd_arch_name(); }

const char* blas_core() { return kernels::blas_core_name(); }

}  // namespace tapegrad
