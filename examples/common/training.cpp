// The examples' shared training loop; see training.hpp.
#include "examples/common/training.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

namespace tg = tapegrad;

namespace examples {

namespace {

// Adds batch's loss and argmax hits (and its confusion counts, when given) into t.
void count(Totals& t, const Step& step, const std::vector<int64_t>& labels,
           std::vector<std::vector<int64_t>>* confusion) {
    const int64_t classes = step.logits.size(1);
    t.loss_sum += double(step.loss.item()) * double(labels.size());
    for (size_t i = 0; i < labels.size(); ++i) {
        const float* row = step.logits.data() + int64_t(i) * classes;
        const int64_t predicted = std::max_element(row, row + classes) - row;
        t.correct += predicted == labels[i];
        if (confusion) ++(*confusion)[size_t(labels[i])][size_t(predicted)];
    }
    t.images += int64_t(labels.size());
    ++t.batches;
}

}  // namespace

Step train_step(tg::BasicOptimizer<float>& opt, const std::function<tg::Tensor()>& forward,
                const std::vector<int64_t>& labels, const StepHooks& hooks) {
    tg::Tape tape;
    Step step;
    step.logits = forward();
    step.loss = tg::cross_entropy(step.logits, labels);
    opt.zero_grad();
    if (hooks.before_backward) hooks.before_backward(tape);
    tape.backward(step.loss);
    if (hooks.after_backward) hooks.after_backward();
    opt.step();
    return step;
}

Totals train_epoch(tg::Module& net, tg::BasicOptimizer<float>& opt, tg::data::Loader& loader,
                   const EpochOptions& options) {
    Totals t;
    for (auto& [x, y] : loader) {
        count(t,
              train_step(
                  opt, [&] { return net(x); }, y, options.hooks),
              y, nullptr);
        if (options.after_step) options.after_step(t);
        if (t.batches == options.max_steps) break;
    }
    return t;
}

Evaluation evaluate(tg::Module& net, const tg::data::Dataset& data, int64_t classes, tg::data::LoaderOptions options) {
    net.eval();
    Evaluation e;
    e.confusion.assign(size_t(classes), std::vector<int64_t>(size_t(classes), 0));
    for (auto& [x, y] : tg::data::Loader(data, options)) {  // no tape: nothing recorded
        const tg::Tensor logits = net(x);
        count(e, {logits, tg::cross_entropy(logits, y)}, y, &e.confusion);
    }
    net.train();
    return e;
}

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

std::string clock_text(double seconds) {
    const int s = int(seconds + 0.5);
    char buf[32];
    std::snprintf(buf, sizeof buf, "%d:%02d", s / 60, s % 60);
    return buf;
}

Progress::Progress(int64_t epoch, int64_t epochs, int64_t batches)
    : epoch_(epoch), epochs_(epochs), batches_(batches), tty_(isatty(STDOUT_FILENO)), start_(Clock::now()) {}

void Progress::update(int64_t done, double mean_loss, int64_t images) {
    const bool quarter = done * 4 / batches_ != (done - 1) * 4 / batches_;
    if (!(tty_ ? (done % 10 == 0 || done == batches_) : quarter)) return;
    const double elapsed = seconds_since(start_);
    const int width = 30, filled = int(width * done / batches_);
    std::printf("%sepoch %lld/%lld [%s%s] %lld/%lld  loss %.4f  %.0f img/s  ETA %s%s", tty_ ? "\r" : "",
                (long long)epoch_, (long long)epochs_, std::string(size_t(filled), '#').c_str(),
                std::string(size_t(width - filled), '.').c_str(), (long long)done, (long long)batches_, mean_loss,
                double(images) / elapsed, clock_text(elapsed * double(batches_ - done) / double(done)).c_str(),
                tty_ ? "" : "\n");
    std::fflush(stdout);
    if (tty_ && done == batches_) std::printf("\n");
}

}  // namespace examples
