// Generator implementation; see generator.hpp.
#include "framework/generator.hpp"

#include <cmath>
#include <numbers>
#include <sstream>
#include <stdexcept>

namespace tapegrad {

void Generator::manual_seed(uint64_t seed) {
    seed_ = seed;
    engine_.seed(seed);
    has_spare_ = false;
    spare_ = 0.0;
}

double Generator::uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }

double Generator::normal() {
    if (has_spare_) {
        has_spare_ = false;
        return spare_;
    }
    double u1 = 0.0;
    while (u1 <= 0.0) u1 = uniform();  // log(0) is -inf
    const double u2 = uniform();
    const double r = std::sqrt(-2.0 * std::log(u1));
    const double theta = 2.0 * std::numbers::pi * u2;
    spare_ = r * std::sin(theta);
    has_spare_ = true;
    return r * std::cos(theta);
}

uint64_t Generator::below(uint64_t n) {
    if (n == 0) throw std::invalid_argument("Generator::below: expected n > 0, but got n=0");
    // Rejection sampling keeps the result unbiased for every n.
    const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t v = engine_();
    while (v >= limit) v = engine_();
    return v % n;
}

std::string Generator::state() const {
    std::ostringstream out;
    out << seed_ << ' ' << has_spare_ << ' ' << std::hexfloat << spare_ << ' ' << engine_;
    return out.str();
}

void Generator::set_state(const std::string& state) {
    std::istringstream in(state);
    Generator g;
    std::string spare;
    in >> g.seed_ >> g.has_spare_ >> spare >> g.engine_;
    if (!in) throw std::invalid_argument("Generator::set_state: the text is not a generator state");
    g.spare_ = std::strtod(spare.c_str(), nullptr);
    *this = g;
}

Generator& default_generator() {
    static Generator global(0);
    return global;
}

void manual_seed(uint64_t seed) { default_generator().manual_seed(seed); }

}  // namespace tapegrad
