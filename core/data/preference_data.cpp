#include "data/preference_data.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "common/errors.h"

using nlohmann::json;

namespace ps {
namespace {

PreferencePair pair_from_json(const json& j, const std::string& path, long line) {
    if (!j.is_object()) throw DataError(path, line, "each record must be a JSON object with prompt, chosen and rejected");
    PreferencePair p;
    p.source_line = line;
    auto field = [&](const char* key, std::string& out, bool required) {
        auto it = j.find(key);
        if (it == j.end()) {
            if (required) throw DataError(path, line, std::string("missing field '") + key + "' (expected prompt, chosen, rejected strings)");
            return;
        }
        if (!it->is_string()) throw DataError(path, line, std::string("field '") + key + "' must be a string");
        out = it->get<std::string>();
    };
    field("prompt", p.prompt, false);
    field("chosen", p.chosen, true);
    field("rejected", p.rejected, true);
    if (p.chosen.empty()) throw DataError(path, line, "field 'chosen' is empty");
    if (p.rejected.empty()) throw DataError(path, line, "field 'rejected' is empty");
    return p;
}

}  // namespace

PreferenceDataset read_preference_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw DataError(path, 0, "cannot open the file");
    PreferenceDataset ds;
    ds.path = path;
    ds.format = "trl-standard";
    long equal = 0;

    // A JSON array starts with '[' (after whitespace); anything else is read as JSON Lines.
    char first = 0;
    while (in.get(first) && std::isspace(static_cast<unsigned char>(first))) {}
    if (!in) throw DataError(path, 0, "the file is empty");
    in.unget();
    if (first == '[') {
        json all;
        try {
            all = json::parse(in);
        } catch (const json::parse_error& e) {
            throw DataError(path, 0, std::string("invalid JSON: ") + e.what());
        }
        long idx = 0;
        for (const auto& rec : all) ds.pairs.push_back(pair_from_json(rec, path, ++idx));
    } else {
        std::string text;
        long line = 0;
        while (std::getline(in, text)) {
            ++line;
            if (std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isspace(c); })) continue;
            json rec;
            try {
                rec = json::parse(text);
            } catch (const json::parse_error& e) {
                throw DataError(path, line, "invalid JSON at column " + std::to_string(e.byte) + "");
            }
            ds.pairs.push_back(pair_from_json(rec, path, line));
        }
    }
    if (ds.pairs.empty()) throw DataError(path, 0, "the file holds no preference pairs");
    for (const auto& p : ds.pairs)
        if (p.chosen == p.rejected) ++equal;
    if (equal > 0)
        ds.warnings.push_back(std::to_string(equal) + " pair(s) have chosen equal to rejected; they teach nothing");
    return ds;
}

void write_preference_jsonl(const std::vector<PreferencePair>& pairs, const std::string& path) {
    namespace fs = std::filesystem;
    fs::path p(path);
    if (p.has_parent_path()) fs::create_directories(p.parent_path());
    // Write to a temporary file and rename, so a reader never sees half a dataset.
    std::string tmp = path + ".tmp";
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        if (!out) throw DataError(path, 0, "cannot write the file");
        for (const auto& pair : pairs)
            out << json{{"prompt", pair.prompt}, {"chosen", pair.chosen}, {"rejected", pair.rejected}}.dump() << '\n';
        if (!out) throw DataError(path, 0, "write failed (disk full?)");
    }
    fs::rename(tmp, path);
}

void split_train_eval(const std::vector<PreferencePair>& all, double eval_fraction, uint64_t seed,
                      std::vector<PreferencePair>& train, std::vector<PreferencePair>& eval) {
    std::vector<size_t> order(all.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::mt19937_64 rng(seed ^ 0x9E3779B97F4A7C15ULL);
    std::shuffle(order.begin(), order.end(), rng);
    size_t n_eval = static_cast<size_t>(std::llround(eval_fraction * static_cast<double>(all.size())));
    if (eval_fraction > 0 && n_eval == 0 && all.size() >= 2) n_eval = 1;
    if (n_eval >= all.size()) n_eval = all.size() - 1;
    train.clear();
    eval.clear();
    for (size_t i = 0; i < order.size(); ++i)
        (i < order.size() - n_eval ? train : eval).push_back(all[order[i]]);
}

}  // namespace ps
