// Adam, AdamW, parameter groups and clip_grad_norm_ against PyTorch (tests/golden/adam.json from
// cases_adam.py): step-by-step trajectories with every option, groups and schedulers; the
// options PyTorch rejects, with its words; states that resume a run bit for bit, and bad states
// that change nothing.
#include <boost/test/unit_test.hpp>

#include <cmath>
#include <map>
#include <memory>

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

const Json& adam_golden() {
    static const Json doc = load_golden_document("adam.json");
    return doc;
}

const Json& golden_case(const std::string& name) {
    for (const Json& c : adam_golden().at("cases"))
        if (c.at("name") == name) return c;
    throw std::runtime_error("no case " + name + " in adam.json");
}

double number(const Json& j) {
    return j.is_string() && j == "nan" ? NAN : j.is_string() && j == "inf" ? INFINITY : j.get<double>();
}

// The options of a fixture's group: every option is there (cases_adam.py spells them all out).
template <typename Options>
Options adam_options(const Json& o) {
    Options options;
    options.lr = o.at("lr").get<double>();
    options.betas = {o.at("betas").at(0).get<double>(), o.at("betas").at(1).get<double>()};
    options.eps = o.at("eps").get<double>();
    options.weight_decay = o.at("weight_decay").get<double>();
    options.amsgrad = o.at("amsgrad").get<bool>();
    options.maximize = o.at("maximize").get<bool>();
    return options;
}

SGDOptions sgd_options(const Json& o) {
    return {.lr = o.at("lr").get<double>(),
            .momentum = o.at("momentum").get<double>(),
            .dampening = o.at("dampening").get<double>(),
            .weight_decay = o.at("weight_decay").get<double>(),
            .nesterov = o.at("nesterov").get<bool>()};
}

// An optimizer of the fixture's kind over its groups: the first group in the constructor,
// the others through add_param_group().
template <typename Opt, typename T, typename MakeOptions>
std::unique_ptr<Opt> grouped(const Json& groups, const std::map<std::string, BasicTensor<T>>& tensors,
                             MakeOptions options) {
    const auto params = [&](const Json& g) {
        std::vector<BasicTensor<T>> ps;
        for (const Json& name : g.at("params")) ps.push_back(tensors.at(name.get<std::string>()));
        return ps;
    };
    auto opt = std::make_unique<Opt>(params(groups.at(0)), options(groups.at(0).at("options")));
    for (size_t g = 1; g < groups.size(); ++g)
        opt->add_param_group(params(groups.at(g)), options(groups.at(g).at("options")));
    return opt;
}

template <typename T>
struct Problem {
    BasicTensor<T> x, t, w, b;
    Problem() {
        const Json& p = golden_case("problem");
        x = to_tensor<T>(golden_array(p.at("x")));
        t = to_tensor<T>(golden_array(p.at("t")));
        w = to_tensor<T>(golden_array(p.at("w0")), true);
        b = to_tensor<T>(golden_array(p.at("b0")), true);
    }
    // sum((x·w + b − t)²), b left out when !use_b (it then gets no gradient).
    void step(BasicOptimizer<T>& opt, bool use_b) const {
        opt.zero_grad();
        Tape tape;
        BasicTensor<T> y = matmul(x, w);
        if (use_b) y = add(y, b);
        const BasicTensor<T> d = sub(y, t);
        tape.backward(sum(mul(d, d)));
        opt.step();
    }
};

template <typename T>
std::unique_ptr<BasicOptimizer<T>> make_optimizer(const Json& c, const Problem<T>& p) {
    const std::map<std::string, BasicTensor<T>> tensors{{"w", p.w}, {"b", p.b}};
    const std::string kind = c.at("optimizer");
    if (kind == "Adam") return grouped<BasicAdam<T>>(c.at("groups"), tensors, adam_options<AdamOptions>);
    if (kind == "AdamW") return grouped<BasicAdamW<T>>(c.at("groups"), tensors, adam_options<AdamWOptions>);
    if (kind == "SGD") return grouped<BasicSGD<T>>(c.at("groups"), tensors, sgd_options);
    throw std::runtime_error("unknown optimizer " + kind);
}

bool contains(const Json& list, int64_t v) {
    for (const Json& e : list)
        if (e.get<int64_t>() == v) return true;
    return false;
}

