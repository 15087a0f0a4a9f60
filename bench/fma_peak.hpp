// The float32 fused multiply-add peak of this machine, measured: what a convolution's share of
// "the peak" in bench_nets --conv is a share of. fma_peak.cpp is compiled with -march=native, so
// it runs the widest FMA the build machine has (zmm under AVX-512, ymm under AVX2 + FMA).
#pragma once

struct FmaPeak {
    const char* isa;         // "avx512f (zmm)", "fma3 (ymm)" or "scalar (no FMA vector unit compiled)"
    int lanes;               // floats per FMA instruction
    int chains;              // independent accumulators per thread
    int threads;             // threads, each on its own chains
    double gflops;           // all threads together: 2 · lanes · chains · iterations / seconds
    double gflops_per_core;  // gflops / threads
};

// The best of `repeats` timed runs of `threads` threads (std::thread), each running `chains`
// independent chains of FMAs for about `seconds` / repeats. Throws std::invalid_argument for
// threads < 1 or repeats < 1.
FmaPeak fma_peak(int threads, double seconds = 0.5, int repeats = 10);
