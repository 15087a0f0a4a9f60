// study_results_check RESULTS_JSON: the checks tests/study_smoke.sh makes of the results.json
// that examples/gn_vs_bn wrote for its tiny study (GN, BN and LN at batch 32, GN and BN at
// batch 2, 256 training images, 1 epoch): the five runs and nothing else, the settings, each
// run's step count and learning rate, and accuracies in [0, 1]. Exit 0 when all hold, 1 with a
// line per failed check otherwise. In C++ so that the test suite needs no Python.
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: study_results_check RESULTS_JSON\n");
        return 2;
    }
    std::ifstream in(argv[1]);
    if (!in) {
        std::printf("FAIL: cannot open %s\n", argv[1]);
        return 1;
    }
    int failures = 0;
    auto check = [&](bool ok, const std::string& what) {
        if (!ok) {
            std::printf("FAIL: %s\n", what.c_str());
            ++failures;
        }
    };
    try {
        const nlohmann::json r = nlohmann::json::parse(in);
        const nlohmann::json& settings = r.at("settings");
        check(settings.at("train_subset").get<int>() == 256 && settings.at("epochs").get<int>() == 1,
              "settings: expected train_subset 256 and epochs 1, got " + settings.dump());

        std::map<std::pair<std::string, int>, nlohmann::json> runs;
        for (const auto& run : r.at("runs"))
            runs[{run.at("norm").get<std::string>(), run.at("batch_size").get<int>()}] = run;
        const std::set<std::pair<std::string, int>> expected{{"bn", 2}, {"bn", 32}, {"gn", 2}, {"gn", 32}, {"ln", 32}};
        std::set<std::pair<std::string, int>> found;
        for (const auto& [key, run] : runs) found.insert(key);
        std::string listed;
        for (const auto& [norm, batch] : found) listed += " " + norm + "/" + std::to_string(batch);
        check(found == expected && r.at("runs").size() == expected.size(),
              "runs: expected bn/2 bn/32 gn/2 gn/32 ln/32 once each, got" + listed);

        std::string accuracies;
        for (const auto& [key, run] : runs) {
            const auto& [norm, batch] = key;
            const std::string name = norm + "/" + std::to_string(batch);
            const double accuracy = run.at("test_accuracy").get<double>();
            check(accuracy >= 0.0 && accuracy <= 1.0, name + ": test_accuracy " + std::to_string(accuracy) + " is not in [0, 1]");
            check(run.at("steps").get<int>() == 256 / batch,
                  name + ": expected " + std::to_string(256 / batch) + " steps, got " + run.at("steps").dump());
            const double lr = run.at("lr").get<double>(), expected_lr = 0.1 * batch / 32.0;
            check(std::abs(lr - expected_lr) < 1e-12, name + ": expected lr " + std::to_string(expected_lr) + ", got " + run.at("lr").dump());
            char text[64];
            std::snprintf(text, sizeof text, " %s %.3f", name.c_str(), accuracy);
            accuracies += text;
        }
        if (failures == 0) std::printf("results.json: 5 runs, accuracies%s\n", accuracies.c_str());
    } catch (const nlohmann::json::exception& e) {
        std::printf("FAIL: results.json is not what the study writes: %s\n", e.what());
        return 1;
    }
    return failures == 0 ? 0 : 1;
}