template <typename T>
void check_trajectory(const Json& c, double tol) {
    const std::string name = c.at("name");
    Problem<T> p;
    const auto opt = make_optimizer<T>(c, p);
    BOOST_TEST(opt->num_param_groups() == c.at("groups").size());
    std::shared_ptr<LRScheduler> scheduler;
    if (c.contains("scheduler")) scheduler = make_scheduler(*opt, c.at("scheduler"));
    const Json& ref = c.at(dtype_name<T>());
    const int64_t steps = c.at("steps");
    for (int64_t step = 0; step < steps; ++step) {
        p.step(*opt, !contains(c.at("b_unused"), step));
        if (scheduler) scheduler->step();
        const double ew = distance(p.w, ref.at("w").at(step).get<std::vector<double>>()).scaled();
        const double eb = distance(p.b, ref.at("b").at(step).get<std::vector<double>>()).scaled();
        BOOST_TEST(ew <= tol, name << " " << dtype_name<T>() << " step " << step + 1 << ": w error " << ew);
        BOOST_TEST(eb <= tol, name << " " << dtype_name<T>() << " step " << step + 1 << ": b error " << eb);
        const auto lrs = ref.at("lrs").at(step).get<std::vector<double>>();
        for (size_t g = 0; g < lrs.size(); ++g)
            BOOST_TEST(std::abs(opt->lr(g) - lrs[g]) <= 1e-15 * lrs[g],
                       name << " step " << step + 1 << ": lr of group " << g);
    }
    BOOST_TEST(opt->step_count() == steps);
    // b's own step count is behind by the steps it had no gradient.
    const size_t b_index = c.at("groups").at(0).at("params").at(0) == "b" ? 0 : 1;  // the order of the groups
    const int64_t b_steps = steps - int64_t(c.at("b_unused").size());
    if (const auto* adam = dynamic_cast<const BasicAdam<T>*>(opt.get()))
        BOOST_TEST(adam->param_step(b_index) == b_steps, name);
    if (const auto* adamw = dynamic_cast<const BasicAdamW<T>*>(opt.get()))
        BOOST_TEST(adamw->param_step(b_index) == b_steps, name);
}

// Fresh parameters (w, b) and an Adam of two groups with every kind of state, stepped with
// targets drawn from a generator, and a scheduler: all a resume must carry.
struct Run {
    Generator data{5};
    DoubleTensor x = randn<double>({5, 3}, &data);
    DoubleTensor w, b;
    BasicAdamW<double> opt;
    std::shared_ptr<LRScheduler> scheduler;
    int64_t steps = 0;

    explicit Run(uint64_t init_seed)
        : w(init(init_seed, {3, 2})),
          b(init(init_seed + 1, {2})),
          opt({w}, {.lr = 0.02, .betas = {0.8, 0.99}, .weight_decay = 0.1, .amsgrad = true}) {
        opt.add_param_group({b}, {.lr = 0.05, .weight_decay = 0.0});
        scheduler = std::make_shared<CosineAnnealingLR>(opt, 12, 0.001);
    }
    static DoubleTensor init(uint64_t seed, const Shape& shape) {
        Generator g(seed);
        return randn<double>(shape, &g, true);
    }
    // Every third step leaves b out, so its step count falls behind w's.
    void train_step() {
        const DoubleTensor target = randn<double>({5, 2}, &data);
        opt.zero_grad();
        {
            Tape tape;
            DoubleTensor y = matmul(x, w);
            if (steps % 3 != 1) y = add(y, b);
            const DoubleTensor d = sub(y, target);
            tape.backward(sum(mul(d, d)));
        }
        opt.step();
        scheduler->step();
        ++steps;
    }
    Checkpoint checkpoint() const {
        Checkpoint c;
        c.model.add("w", w);
        c.model.add("b", b);
        c.optimizer = opt.state_dict();
        c.scheduler = scheduler->state_dict();
        c.epoch = steps;
        c.rng = {{"data", data.state()}};
        return c;
    }
    void restore(const Checkpoint& c) {
        std::copy_n(c.model.get<double>("w").data(), w.numel(), w.data());
        std::copy_n(c.model.get<double>("b").data(), b.numel(), b.data());
        opt.load_state_dict(c.optimizer);
        scheduler->load_state_dict(c.scheduler);
        data.set_state(c.rng_state("data"));
        steps = c.epoch;
    }
};

