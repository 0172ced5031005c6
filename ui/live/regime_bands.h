// Shaded stretches of a run's diagnosed regimes behind its curves. The engine's live diagnosis
// sends a "regime" RunEvent at every change (data: "from", "to", "since_step", ...); each
// change starts a stretch at its "since_step" and ends the previous one the step before. A
// problem stretch (both falling, both rising, margin collapsing, diverging) is drawn as a
// vertical band over the whole height of each target axis rect, below the graphs; healthy and
// warming-up stretches are not drawn. The open (last) stretch grows with the run's steps.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include <QString>

#include "core/common/run_types.h"

class QCustomPlot;
class QCPAxisRect;
class QCPItemRect;
class QCPItemText;
class QCPLayer;

namespace ps::ui {

class RegimeBands {
public:
    struct Target {
        QCPAxisRect* rect = nullptr;
        int alpha = 40;       // of the band's fill, 0-255
        bool labels = true;   // a small name at the band's top ("both falling")
    };
    struct Stretch {
        QString regime;      // "both_falling", ...
        int64_t start = 0;   // first step (the change's since_step)
        int64_t end = 0;     // last step, inclusive
        bool open = true;    // the current regime: `end` follows the latest step
        QString message;     // the change's explanation
        std::vector<QCPItemRect*> rects;    // one per target, empty when not drawn
        std::vector<QCPItemText*> labels;   // one per target (null where it has no labels)
    };

    RegimeBands(QCustomPlot* plot, std::vector<Target> targets);
    ~RegimeBands();
    RegimeBands(const RegimeBands&) = delete;
    RegimeBands& operator=(const RegimeBands&) = delete;

    // Removes every stretch and its items (a new run). No replot.
    void clear();
    // Takes the "regime" events of a batch (others are ignored). Returns true when something
    // visible changed. No replot.
    bool addEvents(const std::vector<RunEvent>& events);
    // Every stretch replaced by these changes, the steps seen so far kept (a stored run's
    // retrospective phases replace its live regime events once it is diagnosed). No replot.
    bool replaceEvents(const std::vector<RunEvent>& events);
    // Extends the open stretch to the newest preference-training step of the batch (records
    // with only "sft/..." metrics count SFT steps and are ignored). True when a band grew.
    bool appendMetrics(const std::vector<StepMetrics>& batch);

    const std::vector<Stretch>& stretches() const { return stretches_; }
    // The drawn band items on target `index` (0 = first target), oldest first.
    std::vector<QCPItemRect*> bandItems(int index) const;
    int64_t lastStep() const { return lastStep_; }
    // Where a step lies on the x axis (the identity by default; the live monitor's wall-time
    // axis maps steps to seconds). Moves every drawn band. No replot.
    void setStepToX(std::function<double(int64_t)> stepToX);

private:
    void draw(Stretch& s);
    void updateGeometry(Stretch& s);
    void removeItems(Stretch& s);
    // Before each replot: a label shows only where it fits before the next band starts.
    void layoutLabels();

    QCustomPlot* plot_ = nullptr;
    QCPLayer* layer_ = nullptr;
    std::vector<Target> targets_;
    std::vector<Stretch> stretches_;
    int64_t lastStep_ = 0;
    std::function<double(int64_t)> stepToX_;
};

}  // namespace ps::ui
