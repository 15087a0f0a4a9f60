// Optimizers and schedulers: SGD and every scheduler against PyTorch (tests/golden/optim.json),
// option checks, skipped parameters, and state that resumes a run bit for bit.
#include <boost/test/unit_test.hpp>

#include <cmath>

#include <nlohmann/json.hpp>

#include <tapegrad/tapegrad.hpp>
#include "support/golden.hpp"
#include "support/messages.hpp"
#include "support/schedulers.hpp"
#include "support/temp_dir.hpp"
#include "support/tensors.hpp"

using namespace tapegrad;
using namespace tapegrad::testing;
using Json = nlohmann::ordered_json;

namespace {

const Json& optim_golden() {
    static const Json doc = load_golden_document("optim.json");
    return doc;
}

const Json& golden_case(const std::string& name) {
    for (const Json& c : optim_golden().at("cases"))
        if (c.at("name") == name) return c;
    throw std::runtime_error("no case " + name + " in optim.json");
}

// sum((x·w + b − t)²), the golden problem's loss.
template <typename T>
BasicTensor<T> problem_loss(const BasicTensor<T>& x, const BasicTensor<T>& w, const BasicTensor<T>& b,
                            const BasicTensor<T>& t) {
    const BasicTensor<T> d = sub(add(matmul(x, w), b), t);
    return sum(mul(d, d));
}

template <typename T>
void one_step(BasicOptimizer<T>& opt, const BasicTensor<T>& x, const BasicTensor<T>& w, const BasicTensor<T>& b,
              const BasicTensor<T>& t) {
    opt.zero_grad();
    {
        Tape tape;
        tape.backward(problem_loss(x, w, b, t));
    }
    opt.step();
}

SGDOptions options_from(const Json& o) {
    return SGDOptions{.lr = o.at("lr").get<double>(),
                      .momentum = o.value("momentum", 0.0),
                      .dampening = o.value("dampening", 0.0),
                      .weight_decay = o.value("weight_decay", 0.0),
                      .nesterov = o.value("nesterov", false)};
}

template <typename T>
void check_sgd_case(const Json& c, double tol) {
    const Json& problem = golden_case("problem");
    const auto array = [&](const char* key) { return golden_array(problem.at(key)); };
    const auto x = to_tensor<T>(array("x")), t = to_tensor<T>(array("t"));
    auto w = to_tensor<T>(array("w0"), true), b = to_tensor<T>(array("b0"), true);
    BasicSGD<T> opt({w, b}, options_from(c.at("options")));
    std::unique_ptr<StepLR> scheduler;
    if (c.contains("step_lr"))
        scheduler = std::make_unique<StepLR>(opt, c.at("step_lr").at("step_size").get<int64_t>(),
                                             c.at("step_lr").at("gamma").get<double>());
    const Json& ref = c.at(dtype_name<T>());
    for (int step = 0; step < c.at("steps").get<int>(); ++step) {
        one_step(opt, x, w, b, t);
        if (scheduler) scheduler->step();
        const double ew = distance(w, ref.at("w").at(step).get<std::vector<double>>()).scaled();
        const double eb = distance(b, ref.at("b").at(step).get<std::vector<double>>()).scaled();
        BOOST_TEST(ew <= tol, c.at("name").get<std::string>()
                                  << " " << dtype_name<T>() << " step " << step + 1 << ": w error " << ew);
        BOOST_TEST(eb <= tol, c.at("name").get<std::string>()
                                  << " " << dtype_name<T>() << " step " << step + 1 << ": b error " << eb);
    }
    BOOST_TEST(opt.step_count() == c.at("steps").get<int64_t>());
}

bool close(double a, double b, double rtol = 1e-12) { return std::abs(a - b) <= rtol * std::max(std::abs(b), 1e-300); }

// A small training run whose every source of change is in the state: parameters, momentum
// buffers, the schedule and a generator that draws each step's targets.
struct Run {
    Generator data{11};
    DoubleTensor x = randn<double>({5, 3}, &data);
    DoubleTensor w, b;
    BasicSGD<double> opt;
    SequentialLR scheduler;