const auto contains_text = [](const std::string& text) {
    return [text](const std::exception& e) { return message_contains(e, text); };
};

}  // namespace

BOOST_AUTO_TEST_SUITE(adam)

BOOST_AUTO_TEST_CASE(trajectories_match_pytorch) {
    int cases = 0;
    for (const Json& c : adam_golden().at("cases")) {
        if (c.at("kind") != "trajectory") continue;
        ++cases;
        check_trajectory<double>(c, 1e-12);
        check_trajectory<float>(c, 1e-5);
    }
    BOOST_TEST(cases >= 15);
}

BOOST_AUTO_TEST_CASE(defaults_are_pytorchs) {
    const AdamOptions a;
    BOOST_TEST(a.lr == 1e-3);
    BOOST_TEST(a.betas[0] == 0.9);
    BOOST_TEST(a.betas[1] == 0.999);
    BOOST_TEST(a.eps == 1e-8);
    BOOST_TEST(a.weight_decay == 0.0);
    BOOST_TEST(!a.amsgrad);
    BOOST_TEST(!a.maximize);
    const AdamWOptions w;
    BOOST_TEST(w.weight_decay == 1e-2);
    BOOST_TEST(w.lr == 1e-3);
    Tensor p = zeros({2}, true);
    BOOST_TEST(Adam({p}).type_name() == "Adam");
    BOOST_TEST(AdamW({p}).type_name() == "AdamW");
    BOOST_TEST(AdamW({p}).options().weight_decay == 1e-2);
}

BOOST_AUTO_TEST_CASE(options_are_rejected_with_pytorchs_words) {
    int cases = 0;
    for (const Json& c : adam_golden().at("cases")) {
        if (c.at("kind") != "error") continue;
        ++cases;
        const std::string kind = c.at("optimizer");
        const Json& o = c.at("options");
        const auto apply = [&](auto options) {
            if (o.contains("lr")) options.lr = number(o.at("lr"));
            if (o.contains("eps")) options.eps = number(o.at("eps"));
            if (o.contains("weight_decay")) options.weight_decay = number(o.at("weight_decay"));
            if (o.contains("betas")) options.betas = {number(o.at("betas").at(0)), number(o.at("betas").at(1))};
            return options;
        };
        const std::string expected = kind + ": " + c.at("message").get<std::string>();
        Tensor p = zeros({2}, true);
        const auto is_pytorchs = [&](const std::invalid_argument& e) { return message_is(e, expected); };
        if (kind == "Adam") {
            BOOST_CHECK_EXCEPTION(Adam({p}, apply(AdamOptions{})), std::invalid_argument, is_pytorchs);
            Adam grouped({zeros({1}, true)});  // a group's options are checked alike, and nothing is added
            const std::string add_expected = "Adam.add_param_group: " + c.at("message").get<std::string>();
            BOOST_CHECK_EXCEPTION(grouped.add_param_group({p}, apply(AdamOptions{})), std::invalid_argument,
                                  [&](const std::invalid_argument& e) { return message_is(e, add_expected); });
            BOOST_TEST(grouped.num_param_groups() == 1u);
            BOOST_TEST(grouped.params().size() == 1u);
        } else {
            BOOST_CHECK_EXCEPTION(AdamW({p}, apply(AdamWOptions{})), std::invalid_argument, is_pytorchs);
        }
    }
    BOOST_TEST(cases >= 10);

    // PyTorch takes infinities where it tests only `0.0 <= value`; tapegrad does not.
    Tensor p = zeros({2}, true);
    BOOST_CHECK_EXCEPTION(Adam({p}, {.lr = INFINITY}), std::invalid_argument,
                          contains_text("Adam: Invalid learning rate: inf (expected a finite value)"));
    BOOST_CHECK_EXCEPTION(AdamW({p}, {.eps = INFINITY}), std::invalid_argument,
                          contains_text("AdamW: Invalid epsilon value: inf"));
    BOOST_CHECK_EXCEPTION(Adam({p}, {.weight_decay = INFINITY}), std::invalid_argument,
                          contains_text("Invalid weight_decay value: inf"));
    BOOST_CHECK_NO_THROW(Adam({p}, {.lr = 0.0, .betas = {0.0, 0.0}, .eps = 0.0}));
    BOOST_CHECK_EXCEPTION(Adam({}), std::invalid_argument,
                          contains_text("Adam: optimizer got an empty parameter list"));
    BOOST_CHECK_EXCEPTION(Adam({p, p}), std::invalid_argument,
                          contains_text("parameter 1 is the same tensor as parameter 0"));
}

