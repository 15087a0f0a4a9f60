// Fixture for the ctest case kernels_reject_tensor_include: a kernel source that reaches up
// to the tensor level. Compiled with the kernel library's own flags, it must not compile.
#include "framework/kernels/simd.hpp"
#include "framework/tensor.hpp"

int main() { return 0; }