    explicit Run(uint64_t init_seed)
        : w(init_params({3, 2}, init_seed)),
          b(init_params({2}, init_seed + 1)),
          opt({w, b}, {.lr = 0.05, .momentum = 0.9, .dampening = 0.0, .weight_decay = 1e-3, .nesterov = true}),
          scheduler(opt,
                    {std::make_shared<LinearLR>(opt, 0.2, 1.0, 3), std::make_shared<CosineAnnealingLR>(opt, 6, 0.001)},
                    {3}) {}

    static DoubleTensor init_params(const Shape& shape, uint64_t seed) {
        Generator g(seed);
        return randn<double>(shape, &g, true);
    }

    void train_step() {
        const DoubleTensor target = randn<double>({5, 2}, &data);
        one_step(opt, x, w, b, target);
        scheduler.step();
    }

    Checkpoint checkpoint(int64_t epoch) const {
        Checkpoint c;
        c.model.add("w", w);
        c.model.add("b", b);
        c.optimizer = opt.state_dict();
        c.scheduler = scheduler.state_dict();
        c.epoch = epoch;
        c.rng = {{"data", data.state()}};
        return c;
    }

    void restore(const Checkpoint& c) {
        std::copy_n(c.model.get<double>("w").data(), w.numel(), w.data());
        std::copy_n(c.model.get<double>("b").data(), b.numel(), b.data());
        opt.load_state_dict(c.optimizer);
        scheduler.load_state_dict(c.scheduler);
        data.set_state(c.rng_state("data"));
    }
};

}  // namespace

BOOST_AUTO_TEST_SUITE(optim)

BOOST_AUTO_TEST_CASE(sgd_matches_pytorch) {
    int cases = 0;
    for (const Json& c : optim_golden().at("cases")) {
        if (c.at("kind") != "sgd") continue;
        ++cases;
        check_sgd_case<double>(c, 1e-10);
        check_sgd_case<float>(c, 1e-5);
    }
    BOOST_TEST(cases >= 8);
}

BOOST_AUTO_TEST_CASE(schedulers_match_pytorch) {
    int cases = 0;
    for (const Json& c : optim_golden().at("cases")) {
        if (c.at("kind") != "scheduler") continue;
        ++cases;
        BOOST_TEST_CONTEXT("case " << c.at("name").get<std::string>()) {
            Tensor p = zeros({1}, true);
            SGD opt({p}, {.lr = c.at("base_lr").get<double>()});
            const auto scheduler = make_scheduler(opt, c.at("scheduler"));
            const auto lrs = c.at("lrs").get<std::vector<double>>();
            BOOST_TEST(scheduler->base_lr() == c.at("base_lr").get<double>());
            for (size_t epoch = 0; epoch < lrs.size(); ++epoch) {
                if (epoch > 0) {
                    opt.step();
                    scheduler->step();
                }
                BOOST_TEST(scheduler->last_epoch() == int64_t(epoch));
                BOOST_TEST(close(scheduler->get_last_lr(), lrs[epoch]),
                           "epoch " << epoch << ": " << scheduler->get_last_lr() << " vs PyTorch " << lrs[epoch]);
                BOOST_TEST(opt.lr() == scheduler->get_last_lr());
                BOOST_TEST(scheduler->lr_at(int64_t(epoch)) == scheduler->get_last_lr());
            }
        }
    }
    BOOST_TEST(cases >= 6);
}