BOOST_AUTO_TEST_CASE(parameter_groups) {
    Tensor a = ones({2}, true), b = ones({3}, true), c = ones({1}, true);
    AdamW opt({a}, {.lr = 0.1});
    BOOST_CHECK_EXCEPTION(
        opt.add_param_group({b, a}, {}), std::invalid_argument,
        contains_text("AdamW.add_param_group: parameter 2 is the same tensor as parameter 0 of an earlier group; "
                      "some parameters appear in more than one parameter group"));
    BOOST_CHECK_EXCEPTION(opt.add_param_group({}, {}), std::invalid_argument, contains_text("empty parameter list"));
    BOOST_TEST(opt.num_param_groups() == 1u);  // a refused group leaves nothing behind
    opt.add_param_group({b, c}, {.lr = 0.2, .weight_decay = 0.0, .amsgrad = true});
    BOOST_TEST(opt.num_param_groups() == 2u);
    BOOST_TEST(opt.params().size() == 3u);
    BOOST_TEST(opt.param_group(1).size() == 2u);
    BOOST_TEST(opt.param_group(1)[1].id() == c.id());
    BOOST_TEST(opt.lr(1) == 0.2);
    BOOST_TEST(opt.options(1).amsgrad);
    BOOST_TEST(opt.options(0).weight_decay == 1e-2);
    BOOST_CHECK_THROW(opt.lr(2), std::out_of_range);
    BOOST_CHECK_THROW(opt.options(2), std::out_of_range);
    BOOST_CHECK_THROW(opt.param_group(2), std::out_of_range);
    opt.set_lr(1, 0.5);
    BOOST_TEST(opt.lr(0) == 0.1);
    BOOST_TEST(opt.lr(1) == 0.5);
    opt.set_lr(0.25);  // every group
    BOOST_TEST(opt.lr(0) == 0.25);
    BOOST_TEST(opt.lr(1) == 0.25);

    // Each group follows the schedule from its own initial lr, as in PyTorch.
    opt.set_lr(0, 0.1);
    opt.set_lr(1, 0.4);
    StepLR scheduler(opt, 1, 0.5);
    BOOST_TEST(scheduler.base_lrs() == std::vector<double>({0.1, 0.4}), boost::test_tools::per_element());
    BOOST_TEST(opt.initial_lr(1).value() == 0.4);
    scheduler.step();
    BOOST_TEST(scheduler.get_last_lrs() == std::vector<double>({0.05, 0.2}), boost::test_tools::per_element());
    BOOST_TEST(scheduler.get_last_lr() == 0.05);
    BOOST_TEST(opt.lr(1) == 0.2);
    BOOST_TEST(scheduler.lr_at(3, 1) == 0.4 * 0.125);
    BOOST_CHECK_THROW(scheduler.lr_at(3, 2), std::out_of_range);

    // SGD shares the groups.
    Tensor s = ones({2}, true), t = ones({2}, true);
    SGD sgd({s}, {.lr = 0.1});
    sgd.add_param_group({t}, {.lr = 0.3, .momentum = 0.9});
    {
        Tape tape;
        tape.backward(sum(add(s, t)));
    }
    sgd.step();
    for (float v : s.to_vector()) BOOST_TEST(v == 1.0f - 0.1f);
    for (float v : t.to_vector()) BOOST_TEST(v == 1.0f - 0.3f);
    BOOST_TEST(!sgd.momentum_buffer(0).defined());
    BOOST_TEST(sgd.momentum_buffer(1).defined());
    BOOST_CHECK_EXCEPTION(sgd.add_param_group({ones({1}, true)}, {.lr = 0.1, .nesterov = true}), std::invalid_argument,
                          contains_text("SGD.add_param_group: Nesterov momentum requires"));
}

