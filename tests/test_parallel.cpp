// The core level's loops (framework/core/parallel.hpp) and their one rule for `after`: it runs
// once on every thread of the parallel region, after that thread's share (even an empty one),
// and once after the loop when it runs serially. Each loop is run serially and on 2 and 3
// threads, over sizes with empty shares, and every call of f and of `after` is logged with its
// thread, so a loop that skips `after`, runs it twice, or runs it before a share is done fails.
#include <boost/test/unit_test.hpp>

#include <omp.h>

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "framework/core/parallel.hpp"

namespace core = tapegrad::core;

namespace {

// What one run of a loop did, in the order each thread did it.
struct Log {
    std::mutex mutex;
    std::vector<std::vector<char>> by_thread;  // 'f' per call of f, 'a' per call of after
    std::vector<int64_t> covered;              // how many times each index was visited

    explicit Log(int64_t n) : by_thread(64), covered(static_cast<size_t>(n), 0) {}
    void event(char what) {
        std::lock_guard lock(mutex);
        by_thread[static_cast<size_t>(omp_get_thread_num())].push_back(what);
    }
    void visit(int64_t begin, int64_t end) {
        event('f');
        std::lock_guard lock(mutex);
        for (int64_t i = begin; i < end; ++i) ++covered[static_cast<size_t>(i)];
    }
};

// Runs `loop(parallel, log)` and checks the rule: with `threads` threads in the region
// (1 when serial), each of them calls after exactly once, as its last event, and no other
// thread does anything; every index is visited once.
void check_after_rule(const std::string& name, int64_t n, bool parallel, int threads,
                      const std::function<void(bool, Log&)>& loop) {
    BOOST_TEST_CONTEXT(name << ", n = " << n << (parallel ? ", parallel on " : ", serial, ") << threads << " threads") {
        omp_set_num_threads(threads);
        Log log(n);
        loop(parallel, log);
        const int participants = parallel ? threads : 1;
        for (int t = 0; t < 64; ++t) {
            const std::vector<char>& events = log.by_thread[static_cast<size_t>(t)];
            if (t >= participants) {
                BOOST_TEST(events.empty(), "thread " << t << " is not in the region but ran something");
                continue;
            }
            int afters = 0;
            for (char e : events) afters += e == 'a';
            BOOST_TEST(afters == 1, "thread " << t << " ran after " << afters << " times");
            BOOST_TEST((!events.empty() && events.back() == 'a'), "thread " << t << " ran f after its `after`");
        }
        for (int64_t i = 0; i < n; ++i) BOOST_TEST(log.covered[static_cast<size_t>(i)] == 1, "index " << i);
    }
}

void check_every_loop(int64_t n, bool parallel, int threads) {
    auto after = [](Log& log) { return [&log] { log.event('a'); }; };
    check_after_rule("for_range", n, parallel, threads, [&](bool p, Log& log) {
        core::for_range(
            n, p, [&](int64_t i) { log.visit(i, i + 1); }, after(log));
    });
    check_after_rule("for_thread_ranges", n, parallel, threads, [&](bool p, Log& log) {
        core::for_thread_ranges(
            n, p, [&](int64_t b, int64_t e) { log.visit(b, e); }, after(log));
    });
    check_after_rule("for_ranges", n, parallel, threads, [&](bool p, Log& log) {
        core::for_ranges(
            n, p, [&](int64_t b, int64_t e) { log.visit(b, e); }, after(log));
    });
    // for_each_chunk over a slice of `rows` rows of n / rows elements; `split` is its parallel.
    const int64_t rows = 3, row_length = n / rows;
    check_after_rule("for_each_chunk", rows * row_length, parallel, threads, [&](bool p, Log& log) {
        core::for_each_chunk(
            rows, row_length, p, [&](const core::Chunk& c) { log.visit(c.begin, c.begin + c.length); }, after(log));
    });
}

struct RestoreThreads {
    int saved = omp_get_max_threads();
    ~RestoreThreads() { omp_set_num_threads(saved); }
};

}  // namespace

BOOST_AUTO_TEST_CASE(every_loop_runs_after_once_per_thread_after_its_share_and_once_when_serial) {
    RestoreThreads restore;
    // 0 and 1: every share or all but one empty; 17: for_ranges' 16-element alignment leaves
    // the third thread nothing; 3·kChunk + 5: several chunks a row for for_each_chunk.
    for (int64_t n : {int64_t{0}, int64_t{1}, int64_t{17}, int64_t{1000}, 3 * core::kChunk + 5 * 3}) {
        check_every_loop(n, false, 1);
        check_every_loop(n, false, 2);  // serial even though the team would have 2
        check_every_loop(n, true, 2);
        check_every_loop(n, true, 3);
    }
}

// The serial paths must not open a region at all: f and after run on the calling thread.
BOOST_AUTO_TEST_CASE(serial_loops_run_on_the_calling_thread) {
    RestoreThreads restore;
    omp_set_num_threads(2);
    bool outside = true;
    core::for_range(
        4, false, [&](int64_t) { outside = outside && !omp_in_parallel(); },
        [&] { outside = outside && !omp_in_parallel(); });
    core::for_ranges(
        4, false, [&](int64_t, int64_t) { outside = outside && !omp_in_parallel(); },
        [&] { outside = outside && !omp_in_parallel(); });
    BOOST_TEST(outside);
}
