// Tape implementation; see tape.hpp.
#include "framework/tape.hpp"

#include <cstdio>
#include <exception>
#include <memory>
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
void Tape::on_grad_ready(const BasicTensor<T>& t, std::function<void()> hook) {
    if (consumed_) throw std::logic_error("on_grad_ready: this tape already ran backward; register hooks before it");
    if (!t.defined()) throw std::invalid_argument("on_grad_ready: expected a defined tensor");
    // The hidden gradient lives in the closures' shared slot, so the walk can check for a
    // second write (the gradient is defined again) and put the first one back at the end.
    auto hidden = std::make_shared<BasicTensor<T>>();
    watches_.push_back(Watch{
        .has_grad = [t] { return t.grad().defined(); },
        .hide_grad = [t, hidden] { *hidden = t.grad(); t.zero_grad(); },
        .restore_grad = [t, hidden] {
            if (hidden->defined() && !t.grad().defined()) t.set_grad(*hidden);
            *hidden = BasicTensor<T>();
        },
        .hook = std::move(hook),
    });
}

// After record `op` has run: fires the hooks of watched tensors it gave a gradient, and
// rejects a write into one whose hook already ran.
void Tape::check_watches(const char* op) {
    for (Watch& w : watches_) {
        if (!w.has_grad()) continue;
        if (w.fired)
            throw std::logic_error(std::string("Tape::on_grad_ready: op '") + op +
                                   "' wrote the gradient of a watched tensor after its hook had run: the tensor is "
                                   "read by more than one op, so its first gradient was not its final one");
        w.fired = true;
        w.hook();
        w.hide_grad();
    }
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

    for (const Watch& w : watches_)
        if (w.has_grad())
            throw std::logic_error(
                "Tape::on_grad_ready: a watched tensor already has a gradient when backward starts; "
                "call zero_grad() before backward (its hook could not tell this backward's gradient)");
    // Hidden gradients are put back however the walk ends.
    struct Restore {
        std::vector<Watch>& watches;
        ~Restore() {
            for (Watch& w : watches) w.restore_grad();
            watches.clear();
        }
    } restore{watches_};

    // The seed becomes out's gradient without a copy: backward closures only read the
    // gradient of their output, and out's is released once its record has run.
    if (out.grad().defined())
        out.accumulate_grad(seed);
    else
        out.set_grad(seed);
    if (watches_.empty()) {
        for (size_t i = end; i-- > 0;) records_[i].backward();
        return;
    }
    for (size_t i = end; i-- > 0;) {
        records_[i].backward();
        check_watches(records_[i].op);
    }
    for (Watch& w : watches_)
        if (!w.fired) {
            w.fired = true;
            w.hook();
        }
}

template void Tape::on_grad_ready<float>(const BasicTensor<float>&, std::function<void()>);
template void Tape::on_grad_ready<double>(const BasicTensor<double>&, std::function<void()>);
template void Tape::backward<float>(const BasicTensor<float>&);
template void Tape::backward<double>(const BasicTensor<double>&);
template void Tape::backward<float>(const BasicTensor<float>&, const BasicTensor<float>&);
template void Tape::backward<double>(const BasicTensor<double>&, const BasicTensor<double>&);

}  // namespace tapegrad