BOOST_AUTO_TEST_CASE(skipped_parameters_keep_no_state) {
    Tensor w = ones({2, 2}, true), unused = full<float>({3}, 2.0f, true);
    AdamW opt({w, unused}, {.lr = 0.1, .weight_decay = 0.5, .amsgrad = true});
    {
        Tape tape;
        tape.backward(sum(w));
    }
    opt.step();
    for (float v : unused.to_vector()) BOOST_TEST(v == 2.0f);  // no decay either: PyTorch skips it
    BOOST_TEST(opt.param_step(0) == 1);
    BOOST_TEST(opt.param_step(1) == 0);
    BOOST_TEST(opt.exp_avg(0).defined());
    BOOST_TEST(opt.max_exp_avg_sq(0).defined());
    BOOST_TEST(!opt.exp_avg(1).defined());
    const StateDict state = opt.state_dict();
    BOOST_TEST(state.names() == std::vector<std::string>({"exp_avg.0", "exp_avg_sq.0", "max_exp_avg_sq.0"}),
               boost::test_tools::per_element());
    BOOST_TEST(state.metadata().at("param_steps").dump() == "[1,0]");
    BOOST_CHECK_THROW(opt.param_step(2), std::out_of_range);
}

BOOST_AUTO_TEST_CASE(resumed_run_continues_bit_for_bit) {
    TempDir scratch("tapegrad_test_adam");
    constexpr int before = 5, after = 6;
    Run reference(1);
    for (int i = 0; i < before + after; ++i) reference.train_step();
    BOOST_TEST(reference.opt.param_step(0) == before + after);
    BOOST_TEST(reference.opt.param_step(1) < reference.opt.param_step(0));  // b skipped some steps

    for (const char* ext : {".json", ".cbor"}) {
        BOOST_TEST_CONTEXT("format " << ext) {
            Run first(1);
            for (int i = 0; i < before; ++i) first.train_step();
            const auto path = scratch / (std::string("resume") + ext);
            first.checkpoint().save(path);

            Run resumed(77);  // other initial values, a fresh optimizer and scheduler
            resumed.restore(Checkpoint::load(path));
            BOOST_TEST(resumed.opt.step_count() == before);
            BOOST_TEST(resumed.opt.param_step(1) == first.opt.param_step(1));
            for (int i = 0; i < after; ++i) resumed.train_step();

            BOOST_TEST(same_bits(resumed.w, reference.w));
            BOOST_TEST(same_bits(resumed.b, reference.b));
            for (size_t i = 0; i < 2; ++i) {
                BOOST_TEST(same_bits(resumed.opt.exp_avg(i), reference.opt.exp_avg(i)));
                BOOST_TEST(same_bits(resumed.opt.exp_avg_sq(i), reference.opt.exp_avg_sq(i)));
                if (i == 0)
                    BOOST_TEST(same_bits(resumed.opt.max_exp_avg_sq(i),
                                         reference.opt.max_exp_avg_sq(i)));  // w's group has amsgrad
                BOOST_TEST(resumed.opt.param_step(i) == reference.opt.param_step(i));
                BOOST_TEST(resumed.opt.lr(i) == reference.opt.lr(i));
            }
            BOOST_TEST(resumed.scheduler->get_last_lrs() == reference.scheduler->get_last_lrs(),
                       boost::test_tools::per_element());
        }
    }
}

