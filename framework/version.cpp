// version(); see version.hpp. TAPEGRAD_VERSION is the project's version, set by CMake.
#include "framework/version.hpp"

namespace tapegrad {

const char* version() { return TAPEGRAD_VERSION; }

}  // namespace tapegrad
