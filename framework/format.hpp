// How tapegrad prints a number in messages and reprs: as Python does, so that a value
// reads as it would in PyTorch. The one printer of floats for every level above.
#pragma once

#include <string>

namespace tapegrad {

// Python's repr of a float: the shortest text that reads back as the same double, fixed
// when -4 <= exponent < 16, else scientific ("1e-05", "0.001", "1.0", "1e+16", "nan").
std::string python_float_repr(double v);

// python_float_repr without the ".0" of a whole number ("0", "-1", "0.5", "1e+16"): the
// value as a user may well have written it (PyTorch's messages print an int as an int),
// for messages that name an option.
std::string python_number_repr(double v);

}  // namespace tapegrad