BOOST_AUTO_TEST_CASE(float_state_round_trips_exactly) {
    Generator gen(3);
    Tensor w = randn<float>({4, 3}, &gen, true), b = randn<float>({3}, &gen, true);
    Adam opt({w},
             {.lr = 0.01, .betas = {0.5, 0.75}, .eps = 1e-4, .weight_decay = 0.1, .amsgrad = true, .maximize = true});
    opt.add_param_group({b}, {.lr = 0.3});
    for (int i = 0; i < 3; ++i) {
        opt.zero_grad();
        {
            Tape tape;
            tape.backward(sum(mul(add(matmul(randn<float>({2, 4}, &gen), w), b), randn<float>({2, 3}, &gen))));
        }
        opt.step();
    }
    const StateDict state = opt.state_dict();
    BOOST_TEST(state.metadata().at("param_groups").size() == 2u);
    BOOST_TEST(!state.metadata().contains("lr"));
    Tensor w2 = zeros({4, 3}, true), b2 = zeros({3}, true);
    Adam opt2({w2}, {});
    opt2.add_param_group({b2}, {.lr = 1.0, .amsgrad = true});
    opt2.load_state_dict(state);
    BOOST_TEST(opt2.state_dict().metadata().dump() == state.metadata().dump());
    const AdamOptions o = opt2.options(0);
    BOOST_TEST(o.lr == 0.01);
    BOOST_TEST(o.betas[1] == 0.75);
    BOOST_TEST(o.eps == 1e-4);
    BOOST_TEST(o.amsgrad);
    BOOST_TEST(o.maximize);
    BOOST_TEST(!opt2.options(1).amsgrad);
    BOOST_TEST(opt2.lr(1) == 0.3);
    BOOST_TEST(opt2.param_step(1) == 3);
    BOOST_TEST(same_bits(opt2.exp_avg_sq(0), opt.exp_avg_sq(0)));
    BOOST_TEST(same_bits(opt2.max_exp_avg_sq(0), opt.max_exp_avg_sq(0)));
    BOOST_TEST(!opt2.max_exp_avg_sq(1).defined());  // state for amsgrad only where it is on
    BOOST_TEST(state.get<float>("exp_avg.0").data() != opt.exp_avg(0).data());  // a snapshot
}

BOOST_AUTO_TEST_CASE(bad_states_are_rejected_and_change_nothing) {
    Tensor w = ones({2, 3}, true), b = ones({3}, true);
    Adam opt({w}, {.lr = 0.1, .amsgrad = true});
    opt.add_param_group({b}, {.lr = 0.2});
    {
        Tape tape;
        tape.backward(sum(w));
    }
    opt.step();  // w has state, b none
    const StateDict good = opt.state_dict();
    const std::string before = good.metadata().dump();
    const std::vector<float> exp_avg_before = opt.exp_avg(0).to_vector();
    const auto rejects = [&](const StateDict& state, const std::string& text) {
        BOOST_CHECK_EXCEPTION(opt.load_state_dict(state), std::invalid_argument, contains_text(text));
        BOOST_TEST(opt.state_dict().metadata().dump() == before);
        BOOST_TEST(opt.exp_avg(0).to_vector() == exp_avg_before, boost::test_tools::per_element());
    };
    const auto edited = [&](auto edit) {
        StateDict s = good;
        edit(s);
        return s;
    };
    rejects(AdamW({ones({2, 3}, true)}).state_dict(), "expected the state of a Adam, but got \"AdamW\"");
    Tensor w2 = ones({2, 3}, true), b2 = ones({3}, true);
    rejects(Adam({w2, b2}).state_dict(), "the state has 1 parameter group, but this optimizer has 2");
    rejects(edited([](StateDict& s) { s.metadata()["param_groups"].push_back(s.metadata()["param_groups"][1]); }),
            "the state has 3 parameter groups, but this optimizer has 2");
    rejects(edited([](StateDict& s) { s.metadata()["param_groups"][1]["num_params"] = 2; }),
            "param_groups[1]: the group has 2 parameters, but this optimizer's has 1");
    rejects(edited([](StateDict& s) { s.metadata()["param_groups"][1]["options"]["betas"] = {0.9, 1.0}; }),
            "param_groups[1]: Invalid beta parameter at index 1: 1.0");
    rejects(edited([](StateDict& s) { s.metadata()["param_groups"][0]["options"].erase("betas"); }),
            "options.betas is missing");
    rejects(edited([](StateDict& s) { s.metadata()["param_groups"][0]["lr"] = -1.0; }), "lr=-1");
    rejects(edited([](StateDict& s) { s.metadata()["param_steps"] = {1}; }),
            "\"param_steps\" is not an array of 2 step counts");
    rejects(edited([](StateDict& s) {
                s.metadata()["param_steps"] = {1, -1};
            }),
            "holds -1 for parameter 1, not a count");
    rejects(edited([](StateDict& s) { s.metadata()["param_steps"] = {1, 2}; }),
            "parameter 1 has taken 2 steps, but the state has no \"exp_avg.1\"");
    rejects(edited([](StateDict& s) { s.metadata()["param_steps"] = {0, 0}; }),
            "unexpected tensor \"exp_avg.0\" in the state: parameter 0 has taken no step");
    rejects(edited([](StateDict& s) { s.metadata()["param_groups"][0]["options"]["amsgrad"] = false; }),
            "unexpected tensor \"max_exp_avg_sq.0\" in the state: parameter 0's group has amsgrad off");
    StateDict no_max;
    no_max.metadata() = good.metadata();
    no_max.add("exp_avg.0", good.get<float>("exp_avg.0"));
    no_max.add("exp_avg_sq.0", good.get<float>("exp_avg_sq.0"));
    rejects(no_max, "the state has no \"max_exp_avg_sq.0\" (amsgrad is on)");
    rejects(edited([](StateDict& s) {
                s.add("momentum_buffer.0", zeros({2, 3}));
            }),
            "unexpected tensor \"momentum_buffer.0\" in the state (expected exp_avg, exp_avg_sq or max_exp_avg_sq, "
            "each followed by .0 to .1)");
    rejects(edited([](StateDict& s) { s.add("exp_avg.2", zeros({3})); }), "unexpected tensor \"exp_avg.2\"");
    StateDict wrong_shape;
    wrong_shape.metadata() = good.metadata();
    for (const auto& name : good.names())
        wrong_shape.add(name, name == "exp_avg_sq.0" ? zeros({3, 2}) : good.get<float>(name));
    rejects(wrong_shape, "size mismatch for \"exp_avg_sq.0\"");
}

