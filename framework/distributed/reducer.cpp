// Reducer: gradient buckets reduced during backward; see reducer.hpp.
#include "framework/distributed/reducer.hpp"

#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <string>

#include "framework/distributed/distributed.hpp"
#include "framework/distributed/mpi_wait.hpp"

namespace tapegrad::distributed {

struct Reducer::Bucket {
    std::vector<size_t> parameters;  // in the order backward finishes them
    std::vector<float> values;       // their gradients, concatenated
    size_t pending = 0;              // gradients not final yet this step
    bool started = false;
    MPI_Request request = MPI_REQUEST_NULL;
};

Reducer::Reducer(std::vector<Tensor> parameters, ReducerOptions options)
    : parameters_(std::move(parameters)), options_(options) {
    if (options_.bucket_bytes < 1)
        throw std::invalid_argument("Reducer: expected bucket_bytes >= 1, but got " +
                                    std::to_string(options_.bucket_bytes));
    if (options_.first_bucket_bytes < 1)
        throw std::invalid_argument("Reducer: expected first_bucket_bytes >= 1, but got " +
                                    std::to_string(options_.first_bucket_bytes));
    const int64_t first_cap = std::min(options_.first_bucket_bytes, options_.bucket_bytes);
    bucket_of_.resize(parameters_.size());
    offset_of_.resize(parameters_.size());
    int64_t bytes = 0;
    for (size_t i = parameters_.size(); i-- > 0;) {
        if (buckets_.empty() || bytes >= (buckets_.size() == 1 ? first_cap : options_.bucket_bytes)) {
            buckets_.push_back(std::make_unique<Bucket>());
            bytes = 0;
        }
        Bucket& b = *buckets_.back();
        bucket_of_[i] = buckets_.size() - 1;
        offset_of_[i] = int64_t(b.values.size());
        b.parameters.push_back(i);
        b.values.resize(b.values.size() + size_t(parameters_[i].numel()));
        bytes += parameters_[i].numel() * int64_t(sizeof(float));
    }
}

Reducer::~Reducer() {
    // A step abandoned by an exception leaves requests in flight; they are not waited for
    // (the job is ending), only released.
    for (auto& b : buckets_)
        if (b->request != MPI_REQUEST_NULL) MPI_Request_free(&b->request);
}

int64_t Reducer::num_buckets() const { return int64_t(buckets_.size()); }

int64_t Reducer::bucket_of(size_t index) const {
    if (index >= parameters_.size())
        throw std::out_of_range("Reducer::bucket_of: expected a parameter index below " +
                                std::to_string(parameters_.size()) + ", but got " + std::to_string(index));
    return int64_t(bucket_of_[index]);
}

void Reducer::attach(Tape& tape) {
    if (world_size() == 1) return;
    for (auto& b : buckets_) {
        if (b->request != MPI_REQUEST_NULL)
            throw std::logic_error(
                "Reducer::attach: the previous step's reductions were not finished; call finish() after each backward");
        b->pending = b->parameters.size();
        b->started = false;
    }
    for (size_t i = 0; i < parameters_.size(); ++i) tape.on_grad_ready(parameters_[i], [this, i] { ready(i); });
    attached_ = true;
}

void Reducer::ready(size_t parameter) {
    Bucket& b = *buckets_[bucket_of_[parameter]];
    const Tensor& p = parameters_[parameter];
    const Tensor g = p.grad();
    float* dst = b.values.data() + offset_of_[parameter];
    if (g.defined())
        std::copy(g.data(), g.data() + g.numel(), dst);
    else
        std::fill(dst, dst + p.numel(), 0.0f);
    if (--b.pending == 0 && options_.overlap) start(b);
    if (options_.overlap) progress();
}

void Reducer::start(Bucket& b) {
    detail::check(MPI_Iallreduce(MPI_IN_PLACE, b.values.data(), int(b.values.size()), MPI_FLOAT, MPI_SUM,
                                 MPI_COMM_WORLD, &b.request),
                  "the gradient allreduce");
    b.started = true;
}

// Open MPI moves a non-blocking collective on only inside MPI calls; a test of each request in
// flight, at every finished gradient, keeps the reductions going while backward runs.
void Reducer::progress() {
    for (auto& b : buckets_)
        if (b->request != MPI_REQUEST_NULL) {
            int done = 0;
            detail::check(MPI_Test(&b->request, &done, MPI_STATUS_IGNORE), "the gradient allreduce");
        }
}

void Reducer::finish() {
    if (!attached_) return;
    attached_ = false;
    const auto begin = std::chrono::steady_clock::now();
    for (size_t k = 0; k < buckets_.size(); ++k) {
        Bucket& b = *buckets_[k];
        if (b.pending != 0)
            throw std::logic_error("Reducer::finish: bucket " + std::to_string(k) + " has " +
                                   std::to_string(b.pending) +
                                   " gradients that backward never finished; call finish() after tape.backward()");
        if (!b.started) start(b);
    }
    const float world = float(world_size());
    for (size_t k = 0; k < buckets_.size(); ++k) {
        Bucket& b = *buckets_[k];
        if (b.request != MPI_REQUEST_NULL)
            detail::wait(b.request, "the gradient allreduce of bucket " + std::to_string(k) + " of " +
                                        std::to_string(buckets_.size()));
        for (size_t i : b.parameters) {
            const Tensor& p = parameters_[i];
            Tensor g = p.grad();
            if (!g.defined()) {
                g = Tensor(p.shape());
                p.set_grad(g);
            }
            const float* __restrict src = b.values.data() + offset_of_[i];
            float* __restrict dst = g.data();
            const int64_t n = g.numel();
            for (int64_t j = 0; j < n; ++j) dst[j] = src[j] / world;
        }
    }
    last_finish_seconds_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
}

}  // namespace tapegrad::distributed
