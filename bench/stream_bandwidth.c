// Memory bandwidth probe after McCalpin's STREAM, float32, OpenMP: the copy kernel c[i] = a[i]
// and the triad a[i] = b[i] + s * c[i]. compare.py compiles it (gcc -O3 -march=native -fopenmp)
// and holds the memory-bound kernels to a share of the copy figure.
//
// Usage: stream_bandwidth [ELEMENTS]  (floats per array, 3 arrays; default 2^26), threads from
// OMP_NUM_THREADS. Prints one JSON line: elements, MB per array, threads, copy_GBps, triad_GBps.
//
// Method: the threads that time the arrays also touch them first (the same static schedule
// everywhere, so on a NUMA machine each thread's pages are local); 10 repetitions of copy then
// triad, each timed alone; the fastest of each counts. Bytes are those the kernel names (copy 8 B
// per element, triad 12), not the write-allocate reads of the destination, as STREAM counts.
// The triad runs between copies so that each copy starts after a pass over all three arrays,
// not straight after the last copy with its own two arrays still in cache: at sizes near the
// last-level cache the copy figure is then no more cache than a kernel run on fresh data sees.
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

enum { kRepetitions = 10 };
static const float kScalar = 1.5f;

static float* allocate(size_t n) {
    size_t bytes = (n * sizeof(float) + 63) / 64 * 64;  // aligned_alloc wants a multiple of the alignment
    float* p = aligned_alloc(64, bytes);
    if (p == NULL) {
        fprintf(stderr, "stream_bandwidth: cannot allocate %zu bytes\n", bytes);
        exit(1);
    }
    return p;
}

int main(int argc, char** argv) {
    size_t n = (size_t)1 << 26;
    if (argc > 2) {
        fprintf(stderr, "usage: stream_bandwidth [ELEMENTS]\n");
        return 2;
    }
    if (argc == 2) {
        char* end = NULL;
        long long v = strtoll(argv[1], &end, 10);
        if (*argv[1] == '\0' || *end != '\0' || v < 1) {
            fprintf(stderr, "stream_bandwidth: expected a positive number of elements, got '%s'\n", argv[1]);
            return 2;
        }
        n = (size_t)v;
    }
    float* a = allocate(n);
    float* b = allocate(n);
    float* c = allocate(n);
    const long long len = (long long)n;

#pragma omp parallel for schedule(static)
    for (long long i = 0; i < len; ++i) {
        a[i] = 1.0f;
        b[i] = 2.0f;
        c[i] = 0.0f;
    }

    double best_copy = 1e30, best_triad = 1e30;
    for (int r = 0; r < kRepetitions; ++r) {
        double t = omp_get_wtime();
#pragma omp parallel for schedule(static)
        for (long long i = 0; i < len; ++i) c[i] = a[i];
        t = omp_get_wtime() - t;
        if (t < best_copy) best_copy = t;

        t = omp_get_wtime();
#pragma omp parallel for schedule(static)
        for (long long i = 0; i < len; ++i) a[i] = b[i] + kScalar * c[i];
        t = omp_get_wtime() - t;
        if (t < best_triad) best_triad = t;
    }

    // Every element must hold what the repetitions compute: a kernel the compiler dropped (the
    // arrays are never read otherwise) or got wrong fails here instead of reporting a figure.
    // The values are exact in float (multiples of 2^-10 below 2^10), FMA-contracted or not.
    float want_a = 1.0f, want_c = 0.0f;
    for (int r = 0; r < kRepetitions; ++r) {
        want_c = want_a;
        want_a = 2.0f + kScalar * want_c;
    }
    long long wrong = 0;
#pragma omp parallel for schedule(static) reduction(+ : wrong)
    for (long long i = 0; i < len; ++i) wrong += (a[i] != want_a) + (b[i] != 2.0f) + (c[i] != want_c);
    if (wrong != 0) {
        fprintf(stderr, "stream_bandwidth: %lld values differ from the expected a=%g, b=2, c=%g\n", wrong,
                (double)want_a, (double)want_c);
        return 1;
    }

    const double bytes = (double)n * sizeof(float);
    printf("{\"elements\": %zu, \"mb_per_array\": %.1f, \"threads\": %d, \"copy_GBps\": %.2f, \"triad_GBps\": %.2f}\n",
           n, bytes / 1e6, omp_get_max_threads(), 2.0 * bytes / best_copy / 1e9, 3.0 * bytes / best_triad / 1e9);
    free(a);
    free(b);
    free(c);
    return 0;
}