BOOST_AUTO_TEST_CASE(old_states_load) {
    // The one-group form is the format of every state before groups existed: such a state
    // (here as an SGD checkpoint of the earlier version writes it) loads unchanged.
    Tensor w = zeros({2}, true);
    SGD opt({w}, {.lr = 1.0});
    StateDict old;
    old.metadata() = Json::parse(
        R"({"type":"SGD","dtype":"float32","param_shapes":[[2]],"step_count":3,"lr":0.025,)"
        R"("initial_lr":0.1,"options":{"momentum":0.9,"dampening":0.0,"weight_decay":0.0005,"nesterov":false}})");
    old.add("momentum_buffer.0", from_vector<float>({2}, {0.5f, -0.25f}));
    opt.load_state_dict(old);
    BOOST_TEST(opt.lr() == 0.025);
    BOOST_TEST(opt.initial_lr().value() == 0.1);
    BOOST_TEST(opt.step_count() == 3);
    BOOST_TEST(opt.options().weight_decay == 0.0005);
    BOOST_TEST(opt.momentum_buffer(0).to_vector() == std::vector<float>({0.5f, -0.25f}),
               boost::test_tools::per_element());
    BOOST_TEST(opt.state_dict().metadata().dump() == old.metadata().dump());  // and is written the same way

    // A scheduler's: one "base_lr" and "last_lr" for one group; arrays with several.
    CosineAnnealingLR scheduler(opt, 10);
    StateDict old_scheduler;
    old_scheduler.metadata() =
        Json::parse(R"({"type":"CosineAnnealingLR","last_epoch":3,"base_lr":0.1,"last_lr":0.0793892626146237,)"
                    R"("options":{"T_max":10,"eta_min":0.0}})");
    scheduler.load_state_dict(old_scheduler);
    BOOST_TEST(scheduler.last_epoch() == 3);
    BOOST_TEST(scheduler.state_dict().metadata().dump() == old_scheduler.metadata().dump());
    Tensor v = zeros({2}, true);
    opt.add_param_group({v}, {.lr = 0.2});
    CosineAnnealingLR two(opt, 10);
    BOOST_TEST(two.base_lrs() == std::vector<double>({0.1, 0.2}), boost::test_tools::per_element());
    BOOST_TEST(two.state_dict().metadata().at("base_lrs").size() == 2u);
    BOOST_CHECK_EXCEPTION(two.load_state_dict(old_scheduler), std::invalid_argument,
                          contains_text("the state has one \"base_lr\", but the scheduler drives 2 parameter groups"));
    StateDict short_lrs = two.state_dict();
    short_lrs.metadata()["last_lrs"] = {0.1};
    BOOST_CHECK_EXCEPTION(two.load_state_dict(short_lrs), std::invalid_argument,
                          contains_text("expected \"last_lrs\" to be an array of 2 numbers, one per parameter group"));
    // A scheduler drives the groups the optimizer had when it was made; SequentialLR's must agree.
    BOOST_CHECK_EXCEPTION(
        SequentialLR(opt, {std::make_shared<StepLR>(opt, 2), std::shared_ptr<LRScheduler>(&scheduler, [](auto*) {})},
                     {2}),
        std::invalid_argument, contains_text("scheduler 1 drives 1 parameter groups, but the optimizer has 2"));
}