BOOST_AUTO_TEST_CASE(sequential_keeps_its_schedulers_in_step) {
    Tensor p = zeros({1}, true);
    SGD opt({p}, {.lr = 0.1});
    auto warmup = std::make_shared<LinearLR>(opt, 0.5, 1.0, 2);
    auto cosine = std::make_shared<CosineAnnealingLR>(opt, 4);
    SequentialLR scheduler(opt, {warmup, cosine}, {2});
    BOOST_TEST(warmup->base_lr() == 0.1);  // both start from the optimizer's initial lr
    BOOST_TEST(cosine->base_lr() == 0.1);
    BOOST_TEST(opt.initial_lr().value() == 0.1);
    BOOST_TEST(scheduler.get_last_lr() == 0.05);
    for (int i = 0; i < 3; ++i) scheduler.step();
    BOOST_TEST(scheduler.last_epoch() == 3);
    BOOST_TEST(cosine->last_epoch() == 1);  // restarted at the milestone
    BOOST_TEST(cosine->get_last_lr() == scheduler.get_last_lr());
    BOOST_TEST(scheduler.get_last_lr() == cosine->lr_at(1));
}

BOOST_AUTO_TEST_CASE(parameters_without_gradient_are_skipped) {
    Tensor w = ones({2, 2}, true), unused = full<float>({3}, 2.0f, true);
    SGD opt({w, unused}, {.lr = 0.1, .momentum = 0.9, .weight_decay = 0.5});
    {
        Tape tape;
        tape.backward(sum(w));
    }
    opt.step();
    for (float v : w.to_vector()) BOOST_TEST(v == 1.0f - 0.1f * (1.0f + 0.5f * 1.0f));
    for (float v : unused.to_vector()) BOOST_TEST(v == 2.0f);  // no decay either: PyTorch skips it
    BOOST_TEST(opt.momentum_buffer(0).defined());
    BOOST_TEST(!opt.momentum_buffer(1).defined());
    const StateDict state = opt.state_dict();
    BOOST_TEST(state.names() == std::vector<std::string>{"momentum_buffer.0"}, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(zero_grad_drops_gradients_and_lr_can_be_set) {
    Tensor w = ones({3}, true);
    SGD opt({w}, {.lr = 0.1});
    {
        Tape tape;
        tape.backward(sum(w));
    }
    BOOST_TEST(w.grad().defined());
    opt.zero_grad();
    BOOST_TEST(!w.grad().defined());
    opt.step();  // nothing to do
    for (float v : w.to_vector()) BOOST_TEST(v == 1.0f);
    opt.set_lr(0.25);
    BOOST_TEST(opt.lr() == 0.25);
    BOOST_TEST(opt.options().lr == 0.25);
    BOOST_CHECK_EXCEPTION(opt.set_lr(-1.0), std::invalid_argument,
                          [](const auto& e) { return message_contains(e, "lr=-1"); });
    BOOST_TEST(opt.lr() == 0.25);
}

BOOST_AUTO_TEST_CASE(sgd_options_are_checked_as_pytorch_does) {
    const std::vector<Tensor> params{ones({2}, true)};
    const auto rejects = [&](const SGDOptions& o, const std::string& text) {
        BOOST_CHECK_EXCEPTION(SGD(params, o), std::invalid_argument,
                              [&](const auto& e) { return message_contains(e, text); });
    };
    rejects({.lr = -0.1}, "invalid learning rate: lr=-0.1");
    rejects({.lr = std::nan("")}, "lr=nan");
    rejects({.lr = 0.1, .momentum = -0.5}, "invalid momentum value: momentum=-0.5");
    rejects({.lr = 0.1, .weight_decay = -1e-4}, "invalid weight_decay value: weight_decay=-0.0001");
    rejects({.lr = 0.1, .nesterov = true},
            "Nesterov momentum requires a momentum and zero dampening, but got momentum=0 and dampening=0");
    rejects({.lr = 0.1, .momentum = 0.9, .dampening = 0.1, .nesterov = true}, "momentum=0.9 and dampening=0.1");
    BOOST_CHECK_NO_THROW(SGD(params, {.lr = 0.0, .momentum = 0.9, .nesterov = true}));

    BOOST_CHECK_EXCEPTION(SGD({}, {.lr = 0.1}), std::invalid_argument,
                          [](const auto& e) { return message_contains(e, "empty parameter list"); });
    BOOST_CHECK_EXCEPTION(SGD({params[0], params[0]}, {.lr = 0.1}), std::invalid_argument, [](const auto& e) {
        return message_contains(e, "parameter 1 is the same tensor as parameter 0");
    });
    BOOST_CHECK_EXCEPTION(SGD({Tensor()}, {.lr = 0.1}), std::invalid_argument,
                          [](const auto& e) { return message_contains(e, "undefined"); });
    Tape tape;
    const Tensor not_leaf = params[0] * 2.0f;
    BOOST_CHECK_EXCEPTION(SGD({not_leaf}, {.lr = 0.1}), std::invalid_argument,
                          [](const auto& e) { return message_contains(e, "not a leaf"); });
}

BOOST_AUTO_TEST_CASE(scheduler_arguments_are_checked) {
    Tensor p = zeros({1}, true);
    SGD opt({p}, {.lr = 0.1});
    const auto contains = [](const std::string& text) {
        return [text](const std::exception& e) { return message_contains(e, text); };
    };
    BOOST_CHECK_EXCEPTION(StepLR(opt, 0), std::invalid_argument, contains("step_size=0"));
    BOOST_CHECK_EXCEPTION(StepLR(opt, 2, -0.5), std::invalid_argument, contains("gamma=-0.5"));
    BOOST_CHECK_EXCEPTION(CosineAnnealingLR(opt, 0), std::invalid_argument, contains("T_max=0"));
    BOOST_CHECK_EXCEPTION(LinearLR(opt, 0.0), std::invalid_argument, contains("start_factor=0"));
    BOOST_CHECK_EXCEPTION(LinearLR(opt, 1.5), std::invalid_argument, contains("start_factor=1.5"));
    BOOST_CHECK_EXCEPTION(LinearLR(opt, 0.5, 2.0), std::invalid_argument, contains("end_factor=2"));
    BOOST_CHECK_EXCEPTION(LinearLR(opt, 0.5, 1.0, 0), std::invalid_argument, contains("total_iters=0"));
    BOOST_TEST(opt.lr() == 0.1);  // a rejected scheduler changes nothing
    BOOST_TEST(!opt.initial_lr().has_value());

    auto a = std::make_shared<LinearLR>(opt, 0.5, 1.0, 2);
    auto b = std::make_shared<CosineAnnealingLR>(opt, 4);
    BOOST_CHECK_EXCEPTION(SequentialLR(opt, {a, b}, {}), std::invalid_argument,
                          contains("2 schedulers and 0 milestones"));
    BOOST_CHECK_EXCEPTION(SequentialLR(opt, {a, b, b}, {3, 3}), std::invalid_argument, contains("milestones[1]=3"));
    Tensor q = zeros({1}, true);
    SGD other({q}, {.lr = 0.1});
    auto c = std::make_shared<StepLR>(other, 2);
    BOOST_CHECK_EXCEPTION(SequentialLR(opt, {a, c}, {2}), std::invalid_argument,
                          contains("scheduler 1 with a different optimizer"));
}

BOOST_AUTO_TEST_CASE(resumed_run_continues_bit_for_bit) {
    TempDir scratch("tapegrad_test_optim");
    constexpr int before = 4, after = 6;
    Run reference(1);
    for (int i = 0; i < before + after; ++i) reference.train_step();

    for (const char* ext : {".json", ".cbor"}) {
        BOOST_TEST_CONTEXT("format " << ext) {
            Run first(1);
            for (int i = 0; i < before; ++i) first.train_step();
            const auto path = scratch / (std::string("resume") + ext);
            first.checkpoint(before).save(path);

            Run resumed(99);  // other initial values, fresh optimizer and scheduler
            const Checkpoint loaded = Checkpoint::load(path);
            BOOST_TEST(loaded.epoch == before);
            resumed.restore(loaded);
            BOOST_TEST(resumed.opt.step_count() == before);
            BOOST_TEST(resumed.scheduler.last_epoch() == before);
            for (int i = 0; i < after; ++i) resumed.train_step();

            BOOST_TEST(resumed.w.to_vector() == reference.w.to_vector(), boost::test_tools::per_element());
            BOOST_TEST(resumed.b.to_vector() == reference.b.to_vector(), boost::test_tools::per_element());
            BOOST_TEST(resumed.opt.lr() == reference.opt.lr());
            BOOST_TEST(resumed.opt.momentum_buffer(0).to_vector() == reference.opt.momentum_buffer(0).to_vector(),
                       boost::test_tools::per_element());
            BOOST_TEST(resumed.data.state() == reference.data.state());
        }
    }
}

BOOST_AUTO_TEST_CASE(float_optimizer_state_round_trips_exactly) {
    Generator gen(5);
    Tensor w = randn<float>({4, 3}, &gen, true), b = randn<float>({3}, &gen, true);
    SGD opt({w, b}, {.lr = 0.1, .momentum = 0.9, .dampening = 0.25});
    StepLR scheduler(opt, 2, 0.5);
    for (int i = 0; i < 3; ++i) {
        opt.zero_grad();
        {
            Tape tape;
            tape.backward(sum(mul(add(matmul(randn<float>({2, 4}, &gen), w), b), randn<float>({2, 3}, &gen))));
        }
        opt.step();
        scheduler.step();
    }
    const StateDict state = opt.state_dict();
    const StateDict sched_state = scheduler.state_dict();
    Tensor w2 = zeros({4, 3}, true), b2 = zeros({3}, true);
    SGD opt2({w2, b2}, {.lr = 1.0});
    StepLR scheduler2(opt2, 7, 0.9);
    opt2.load_state_dict(state);
    scheduler2.load_state_dict(sched_state);
    BOOST_TEST(opt2.lr() == opt.lr());
    BOOST_TEST(opt2.options().momentum == 0.9);
    BOOST_TEST(opt2.options().dampening == 0.25);
    BOOST_TEST(opt2.step_count() == 3);
    BOOST_TEST(opt2.initial_lr().value() == 0.1);
    BOOST_TEST(opt2.momentum_buffer(1).to_vector() == opt.momentum_buffer(1).to_vector(),
               boost::test_tools::per_element());
    BOOST_TEST(scheduler2.step_size() == 2);
    BOOST_TEST(scheduler2.gamma() == 0.5);
    BOOST_TEST(scheduler2.last_epoch() == 3);
    BOOST_TEST(scheduler2.get_last_lr() == scheduler.get_last_lr());
    scheduler.step();
    scheduler2.step();
    BOOST_TEST(opt2.lr() == opt.lr());
    // The state is a snapshot: later steps do not change it.
    BOOST_TEST(state.get<float>("momentum_buffer.0").data() != opt.momentum_buffer(0).data());
}

BOOST_AUTO_TEST_CASE(bad_states_are_rejected_and_change_nothing) {
    Tensor w = ones({2, 3}, true), b = ones({3}, true);
    SGD opt({w, b}, {.lr = 0.1, .momentum = 0.9});
    {
        Tape tape;
        tape.backward(sum(w));
    }
    opt.step();
    const std::string before = opt.state_dict().metadata().dump();
    const std::vector<float> buffer_before = opt.momentum_buffer(0).to_vector();
    const auto rejects = [&](const StateDict& state, const std::string& text) {
        BOOST_CHECK_EXCEPTION(opt.load_state_dict(state), std::invalid_argument,
                              [&](const auto& e) { return message_contains(e, text); });
        BOOST_TEST(opt.state_dict().metadata().dump() == before);
        BOOST_TEST(opt.momentum_buffer(0).to_vector() == buffer_before, boost::test_tools::per_element());
    };
    const StateDict good = opt.state_dict();

    Tensor other_w = ones({2, 3}, true);
    rejects(SGD({other_w}, {.lr = 0.1}).state_dict(), "the state is for 1 parameters, but this optimizer has 2");
    Tensor wide = ones({2, 4}, true), wide_b = ones({3}, true);
    rejects(SGD({wide, wide_b}, {.lr = 0.1}).state_dict(), "parameter 0 has shape [2, 3], but the state's has [2,4]");
    DoubleTensor dw = ones<double>({2, 3}, true), db = ones<double>({3}, true);
    rejects(BasicSGD<double>({dw, db}, {.lr = 0.1}).state_dict(), "expected a float32 state");
    Tensor p = zeros({1}, true);
    SGD tiny({p}, {.lr = 0.1});
    rejects(StepLR(tiny, 2).state_dict(), "expected the state of a SGD, but got \"StepLR\"");

    StateDict bad_type = good;
    bad_type.metadata()["type"] = "Adam";
    rejects(bad_type, "expected the state of a SGD, but got \"Adam\"");
    StateDict bad_option = good;
    bad_option.metadata()["options"]["momentum"] = -1.0;
    rejects(bad_option, "momentum=-1");
    StateDict bad_nesterov = good;
    bad_nesterov.metadata()["options"]["nesterov"] = true;
    bad_nesterov.metadata()["options"]["dampening"] = 0.5;
    rejects(bad_nesterov, "Nesterov");
    StateDict extra = good;
    extra.add("momentum_buffer.2", zeros({3}));
    rejects(extra, "unexpected tensor \"momentum_buffer.2\"");
    StateDict misnamed = good;
    misnamed.add("momentum_buffer.01", zeros({3}));
    rejects(misnamed, "unexpected tensor \"momentum_buffer.01\"");
    StateDict wrong_shape;
    wrong_shape.metadata() = good.metadata();
    wrong_shape.add("momentum_buffer.0", zeros({3, 2}));
    rejects(wrong_shape, "size mismatch for \"momentum_buffer.0\"");

    StepLR scheduler(opt, 3);
    const std::string sched_before = scheduler.state_dict().metadata().dump();
    const auto sched_rejects = [&](const StateDict& state, const std::string& text) {
        BOOST_CHECK_EXCEPTION(scheduler.load_state_dict(state), std::invalid_argument,
                              [&](const auto& e) { return message_contains(e, text); });
        BOOST_TEST(scheduler.state_dict().metadata().dump() == sched_before);
    };
    sched_rejects(CosineAnnealingLR(tiny, 3).state_dict(),
                  "expected the state of a StepLR, but got \"CosineAnnealingLR\"");
    StateDict bad_step = scheduler.state_dict();
    bad_step.metadata()["options"]["step_size"] = 0;
    sched_rejects(bad_step, "step_size=0");
    sched_rejects(good, "unexpected tensor");

    // A SequentialLR checks every inner state before it changes any.
    auto warm = std::make_shared<LinearLR>(tiny, 0.5, 1.0, 2);
    auto cos = std::make_shared<CosineAnnealingLR>(tiny, 5);
    SequentialLR seq(tiny, {warm, cos}, {2});
    seq.step();
    StateDict seq_state = seq.state_dict();
    seq_state.metadata()["last_epoch"] = 7;
    seq_state.metadata()["options"]["schedulers"][0]["last_epoch"] = 9;
    seq_state.metadata()["options"]["schedulers"][1]["options"]["T_max"] = -1;
    const std::string seq_before = seq.state_dict().metadata().dump();
    BOOST_CHECK_EXCEPTION(seq.load_state_dict(seq_state), std::invalid_argument, [](const auto& e) {
        return message_contains(e, "schedulers[1]") && message_contains(e, "T_max=-1");
    });
    BOOST_TEST(seq.state_dict().metadata().dump() == seq_before);
    BOOST_TEST(warm->last_epoch() == 1);
}

BOOST_AUTO_TEST_SUITE_END()
