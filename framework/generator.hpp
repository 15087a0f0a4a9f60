// Generator: a seedable source of random numbers (mt19937_64 with our own normal and uniform
// transforms, so sequences are the same on every standard library). manual_seed() seeds the
// global generator that factories use when none is passed.
#pragma once

#include <cstdint>
#include <random>
#include <string>

namespace tapegrad {

class Generator {
  public:
    explicit Generator(uint64_t seed = 0) { manual_seed(seed); }
    void manual_seed(uint64_t seed);
    uint64_t seed() const { return seed_; }

    uint64_t next_u64() { return engine_(); }
    // Uniform on [0, 1) with 53 random bits.
    double uniform();
    // Standard normal (Box–Muller; the second value of each pair is kept for the next call).
    double normal();
    // Uniform integer in [0, n); n must be > 0.
    uint64_t below(uint64_t n);

    // The full state as text, and back (for checkpoints that resume a run exactly).
    std::string state() const;
    void set_state(const std::string& state);

  private:
    std::mt19937_64 engine_;
    uint64_t seed_ = 0;
    bool has_spare_ = false;
    double spare_ = 0.0;
};

// The global generator (one per process), seeded with 0 until manual_seed() is called.
Generator& default_generator();
void manual_seed(uint64_t seed);

}  // namespace tapegrad