BOOST_AUTO_TEST_CASE(clip_grad_norm_matches_pytorch) {
    int cases = 0;
    for (const Json& c : adam_golden().at("cases")) {
        if (c.at("kind") != "clip") continue;
        ++cases;
        const auto run = [&]<typename T>(T, double tol) {
            BOOST_TEST_CONTEXT(c.at("name").get<std::string>() << " " << dtype_name<T>()) {
                std::vector<BasicTensor<T>> params;
                for (const Json& g : c.at("grads")) {
                    const GoldenArray a = golden_array(g);
                    params.push_back(zeros<T>(a.shape, true));
                    params.back().set_grad(to_tensor<T>(a));
                }
                params.push_back(zeros<T>({2}, true));  // no gradient: ignored
                const Json& ref = c.at(dtype_name<T>());
                const T total = clip_grad_norm_(params, c.at("max_norm").get<double>(), number(c.at("norm_type")));
                const double expected = ref.at("total_norm").get<double>();
                BOOST_TEST(std::abs(double(total) - expected) <= tol * expected, total << " vs PyTorch " << expected);
                for (size_t k = 0; k + 1 < params.size(); ++k) {
                    const double e =
                        distance(params[k].grad(), ref.at("grads").at(k).get<std::vector<double>>()).scaled();
                    BOOST_TEST(e <= tol, "gradient " << k << ": error " << e);
                }
                BOOST_TEST(!params.back().grad().defined());
            }
        };
        run(double(), 1e-12);
        run(float(), 1e-6);
    }
    BOOST_TEST(cases >= 8);
}

BOOST_AUTO_TEST_CASE(clip_grad_norm_edges) {
    Tensor a = zeros({3}, true), b = zeros({2}, true);
    BOOST_TEST(clip_grad_norm_(std::vector<Tensor>{a, b}, 1.0) == 0.0f);  // no gradients at all

    a.set_grad(from_vector<float>({3}, {3.0f, 0.0f, 4.0f}));
    b.set_grad(from_vector<float>({2}, {NAN, 1.0f}));
    const auto a_before = a.grad().to_vector();
    BOOST_CHECK_EXCEPTION(
        clip_grad_norm_(std::vector<Tensor>{a, b}, 1.0, 2.0, true), std::runtime_error,
        [](const std::runtime_error& e) {
            return message_is(
                e,
                "The total norm of order 2.0 for gradients from `parameters` is non-finite, so it cannot be clipped. "
                "To disable this error and scale the gradients by the non-finite norm anyway, set "
                "`error_if_nonfinite=False`");
        });
    BOOST_TEST(a.grad().to_vector() == a_before, boost::test_tools::per_element());  // nothing changed
    BOOST_TEST(std::isnan(clip_grad_norm_(std::vector<Tensor>{a, b}, 1.0, INFINITY)));  // PyTorch scales by NaN
    for (float v : a.grad().to_vector()) BOOST_TEST(std::isnan(v));

    a.set_grad(from_vector<float>({3}, {3.0f, 0.0f, 4.0f}));
    BOOST_TEST(clip_grad_norm_(std::vector<Tensor>{a}, 10.0) == 5.0f);
    BOOST_TEST(a.grad().to_vector() == a_before, boost::test_tools::per_element());  // below max_norm: × 1
    BOOST_CHECK_EXCEPTION(clip_grad_norm_(std::vector<Tensor>{a}, 1.0, 0.0), std::invalid_argument,
                          contains_text("clip_grad_norm_: expected norm_type > 0 (or inf), but got norm_type=0.0"));
    BOOST_CHECK_EXCEPTION(clip_grad_norm_(std::vector<Tensor>{a}, 1.0, -INFINITY), std::invalid_argument,
                          contains_text("norm_type=-inf"));
}

BOOST_AUTO_TEST_SUITE_END()
