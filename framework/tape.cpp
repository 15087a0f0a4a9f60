// Tape implementation; see tape.hpp.
#include "framework/tape.hpp"

#include <cstdio>
#include <exception>
#include <stdexcept>

namespace tapegrad {

namespace {
thread_local Tape* active_tape = nullptr;
}

Tape::Tape() : previous_(active_tape) { active_tape = this; }

Tape::~Tape() {
    if (active_tape != this) {
        // Destroying an outer tape before an inner one would leave a dangling active pointer.
        std::fputs("tapegrad: Tape destroyed out of order (tapes must nest like scopes)\n", stderr);
        std::terminate();
    }
    active_tape = previous_;
}

Tape* Tape::active() { return active_tape; }

void Tape::record(const char* op, const void* output, std::function<void()> backward) {
    if (consumed_)
        throw std::logic_error(std::string("op '") + op +
                               "' recorded on a tape that already ran backward; use a new Tape for each step");
    records_.push_back(Record{op, output, std::move(backward)});
}

template <typename T>
void Tape::backward(const BasicTensor<T>& loss) {
    if (loss.numel() != 1)
        throw std::invalid_argument("backward: expected a one-element loss, but got shape " + to_string(loss.shape()) +
                                    "; for a non-scalar output pass a seed gradient: tape.backward(out, seed)");
    run_backward(loss, ones<T>(loss.shape()));
}

template <typename T>
void Tape::backward(const BasicTensor<T>& out, const BasicTensor<T>& seed) {
    if (seed.shape() != out.shape())
        throw std::invalid_argument("backward: expected a seed gradient of shape " + to_string(out.shape()) +
                                    " (the output's shape), but got " + to_string(seed.shape()));
    run_backward(out, seed);
}

template <typename T>
void Tape::run_backward(const BasicTensor<T>& out, const BasicTensor<T>& seed) {
    if (consumed_)
        throw std::logic_error("backward called twice on the same tape; its records were released by the first call");
    size_t end = records_.size();
    while (end > 0 && records_[end - 1].output != out.id()) --end;
    if (end == 0)
        throw std::invalid_argument(
            "backward: the tensor was not produced by an op recorded on this tape (it is a leaf, was computed "
            "while no tape was active, or none of its inputs required grad)");

    consumed_ = true;
    // Records are released even if a backward closure throws, so the tape cannot be reused
    // half-consumed.
    struct Release {
        std::vector<Record>& records;
        ~Release() { records.clear(); records.shrink_to_fit(); }
    } release{records_};

    // The seed becomes out's gradient without a copy: backward closures only read the
    // gradient of their output, and out's is released once its record has run.
    if (out.grad().defined())
        out.accumulate_grad(seed);
    else
        out.set_grad(seed);
    for (size_t i = end; i-- > 0;) records_[i].backward();
}

template void Tape::backward<float>(const BasicTensor<float>&);
template void Tape::backward<double>(const BasicTensor<double>&);
template void Tape::backward<float>(const BasicTensor<float>&, const BasicTensor<float>&);
template void Tape::backward<double>(const BasicTensor<double>&, const BasicTensor<double>&);

}  // namespace tapegrad
