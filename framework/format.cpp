// Python's float repr; see format.hpp.
#include "framework/format.hpp"

#include <charconv>
#include <cmath>
#include <cstdlib>

namespace tapegrad {

std::string python_float_repr(double v) {
    if (std::isnan(v)) return "nan";
    if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
    // Shortest round-trip digits, then Python's choice: fixed when -4 <= exponent < 16.
    char buf[64];
    auto res = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
    const std::string sci(buf, res.ptr);
    const size_t e = sci.find('e');
    const int exponent = std::stoi(sci.substr(e + 1));
    if (exponent < -4 || exponent >= 16) {
        const std::string mantissa = sci.substr(0, e);
        const std::string sign = exponent < 0 ? "-" : "+";
        const std::string digits = std::to_string(std::abs(exponent));
        return mantissa + "e" + sign + (digits.size() < 2 ? "0" : "") + digits;
    }
    res = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed);
    std::string fixed(buf, res.ptr);
    if (fixed.find('.') == std::string::npos) fixed += ".0";
    return fixed;
}

std::string python_number_repr(double v) {
    std::string text = python_float_repr(v);
    if (text.ends_with(".0")) text.resize(text.size() - 2);
    return text;
}

}  // namespace tapegrad
