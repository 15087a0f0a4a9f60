// study_results_check RESULTS_JSON: the checks tests/study_smoke.sh makes of the results.json
// that examples/gn_vs_bn wrote for its --quick study with 2 workers and 2 seeds (GN, BN and LN
// at batch 32 per worker, GN and BN at batch 2): the ten runs and nothing else, the settings,
// each run's step count, learning rate and per-epoch error, and accuracies in [0, 1]. Exit 0 when all hold, 1 with a
// line per failed check otherwise. In C++ so that the test suite needs no Python.
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <tuple>
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
        check(settings.at("train_subset").get<int>() == 512 && settings.at("epochs").get<int>() == 1 &&
                  settings.at("workers").get<int>() == 2 && settings.at("test_images").get<int>() == 500,
              "settings: expected train_subset 512, epochs 1, workers 2, test_images 500, got " + settings.dump());

        using Key = std::tuple<std::string, int, int>;  // norm, batch size per worker, seed
        std::map<Key, nlohmann::json> runs;
        for (const auto& run : r.at("runs"))
            runs[{run.at("norm").get<std::string>(), run.at("batch_size").get<int>(), run.at("seed").get<int>()}] = run;
        std::set<Key> expected;
        for (int seed : {0, 1}) {
            for (const char* norm : {"bn", "gn"})
                for (int batch : {2, 32}) expected.insert({norm, batch, seed});
            expected.insert({"ln", 32, seed});
        }
        std::set<Key> found;
        std::string listed;
        for (const auto& [key, run] : runs) {
            found.insert(key);
            listed += " " + std::get<0>(key) + "/" + std::to_string(std::get<1>(key)) + "/" +
                      std::to_string(std::get<2>(key));
        }
        check(found == expected && r.at("runs").size() == expected.size(),
              "runs: expected bn and gn at B = 2 and 32 and ln at 32, seeds 0 and 1, once each, got" + listed);

        std::string accuracies;
        for (const auto& [key, run] : runs) {
            const auto& [norm, batch, seed] = key;
            const std::string name = norm + "/" + std::to_string(batch) + "/" + std::to_string(seed);
            const double accuracy = run.at("test_accuracy").get<double>();
            check(accuracy >= 0.0 && accuracy <= 1.0,
                  name + ": test_accuracy " + std::to_string(accuracy) + " is not in [0, 1]");
            // 2 workers: 2·B images per step, drop_last.
            check(run.at("steps").get<int>() == 512 / (2 * batch),
                  name + ": expected " + std::to_string(512 / (2 * batch)) + " steps, got " + run.at("steps").dump());
            const double lr = run.at("lr").get<double>(), expected_lr = 0.1 * 2 * batch / 256.0;
            check(std::abs(lr - expected_lr) < 1e-12,
                  name + ": expected lr " + std::to_string(expected_lr) + ", got " + run.at("lr").dump());
            const auto& per_epoch = run.at("epoch_test_error");
            check(per_epoch.size() == 1 && std::abs(per_epoch[0].get<double>() - 100.0 * (1.0 - accuracy)) < 1e-9,
                  name + ": expected one epoch's test error equal to the final one, got " + per_epoch.dump());
            char text[64];
            std::snprintf(text, sizeof text, " %s %.3f", name.c_str(), accuracy);
            accuracies += text;
        }
        if (failures == 0) std::printf("results.json: %zu runs, accuracies%s\n", runs.size(), accuracies.c_str());
    } catch (const nlohmann::json::exception& e) {
        std::printf("FAIL: results.json is not what the study writes: %s\n", e.what());
        return 1;
    }
    return failures == 0 ? 0 : 1;
}
