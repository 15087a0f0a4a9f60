// tapegrad::distributed: data-parallel training over MPI (Open MPI's C API), an optional
// component (target tapegrad_distributed, built when CMake finds MPI; libtapegrad itself never
// depends on MPI). The process's place in the world (rank, world size), broadcast of rank 0's
// state so replicas start identical, and sums over all ranks. Outside mpirun it is a world of
// one and calls no MPI at all. Every wait polls with a deadline (set_timeout), so a rank that
// died or stalled makes the others throw std::runtime_error instead of hanging; call abort()
// from the handler so that mpirun ends the whole job.
#pragma once

#include <cstdint>
#include <span>

#include "framework/io/state_dict.hpp"

namespace tapegrad::distributed {

// Initialises MPI when the process was started by mpirun (MPI_THREAD_FUNNELED: only the main
// thread calls MPI; OpenMP kernels never do), with MPI_ERRORS_RETURN so that MPI failures come
// back as exceptions; finalises it on destruction. Make one at the top of main().
class Environment {
  public:
    Environment(int& argc, char**& argv);
    ~Environment();
    Environment(const Environment&) = delete;
    Environment& operator=(const Environment&) = delete;
};

int rank();
int world_size();
// Rank 0: the one that prints and writes files.
inline bool is_main() { return rank() == 0; }
// True when MPI is in use (started by mpirun), even with a world of one.
bool active();

// How long any wait for other ranks may take before it throws (default 300 s; the environment
// variable TAPEGRAD_DIST_TIMEOUT overrides it at start).
void set_timeout(double seconds);
double timeout();

// Ends every rank of the job (MPI_Abort) with `code`; std::exit(code) in a world of one.
[[noreturn]] void abort(int code);

// Copies rank `root`'s values of every tensor in `state` (float32, float64 and int64 alike;
// a module's state_dict() shares its tensors, so this sets the module) to all ranks. Throws
// std::runtime_error naming both when the ranks' states differ in names, dtypes or sizes.
void broadcast(const StateDict& state, int root = 0);

// Sums `values` over all ranks, in place on every rank (MPI_Iallreduce, waited with the deadline;
// `what` names the reduction in a timeout's message).
void allreduce_sum(std::span<double> values, const char* what);
void allreduce_sum(std::span<int64_t> values, const char* what);

// Blocks until every rank has arrived (MPI_Ibarrier with the deadline).
void barrier(const char* what);

}  // namespace tapegrad::distributed
