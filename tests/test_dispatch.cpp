// Run-time ISA dispatch (TAPEGRAD_DISPATCH builds, framework/kernels/CMakeLists.txt): the
// level simd_level() reports is the one TAPEGRAD_ISA forced, or without it the best the CPU
// has. In other builds: what the kernels were compiled for. ctest runs this suite and the
// kernel suites once per level this CPU can run (tests/CMakeLists.txt).
#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <string>

#include "framework/threading.hpp"

namespace tg = tapegrad;

namespace {

// TAPEGRAD_ISA's values and the name xsimd gives the architecture each level compiles for.
std::string xsimd_name(const std::string& isa) {
    if (isa == "sse2") return "sse2";
    if (isa == "avx2") return "fma3+avx2";
    if (isa == "avx512") return "avx512bw";
    return "unknown TAPEGRAD_ISA " + isa;
}

}  // namespace

BOOST_AUTO_TEST_CASE(simd_level_is_the_one_chosen) {
    const std::string level = tg::simd_level();
    BOOST_TEST_MESSAGE("simd_level: " << level);
#ifdef TAPEGRAD_TEST_DISPATCH
    const char* forced = std::getenv("TAPEGRAD_ISA");
    if (forced != nullptr && *forced != '\0') {
        BOOST_TEST(level == xsimd_name(forced));
    } else {
        __builtin_cpu_init();
        const std::string best = __builtin_cpu_supports("x86-64-v4")   ? "avx512"
                                 : __builtin_cpu_supports("x86-64-v3") ? "avx2"
                                                                        : "sse2";
        BOOST_TEST(level == xsimd_name(best));
    }
#else
    BOOST_TEST(!level.empty());
#endif
}
