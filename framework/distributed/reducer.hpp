// Reducer: averages parameter gradients over all ranks during backward (PyTorch DDP's
// buckets). Parameters are grouped, in reverse registration order — the order backward
// finishes them — into buckets of about bucket_bytes, the first of them (the last layers,
// whose gradients are ready first) of about first_bucket_bytes, as DDP does, so that
// communication starts early even where the whole model fits one bucket. Tape::on_grad_ready
// tells when each gradient is final, and a bucket whose gradients are all final is reduced at once with a
// non-blocking allreduce, overlapping the rest of backward. finish() waits for every bucket
// and writes the averages back; call it between tape.backward() and opt.step().
// Float32 parameters; every parameter must be read by one op per step (Tape::on_grad_ready).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "framework/tape.hpp"
#include "framework/tensor.hpp"

namespace tapegrad::distributed {

struct ReducerOptions {
    // A bucket closes when it holds at least this many bytes of gradients.
    int64_t bucket_bytes = 25 * 1024 * 1024;
    // The first bucket (backward's first gradients) closes at min(this, bucket_bytes):
    // DDP's _DEFAULT_FIRST_BUCKET_BYTES, 1 MiB.
    int64_t first_bucket_bytes = 1024 * 1024;
    // Start each bucket's allreduce during backward (true), or all of them in finish().
    bool overlap = true;
};

class Reducer {
  public:
    explicit Reducer(std::vector<Tensor> parameters, ReducerOptions options = {});
    ~Reducer();
    Reducer(const Reducer&) = delete;
    Reducer& operator=(const Reducer&) = delete;

    // Registers this step's hooks on `tape`; call after the forward, before tape.backward().
    // Nothing in a world of one.
    void attach(Tape& tape);
    // Waits for all buckets (with the deadline of distributed::timeout()) and sets each
    // parameter's gradient to the mean over ranks; a parameter no rank gave a gradient gets
    // zeros. Throws std::runtime_error on a timeout or an MPI error, naming the bucket.
    void finish();

    int64_t num_buckets() const;
    // The bucket that holds parameter `index` (of the constructor's list); bucket 0 is reduced first.
    int64_t bucket_of(size_t index) const;
    // Seconds finish() spent in its last call: the part of the communication backward did not hide.
    double last_finish_seconds() const { return last_finish_seconds_; }

  private:
    struct Bucket;
    void ready(size_t parameter);
    void start(Bucket& bucket);
    void progress();

    std::vector<Tensor> parameters_;
    ReducerOptions options_;
    std::vector<std::unique_ptr<Bucket>> buckets_;
    std::vector<size_t> bucket_of_;  // per parameter
    std::vector<int64_t> offset_of_; // per parameter, in its bucket
    bool attached_ = false;
    double last_finish_seconds_ = 0;
};

}  // namespace tapegrad::distributed
