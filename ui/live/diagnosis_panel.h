// The run's diagnosis in plain words: the current regime as a coloured headline ("Both rewards
// falling since step 60"), the engine's explanation as a card, where the margin comes from
// (margin = from chosen + from rejected, on smoothed rewards), and for a problem what usually
// helps. Fed from RunSession's metric and event signals on the GUI thread.
// Below it, the evidence (ui/diagnose/): the regime timeline, the stacked margin decomposition
// over the steps, and the run's tracked pairs (loaded from the store when the run ends or a
// stored run is opened). "Clone with remedy" applies the remedy picked in the list (core's
// diagnose/remedies.h) as config overrides. A live run offers the current regime's remedies
// for its algorithm; a stored run shows its run record (core's store/run_record.h) and offers
// the record's remedies: those of the problem the run spent the most steps in, for its algorithm.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <QString>
#include <QWidget>

#include <nlohmann/json.hpp>

#include "core/common/run_types.h"
#include "core/diagnose/remedies.h"

class QComboBox;
class QFrame;
class QLabel;
class QPushButton;
class QTabWidget;

namespace ps {
class RunStore;
struct PairTrackingReport;
struct RunRecord;
}

namespace ps::ui {

class MarginDecompositionPlot;
class PairBrowser;
class RegimeTimeline;

class DiagnosisPanel : public QWidget {
    Q_OBJECT
public:
    // TensorBoard's default smoothing: debiased EMA with weight 0.6.
    static constexpr double kSmoothing = 0.6;

    explicit DiagnosisPanel(QWidget* parent = nullptr);

    // Forgets the last run: "waiting" look, no decomposition, no algorithm.
    void clear();
    // The live run's objective.algorithm: remedies that do not apply to it are not offered.
    void setAlgorithm(const std::string& algorithm);
    // A stored run: its stored regime changes and tracked pairs, from its record (clearing
    // what was shown before), and its diagnosis when the record has one.
    void showRecord(const RunRecord& record);
    // The stored run's diagnosis once it is made (core: diagnose_run_record): its headline
    // (severity, where chosen and rejected ended against the reference) and verdict, the
    // retrospective phases on the strip (replacing the live events it was stored with, so strip,
    // headline and evidence agree), the margin decomposition of the diagnosis, and the remedies
    // of its main problem for its algorithm and data.
    void showDiagnosis(const RunRecord& record);
    // A stored run is shown and its diagnosis has not come yet.
    bool isDiagnosing() const { return stored_ && !storedDiagnosed_; }
    void appendMetrics(const std::vector<StepMetrics>& batch);
    void appendEvents(const std::vector<RunEvent>& events);
    // Whether "Clone with remedy" may act now (the form is locked while a run is going).
    void setCloneEnabled(bool enabled, const QString& whyNot = QString());

    QString regime() const { return regime_; }   // "" before the first regime event
    int64_t sinceStep() const { return since_; }
    QString headline() const;
    QString severity() const { return storedSeverity_; }  // a diagnosed stored run's; "" otherwise
    QString explanation() const;
    QString decomposition() const;
    QString remedies() const;
    QString remediesTitle() const;
    QPushButton* cloneButton() const { return cloneButton_; }
    // The one-click remedies of the current regime; the picked one is what "Clone with remedy"
    // applies (core: ps::apply_remedy(experiment, selectedRemedyId(), config)).
    QComboBox* remedyChoice() const { return remedyChoice_; }
    QString selectedRemedyId() const;

    // Per-pair evidence of a stored run (or of the live run once it is stored): reads its
    // tracked pairs and their log-probs. A store error is shown in the browser, never thrown.
    void loadTrackedPairs(RunStore& store, int64_t runId);

    RegimeTimeline* regimeTimeline() const { return timeline_; }
    MarginDecompositionPlot* marginPlot() const { return marginPlot_; }
    PairBrowser* pairBrowser() const { return pairs_; }
    QTabWidget* evidenceTabs() const { return evidence_; }

signals:
    // A regime event changed the headline; `problem` for both falling, both rising, ...
    void regimeChanged(const QString& regime, bool problem);
    // The user asks for the current experiment with the picked remedy applied
    // (selectedRemedyId(); sft_weight = 1.0 first for both rewards falling).
    void cloneWithRemedyRequested();

protected:
    void resizeEvent(QResizeEvent* event) override;

private:
    // Each word-wrapped text gets the height its text needs at its width, so a low dock scrolls
    // (the panel sits in a scroll area) instead of clipping a long headline.
    void fitWrappedLabels();
    void scheduleFit();  // fitWrappedLabels once the event loop runs (several calls: one fit)
    bool fitPending_ = false;
    struct Ema {
        double value = 0.0;
        int64_t count = 0;
        void add(double y);
        double get() const;  // debiased; NaN before any value
    };
    void showRegime();
    void updateDecomposition();
    void showPairs(const PairTrackingReport& report, int64_t runId, bool imported = false);
    std::vector<Remedy> currentRemedies() const;

    QLabel* headline_ = nullptr;
    QLabel* decomposition_ = nullptr;
    QLabel* decompositionNote_ = nullptr;
    QLabel* explanation_ = nullptr;
    QLabel* remediesTitle_ = nullptr;
    QLabel* remedies_ = nullptr;
    QPushButton* cloneButton_ = nullptr;
    QComboBox* remedyChoice_ = nullptr;
    RegimeTimeline* timeline_ = nullptr;
    MarginDecompositionPlot* marginPlot_ = nullptr;
    PairBrowser* pairs_ = nullptr;
    QTabWidget* evidence_ = nullptr;

    QString regime_;
    QString message_;
    std::string algorithm_;        // "" = any
    bool stored_ = false;          // showing a run record: its remedies, not the regime's
    bool storedDiagnosed_ = false;
    std::vector<Remedy> storedRemedies_;
    QString storedProblem_;        // the record's dominant problem ("" when none)
    QString storedVerdict_;        // the record's verdict, the headline when it has no regime
    QString storedHeadline_;       // the record's headline (severity, levels against the baseline)
    QString storedSeverity_;       // "fine", "watch", "problem", "unknown"
    // The live diagnosis' headline and severity of the latest regime event (its data
    // "headline", "severity"; core's LiveDiagnosis), and the step it was made at; empty for
    // events without them (runs stored before the live segmentation).
    QString liveHeadline_, liveSeverity_;
    int64_t liveStep_ = 0;
    nlohmann::json storedDecomposition_;  // the record's margin decomposition (baseline-aware)
    int64_t since_ = 0;
    Ema chosen_, rejected_;
};

}  // namespace ps::ui
