// The version of the tapegrad library in use ("0.2.0"): the library's own, read at run time,
// so a program can tell which installed libtapegrad it loaded.
#pragma once

namespace tapegrad {

const char* version();

}  // namespace tapegrad
