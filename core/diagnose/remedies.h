// What to try when a regime is a problem (README: remedies), as one-click config changes:
// "clone with remedy" in the studio copies the experiment with the remedy's overrides applied.
// A remedy that needs a new dataset (on-policy rejected answers) says so with makes_data: its
// override (engine/remedy_config.h) points data.train at the file that `make-data onpolicy`
// writes for the experiment, which the studio makes before it fills the form.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/config/run_config.h"
#include "core/diagnose/regime.h"

namespace ps {

struct Remedy {
    RemedyKind kind;          // which algorithms it applies to is the algorithm table's
    std::string id;           // "sft_weight", "dpop_lambda", "lower_learning_rate", ...
    std::string title;        // "Add an SFT term on the chosen answers"
    std::string change;       // the config change in words: "objective.sft_weight = 1.0"
    std::string why;          // one sentence: why it helps in this regime
    bool one_click = true;    // false: advice only, no overrides
    std::string name_suffix;  // appended to the cloned experiment's name: "-rpo"
    bool makes_data = false;  // its data.train file must be made first (make-data onpolicy)
};

// The remedies for a regime, most useful first, each with its reason in that regime (`why`);
// empty for healthy and warming up. `algorithm` (objective.algorithm, or "" for any) leaves out
// remedies that its row in the algorithm table does not list (DPO-Positive is DPO only, "raise
// beta" not to an algorithm without a reference, ...). `data` (the data the run trained on;
// nullopt when unknown) leaves out what does not fit it: on-policy rejected answers need pairs
// (not KTO's unpaired examples), and "switch to KTO" is never offered for paired data (there KTO
// lowered chosen in every run measured for issue 16) nor to a KTO run.
std::vector<Remedy> remedies_for(Regime regime, const std::string& algorithm = "",
                                 std::optional<DataKind> data = std::nullopt);
// The one-click remedy with this id (every regime's list draws from the same set). Throws
// ps::Error naming the id when there is none.
Remedy remedy_by_id(const std::string& id);

// Applying a remedy to a config (remedy_overrides, apply_remedy) is engine/remedy_config.h: the
// on-policy remedy names the data file the engine makes for the experiment.

}  // namespace ps
