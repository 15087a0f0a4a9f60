// The one way this component waits on MPI: a non-blocking request polled with MPI_Test until
// done or past distributed::timeout(), and MPI error codes turned into exceptions. Private to
// framework/distributed (the public headers never include <mpi.h>).
#pragma once

#include <mpi.h>

#include <string>

namespace tapegrad::distributed::detail {

// Throws std::runtime_error "<what>: <MPI's error string>" unless code is MPI_SUCCESS.
void check(int code, const std::string& what);
// Waits for `request`; throws std::runtime_error naming `what`, this rank and the timeout
// when it is not done in time (another rank died or stalled).
void wait(MPI_Request& request, const std::string& what);

}  // namespace tapegrad::distributed::detail
