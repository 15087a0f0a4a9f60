// simd_arch_name; see isa.hpp.
#include "framework/kernels/isa.hpp"

#include <xsimd/xsimd.hpp>

namespace tapegrad::kernels {

const char* simd_arch_name() { return xsimd::default_arch::name(); }

}  // namespace tapegrad::kernels
