// The MPI environment, broadcast and sums; see distributed.hpp.
#include "framework/distributed/distributed.hpp"

#include <mpi.h>

#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "framework/distributed/mpi_wait.hpp"

namespace tapegrad::distributed {

namespace {
int rank_ = 0, world_ = 1;
bool active_ = false;
double timeout_ = 300.0;

// Open MPI's launcher (and PMI/PMIx launchers generally) set these in every process it starts.
bool started_by_launcher() {
    for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE"})
        if (std::getenv(name) != nullptr) return true;
    return false;
}
}  // namespace

namespace detail {

void check(int code, const std::string& what) {
    if (code == MPI_SUCCESS) return;
    char text[MPI_MAX_ERROR_STRING];
    int length = 0;
    MPI_Error_string(code, text, &length);
    throw std::runtime_error(what + " failed on rank " + std::to_string(rank_) + ": " +
                             std::string(text, size_t(length)));
}

void wait(MPI_Request& request, const std::string& what) {
    const auto begin = std::chrono::steady_clock::now();
    const auto deadline = begin + std::chrono::duration<double>(timeout_);
    // Waits in a training step are the other ranks finishing their backward: a millisecond or
    // two. For that long the core is kept (yielding it only to threads ready to run on it, as
    // Open MPI's mpi_yield_when_idle does when oversubscribed); a sleeping thread lets a
    // virtual machine's vCPU halt, and waking it can cost more than the wait. Past that, it
    // sleeps between polls until the deadline.
    const auto keep_core_until = begin + std::chrono::milliseconds(20);
    int done = 0;
    for (int polls = 0;; ++polls) {
        check(MPI_Test(&request, &done, MPI_STATUS_IGNORE), what);
        if (done) return;
        if (polls < 100) continue;  // a shared-memory reduction finishes in microseconds
        const auto now = std::chrono::steady_clock::now();
        if (now > deadline)
            throw std::runtime_error(what + ": rank " + std::to_string(rank_) + " of " + std::to_string(world_) +
                                     " waited more than " + std::to_string(int(timeout_)) +
                                     " s for the other ranks (one of them died or stalled); stopping");
        if (now < keep_core_until)
            std::this_thread::yield();
        else
            std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
}

}  // namespace detail

Environment::Environment(int& argc, char**& argv) {
    if (const char* t = std::getenv("TAPEGRAD_DIST_TIMEOUT")) timeout_ = std::stod(t);
    if (!started_by_launcher()) return;
    int initialised = 0;
    MPI_Initialized(&initialised);
    if (!initialised) {
        int provided = 0;
        MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &world_);
    active_ = true;
}

Environment::~Environment() {
    if (!active_) return;
    int finalised = 0;
    MPI_Finalized(&finalised);
    if (!finalised) MPI_Finalize();
    active_ = false;
}

int rank() { return rank_; }
int world_size() { return world_; }
bool active() { return active_; }

void set_timeout(double seconds) {
    if (!(seconds > 0))
        throw std::invalid_argument("distributed::set_timeout: expected seconds > 0, but got " +
                                    std::to_string(seconds));
    timeout_ = seconds;
}
double timeout() { return timeout_; }

void abort(int code) {
    if (active_) MPI_Abort(MPI_COMM_WORLD, code);
    std::exit(code);
}

namespace {

template <typename T> MPI_Datatype mpi_type();
template <> MPI_Datatype mpi_type<float>() { return MPI_FLOAT; }
template <> MPI_Datatype mpi_type<double>() { return MPI_DOUBLE; }
template <> MPI_Datatype mpi_type<int64_t>() { return MPI_INT64_T; }

template <typename T>
void allreduce(std::span<T> values, MPI_Op op, const std::string& what) {
    if (!active_ || values.empty()) return;
    MPI_Request request;
    detail::check(
        MPI_Iallreduce(MPI_IN_PLACE, values.data(), int(values.size()), mpi_type<T>(), op, MPI_COMM_WORLD, &request),
        what);
    detail::wait(request, what);
}

}  // namespace

void allreduce_sum(std::span<double> values, const char* what) { allreduce(values, MPI_SUM, what); }
void allreduce_sum(std::span<int64_t> values, const char* what) { allreduce(values, MPI_SUM, what); }

void barrier(const char* what) {
    if (!active_) return;
    MPI_Request request;
    detail::check(MPI_Ibarrier(MPI_COMM_WORLD, &request), what);
    detail::wait(request, what);
}

void broadcast(const StateDict& state, int root) {
    if (!active_) return;
    // First the layout, as a fingerprint every rank compares with root's: entries, and per
    // entry a hash of its name, its dtype index and its size.
    std::vector<int64_t> layout{int64_t(state.size())};
    for (const auto& [name, value] : state.entries()) {
        layout.push_back(int64_t(std::hash<std::string>{}(name) & 0x7fffffffffffffff));
        layout.push_back(int64_t(value.index()));
        layout.push_back(std::visit([](const auto& t) { return t.numel(); }, value));
    }
    std::vector<int64_t> theirs(layout);
    int64_t count = int64_t(theirs.size());
    MPI_Request request;
    detail::check(MPI_Ibcast(&count, 1, MPI_INT64_T, root, MPI_COMM_WORLD, &request),
                  "broadcast of the state's layout");
    detail::wait(request, "broadcast of the state's layout");
    theirs.resize(size_t(count));
    detail::check(MPI_Ibcast(theirs.data(), int(count), MPI_INT64_T, root, MPI_COMM_WORLD, &request),
                  "broadcast of the state's layout");
    detail::wait(request, "broadcast of the state's layout");
    const std::vector<int64_t> mismatch{theirs != layout ? int64_t(1) : int64_t(0)};
    std::vector<int64_t> any(mismatch);
    allreduce_sum(std::span<int64_t>(any), "broadcast: comparing the ranks' states");
    if (any[0] != 0)
        throw std::runtime_error(
            "broadcast: the ranks' states differ in names, dtypes or sizes (" + std::to_string(any[0]) + " of " +
            std::to_string(world_) + " ranks differ from rank " + std::to_string(root) + "; this rank has " +
            std::to_string(state.size()) + " tensors, rank " + std::to_string(root) + " has " +
            std::to_string(theirs.empty() ? 0 : theirs[0]) + "); build the same model on every rank");
    std::vector<MPI_Request> requests;
    for (const auto& [name, value] : state.entries())
        std::visit([&](auto t) {  // a handle: the values are shared with the module
            using T = typename decltype(t)::value_type;
            if (t.numel() == 0) return;
            requests.emplace_back();
            detail::check(MPI_Ibcast(t.data(), int(t.numel()), mpi_type<T>(), root, MPI_COMM_WORLD, &requests.back()),
                          "broadcast of '" + name + "'");
        }, value);
    for (MPI_Request& r : requests) detail::wait(r, "broadcast of the parameters and buffers");
}

}  // namespace tapegrad::distributed
