// The training loop the examples share, for classifiers whose forward gives (batch, classes)
// logits trained with cross-entropy: one optimizer step, an epoch over a loader, an evaluation
// (loss, argmax accuracy, confusion matrix), a progress line, and clock_text for durations.
// A static library of examples/ (examples_training), not part of tapegrad's API.
#pragma once

#include <tapegrad/tapegrad.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace examples {

using Clock = std::chrono::steady_clock;

// What one step computed.
struct Step {
    tapegrad::Tensor logits, loss;
};

// Called in each step around the backward: before it, with the step's tape (e.g. to attach a
// gradient reducer), and after it, before the optimizer steps (e.g. to wait for the reducer).
struct StepHooks {
    std::function<void(tapegrad::Tape&)> before_backward;
    std::function<void()> after_backward;
};

// On a tape of its own: logits = forward(), loss = cross_entropy(logits, labels); then the
// gradients are zeroed, the loss differentiated and the optimizer stepped.
Step train_step(tapegrad::BasicOptimizer<float>& opt, const std::function<tapegrad::Tensor()>& forward,
                const std::vector<int64_t>& labels, const StepHooks& hooks = {});

// Sums over the batches of a pass: the loss weighted by batch size, and argmax hits.
struct Totals {
    double loss_sum = 0.0;  // Σ batch mean loss × batch size
    int64_t correct = 0, images = 0, batches = 0;
    double mean_loss() const { return loss_sum / double(images); }
    double accuracy() const { return double(correct) / double(images); }
};

struct EpochOptions {
    int64_t max_steps = 0;  // stop after this many steps (0: the whole pass)
    StepHooks hooks;
    std::function<void(const Totals&)> after_step;  // with the totals so far: progress, a per-step schedule
};

// One pass over loader (the loader's next epoch), a train_step per batch.
Totals train_epoch(tapegrad::Module& net, tapegrad::BasicOptimizer<float>& opt, tapegrad::data::Loader& loader,
                   const EpochOptions& options = {});

struct Evaluation : Totals {
    std::vector<std::vector<int64_t>> confusion;  // [true class][predicted class]
};

// In eval mode (BatchNorm: its running statistics) with no tape, over data in batches of
// `options` (by default 1,000 in file order; a shard for one rank's share); train mode after.
Evaluation evaluate(tapegrad::Module& net, const tapegrad::data::Dataset& data, int64_t classes,
                    tapegrad::data::LoaderOptions options = {.batch_size = 1000, .shuffle = false});

double seconds_since(Clock::time_point start);

// "m:ss" (minutes may exceed 59), rounded to the second.
std::string clock_text(double seconds);

// One line per epoch, redrawn in place on a terminal; in a log, a line at each quarter:
// "epoch 3/12 [#######.....] 235/938  loss 0.3120  4820 img/s  ETA 0:10".
class Progress {
  public:
    Progress(int64_t epoch, int64_t epochs, int64_t batches);
    void update(int64_t done, double mean_loss, int64_t images);

  private:
    int64_t epoch_, epochs_, batches_;
    bool tty_;
    Clock::time_point start_;
};

}  // namespace examples
