// The instruction set the kernel library was compiled for, as xsimd names it ("sse2",
// "fma3+avx2", "avx512bw"): in a TAPEGRAD_DISPATCH build, that of the level chosen at load
// time, since this function is dispatched like every other kernel (tapegrad::simd_level()).
#pragma once

namespace tapegrad::kernels {

const char* simd_arch_name();

}  // namespace tapegrad::kernels
