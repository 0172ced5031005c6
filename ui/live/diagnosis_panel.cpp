#include "ui/live/diagnosis_panel.h"

#include <cmath>
#include <limits>

#include <QComboBox>
#include <QFrame>
#include <QHBoxLayout>
#include <QLabel>
#include <QPushButton>
#include <QTabWidget>
#include <QResizeEvent>
#include <QTimer>
#include <QVBoxLayout>

#include "ui/common/metric_style.h"
#include "ui/common/regime_events.h"
#include "core/config/algorithm.h"
#include "core/diagnose/margin_decomposition.h"
#include "ui/diagnose/margin_decomposition_plot.h"
#include "ui/diagnose/pair_browser.h"
#include "core/diagnose/pair_tracking.h"
#include "ui/diagnose/regime_timeline.h"
#include "core/diagnose/remedies.h"
#include "core/store/run_record.h"
#include "core/store/run_store.h"

namespace ps::ui {

namespace {

QString num(double v) { return QString::number(v, 'g', 3); }

QString headlineFor(const QString& regime, int64_t since) {
    const QString step = QString::number(since);
    if (regime == QLatin1String("both_falling"))
        return DiagnosisPanel::tr("Both rewards falling since step %1").arg(step);
    if (regime == QLatin1String("both_rising"))
        return DiagnosisPanel::tr("Both rewards rising since step %1").arg(step);
    if (regime == QLatin1String("margin_collapsing"))
        return DiagnosisPanel::tr("Margin collapsing since step %1").arg(step);
    if (regime == QLatin1String("diverging"))
        return DiagnosisPanel::tr("Training diverging since step %1").arg(step);
    if (regime == QLatin1String("healthy"))
        return DiagnosisPanel::tr("Healthy since step %1").arg(step);
    if (regime == QLatin1String("warming_up"))
        return DiagnosisPanel::tr("Warming up: too few steps to judge yet");
    return DiagnosisPanel::tr("Regime '%1' since step %2").arg(regime, step);
}

// core's remedies for a regime, algorithm and the algorithm's data kind (the algorithm table);
// none for an unknown regime text.
std::vector<Remedy> remediesOf(const QString& regime, const std::string& algorithm) {
    try {
        const std::optional<Algorithm> a = find_algorithm(algorithm);
        const std::optional<DataKind> data = a ? std::optional<DataKind>(algorithm_spec(*a).data) : std::nullopt;
        return remedies_for(regime_from_string(regime.toStdString()), algorithm, data);
    } catch (const std::exception&) {
        return {};
    }
}

// Plain-text remedies (one per line); empty when there is nothing to do.
QString remediesText(const std::vector<Remedy>& remedies) {
    QStringList lines;
    for (const Remedy& r : remedies)
        lines << QStringLiteral("• %1: %2%3. %4")
                     .arg(QString::fromStdString(r.title), QString::fromStdString(r.change),
                          r.one_click ? QString() : DiagnosisPanel::tr(" (advice, no one-click change)"),
                          QString::fromStdString(r.why));
    return lines.join(QLatin1Char('\n'));
}

}  // namespace

void DiagnosisPanel::Ema::add(double y) {
    value = value * kSmoothing + (1.0 - kSmoothing) * y;
    ++count;
}

double DiagnosisPanel::Ema::get() const {
    if (count == 0) return std::numeric_limits<double>::quiet_NaN();
    return value / (1.0 - std::pow(kSmoothing, double(count)));
}

DiagnosisPanel::DiagnosisPanel(QWidget* parent) : QWidget(parent) {
    setObjectName(QStringLiteral("DiagnosisPanel"));
    headline_ = new QLabel;
    QFont headlineFont = font();
    headlineFont.setBold(true);
    headlineFont.setPointSizeF(headlineFont.pointSizeF() + 2.0);
    headline_->setFont(headlineFont);
    headline_->setWordWrap(true);
    headline_->setAlignment(Qt::AlignLeft | Qt::AlignTop);
    headline_->setObjectName(QStringLiteral("DiagnosisHeadline"));

    decomposition_ = new QLabel;
    decomposition_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    decomposition_->setToolTip(
        tr("Smoothed rewards (EMA 0.6). margin = chosen − rejected = (chosen) + (−rejected): the "
           "part from chosen is the policy raising the good answers; the part from rejected is "
           "it pushing the bad ones down."));
    decompositionNote_ = new QLabel;
    decompositionNote_->setWordWrap(true);

    explanation_ = new QLabel;
    explanation_->setWordWrap(true);
    explanation_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    explanation_->setObjectName(QStringLiteral("DiagnosisCard"));

    remediesTitle_ = new QLabel(tr("What usually helps"));
    QFont bold = font();
    bold.setBold(true);
    remediesTitle_->setFont(bold);
    remediesTitle_->setWordWrap(true);  // "What usually helps against ... (this run's main problem)" in a narrow panel
    remedies_ = new QLabel;
    remedies_->setWordWrap(true);
    remedies_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    cloneButton_ = new QPushButton(tr("Clone with remedy"));
    cloneButton_->setToolTip(tr("Copy this experiment into the form with the picked remedy applied, ready to Run"));
    connect(cloneButton_, &QPushButton::clicked, this, &DiagnosisPanel::cloneWithRemedyRequested);
    remedyChoice_ = new QComboBox;
    remedyChoice_->setToolTip(tr("The remedy that \"Clone with remedy\" applies"));
    remedyChoice_->setSizeAdjustPolicy(QComboBox::AdjustToContents);

    timeline_ = new RegimeTimeline;
    marginPlot_ = new MarginDecompositionPlot;
    pairs_ = new PairBrowser;
    evidence_ = new QTabWidget;
    evidence_->setObjectName(QStringLiteral("DiagnosisEvidence"));
    evidence_->setDocumentMode(true);
    evidence_->addTab(marginPlot_, tr("Margin decomposition"));
    evidence_->addTab(pairs_, tr("Tracked pairs"));
    evidence_->setMinimumHeight(260);

    auto* left = new QVBoxLayout;
    left->addWidget(headline_);
    left->addWidget(decomposition_);
    left->addWidget(decompositionNote_);
    left->addWidget(explanation_);
    left->addStretch(1);
    // The title on a row of its own (it names the run's main problem and wraps when narrow),
    // the picker and button under it, before the list.
    auto* buttonRow = new QHBoxLayout;
    buttonRow->addWidget(remedyChoice_);
    buttonRow->addWidget(cloneButton_);
    buttonRow->addStretch(1);
    auto* right = new QVBoxLayout;
    right->addWidget(remediesTitle_);
    right->addLayout(buttonRow);
    right->addWidget(remedies_);
    right->addStretch(1);
    auto* cards = new QHBoxLayout;
    cards->addLayout(left, 3);
    cards->addSpacing(12);
    cards->addLayout(right, 2);
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(8, 6, 8, 6);
    layout->addWidget(timeline_);
    layout->addLayout(cards);
    layout->addWidget(evidence_, 1);

    clear();
}

void DiagnosisPanel::clear() {
    regime_.clear();
    message_.clear();
    since_ = 0;
    liveHeadline_.clear();
    liveSeverity_.clear();
    liveStep_ = 0;
    algorithm_.clear();
    stored_ = false;
    storedDiagnosed_ = false;
    storedRemedies_.clear();
    storedProblem_.clear();
    storedVerdict_.clear();
    storedHeadline_.clear();
    storedSeverity_.clear();
    storedDecomposition_ = nullptr;
    chosen_ = Ema{};
    rejected_ = Ema{};
    timeline_->clear();
    marginPlot_->clear();
    pairs_->clear();
    showRegime();
    updateDecomposition();
}

void DiagnosisPanel::appendMetrics(const std::vector<StepMetrics>& batch) {
    timeline_->appendMetrics(batch);
    marginPlot_->appendMetrics(batch);
    bool any = false;
    for (const StepMetrics& m : batch) {
        const double c = m.get("rewards/chosen");
        const double r = m.get("rewards/rejected");
        if (!std::isfinite(c) || !std::isfinite(r)) continue;
        chosen_.add(c);
        rejected_.add(r);
        any = true;
    }
    if (any) updateDecomposition();
}

void DiagnosisPanel::setAlgorithm(const std::string& algorithm) {
    if (algorithm == algorithm_) return;
    algorithm_ = algorithm;
    showRegime();
}

void DiagnosisPanel::showRecord(const RunRecord& record) {
    clear();
    algorithm_ = record.run.algorithm;
    stored_ = true;
    appendEvents(record.regime_events);
    showPairs(record.pairs, record.run.id, record.run.imported());
    if (record.diagnosed)
        showDiagnosis(record);
    else
        showRegime();
}

void DiagnosisPanel::showDiagnosis(const RunRecord& record) {
    if (!stored_ || !record.diagnosed) return;
    storedDiagnosed_ = true;
    appendMetrics(record.stream);
    storedRemedies_ = record.remedies;
    storedProblem_ = record.dominant_problem ? QString::fromLatin1(to_string(*record.dominant_problem)) : QString();
    const auto text = [&](const char* key) {
        const auto it = record.diagnosis.find(key);
        return it != record.diagnosis.end() && it->is_string() ? QString::fromStdString(it->get<std::string>()) : QString();
    };
    storedVerdict_ = text("verdict");
    storedHeadline_ = text("headline");
    storedSeverity_ = text("severity");
    const auto md = record.diagnosis.find("margin_decomposition");
    storedDecomposition_ = md != record.diagnosis.end() ? *md : nlohmann::json(nullptr);
    // The strip shows the retrospective phases the headline speaks of, not the live events.
    const std::vector<RunEvent> phases = record.timeline_events();
    timeline_->replaceEvents(phases);
    regime_.clear();
    since_ = 0;
    message_.clear();
    for (const RunEvent& e : phases)
        if (const std::optional<RegimeChange> c = regimeChange(e)) {
            regime_ = c->regime;
            since_ = c->since;
            message_ = c->message;
        }
    showRegime();  // no regime at all: the verdict says why
    updateDecomposition();
    if (!regime_.isEmpty()) emit regimeChanged(regime_, isProblemRegime(regime_));
}

void DiagnosisPanel::appendEvents(const std::vector<RunEvent>& events) {
    timeline_->addEvents(events);
    bool changed = false;
    for (const RunEvent& e : events) {
        const std::optional<RegimeChange> c = regimeChange(e);
        if (!c) continue;
        regime_ = c->regime;
        since_ = c->since;
        message_ = c->message;
        // The live diagnosis says where the run stands (levels against the reference) in the
        // same event as the label the strip and the bands draw.
        const auto text = [&](const char* key) {
            const auto it = e.data.find(key);
            return it != e.data.end() && it->is_string() ? QString::fromStdString(it->get<std::string>()) : QString();
        };
        liveHeadline_ = text("headline");
        liveSeverity_ = text("severity");
        liveStep_ = c->declared;
        changed = true;
    }
    if (!changed) return;
    showRegime();
    emit regimeChanged(regime_, isProblemRegime(regime_));
}

void DiagnosisPanel::setCloneEnabled(bool enabled, const QString& whyNot) {
    cloneButton_->setEnabled(enabled);
    cloneButton_->setToolTip(
        enabled ? tr("Copy this experiment into the form with the picked remedy applied, ready to Run") : whyNot);
}

QString DiagnosisPanel::selectedRemedyId() const { return remedyChoice_->currentData().toString(); }

void DiagnosisPanel::showPairs(const PairTrackingReport& report, int64_t runId, bool imported) {
    if (imported)
        pairs_->clear(tr("Pair tracking is not available for run %1: it was imported from another tool, and tracking "
                         "pairs needs the model and the data, which stay with that tool.")
                          .arg(runId));
    else if (report.empty())
        pairs_->clear(tr("Run %1 has no tracked pairs (train.track_pairs = 0, a run stored before tracking, or "
                         "one imported from another tool).")
                          .arg(runId));
    else
        pairs_->setReport(report);
}

void DiagnosisPanel::loadTrackedPairs(RunStore& store, int64_t runId) {
    try {
        const std::optional<StoredRun> run = store.find_run(runId);
        showPairs(analyse_tracked_pairs(store.load_tracked_pairs(runId), store.load_pair_logps(runId)), runId,
                  run && run->imported());
    } catch (const std::exception& e) {
        pairs_->clear(tr("Cannot read the tracked pairs of run %1: %2").arg(runId).arg(QString::fromStdString(e.what())));
    }
}

void DiagnosisPanel::resizeEvent(QResizeEvent* event) {
    QWidget::resizeEvent(event);  // the layout has placed the labels at their new widths
    fitWrappedLabels();
}

void DiagnosisPanel::scheduleFit() {
    if (fitPending_) return;
    fitPending_ = true;
    QTimer::singleShot(0, this, [this] {  // once the layout has the new texts
        fitPending_ = false;
        fitWrappedLabels();
    });
}

void DiagnosisPanel::fitWrappedLabels() {
    for (QLabel* label : {headline_, decompositionNote_, explanation_, remediesTitle_, remedies_}) {
        const int width = label->width();
        if (width <= 0) continue;
        const int height = label->text().isEmpty() ? 0 : label->heightForWidth(width);
        if (height >= 0 && label->minimumHeight() != height) label->setMinimumHeight(height);
    }
}

QString DiagnosisPanel::headline() const { return headline_->text(); }
QString DiagnosisPanel::explanation() const { return explanation_->text(); }
QString DiagnosisPanel::decomposition() const { return decomposition_->text(); }
QString DiagnosisPanel::remedies() const { return remedies_->text(); }
QString DiagnosisPanel::remediesTitle() const { return remediesTitle_->text(); }

std::vector<Remedy> DiagnosisPanel::currentRemedies() const {
    return stored_ ? storedRemedies_ : remediesOf(regime_, algorithm_);
}

void DiagnosisPanel::showRegime() {
    // A diagnosed stored run: its headline and verdict (the retrospective diagnosis), coloured
    // by severity; the live run (and a stored one until its diagnosis comes): the regime.
    const bool diagnosed = stored_ && storedDiagnosed_ && !storedHeadline_.isEmpty();
    QColor color = regime_.isEmpty() ? QColor(Qt::darkGray) : regimeColor(regime_);
    const auto severityColor = [](const QString& severity) {
        return severity == QLatin1String("problem") ? regimeColor(QStringLiteral("both_falling"))
               : severity == QLatin1String("watch") ? QColor(0xb0, 0x80, 0x00)
               : severity == QLatin1String("fine")  ? regimeColor(QStringLiteral("healthy"))
                                                    : QColor(Qt::darkGray);
    };
    const bool live = !diagnosed && !regime_.isEmpty() && !liveHeadline_.isEmpty();
    if (diagnosed) color = severityColor(storedSeverity_);
    else if (live) color = severityColor(liveSeverity_);
    headline_->setText(diagnosed                                ? storedHeadline_
                       : live                                   ? tr("%1 (live at step %2; may be revised as the run goes on)")
                                                                      .arg(liveHeadline_)
                                                                      .arg(liveStep_)
                       : !regime_.isEmpty()                     ? headlineFor(regime_, since_)
                       : isDiagnosing()                         ? tr("Diagnosing the stored run…")
                       : stored_ && !storedVerdict_.isEmpty()   ? storedVerdict_
                                                                : tr("No diagnosis yet: it starts with the preference training"));
    headline_->setStyleSheet(QStringLiteral("color: %1;").arg(color.darker(115).name()));

    // Below the headline: how the run got there (its phases, what the margin is made of, the
    // tracked pairs), then the last phase in words.
    QString card = message_;
    if (diagnosed) {
        QString rest = storedVerdict_;
        if (rest.startsWith(storedHeadline_)) rest = rest.mid(storedHeadline_.size()).trimmed();
        card = rest + (message_.isEmpty() ? QString() : QStringLiteral("\n\n") + tr("Last phase: ") + message_);
    }
    explanation_->setText(card);
    explanation_->setVisible(!card.isEmpty());
    QColor tint = color;
    tint.setAlpha(28);
    explanation_->setStyleSheet(
        QStringLiteral("QLabel#DiagnosisCard { background-color: rgba(%1, %2, %3, %4); "
                       "border-left: 4px solid %5; border-radius: 3px; padding: 6px; }")
            .arg(tint.red())
            .arg(tint.green())
            .arg(tint.blue())
            .arg(tint.alpha())
            .arg(color.name()));

    const std::vector<Remedy> remedies = currentRemedies();
    const QString what = isDiagnosing() ? tr("Diagnosing the run…") : remediesText(remedies);
    remedies_->setText(what);
    // A stored run's remedies are for what it suffered from most, which need not be where it ended.
    remediesTitle_->setText(stored_ && !storedProblem_.isEmpty()
                                ? tr("What usually helps against %1 (this run's main problem)")
                                      .arg(regimeShortLabel(storedProblem_))
                                : tr("What usually helps"));
    // Both: a hidden title would otherwise leave the button alone on the row.
    remediesTitle_->setVisible(!what.isEmpty());
    remedies_->setVisible(!what.isEmpty());
    remedyChoice_->clear();
    for (const Remedy& r : remedies)
        if (r.one_click)
            remedyChoice_->addItem(QString::fromStdString(r.title), QString::fromStdString(r.id));
    remedyChoice_->setVisible(remedyChoice_->count() > 0);
    cloneButton_->setVisible(remedyChoice_->count() > 0);
    scheduleFit();
}

void DiagnosisPanel::updateDecomposition() {
    // A diagnosed stored run: the diagnosis' decomposition (fitted final levels against the
    // reference, or against the run's early level for ORPO, SimPO, CPO), the one its verdict
    // states; live: the smoothed rewards against 0.
    const bool diagnosed = stored_ && storedDiagnosed_ && storedDecomposition_.is_object();
    const auto field = [&](const char* key) {
        return diagnosed && storedDecomposition_.contains(key) && storedDecomposition_[key].is_number()
                   ? storedDecomposition_[key].get<double>()
                   : std::numeric_limits<double>::quiet_NaN();
    };
    const bool early = diagnosed && storedDecomposition_.value("baseline", std::string()) == "early";
    double c = chosen_.get(), r = rejected_.get(), cb = 0.0, rb = 0.0;
    if (diagnosed) {
        cb = std::isfinite(field("chosen_baseline")) ? field("chosen_baseline") : 0.0;
        rb = std::isfinite(field("rejected_baseline")) ? field("rejected_baseline") : 0.0;
        c = field("from_chosen") + cb;
        r = rb - field("from_rejected");
    }
    if (!std::isfinite(c) || !std::isfinite(r)) {
        decomposition_->setText(stored_ && !storedDiagnosed_ ? tr("margin: diagnosing the stored run…")
                                                             : tr("margin: no preference-training rewards yet"));
        if (!decompositionNote_->text().isEmpty()) scheduleFit();
        decompositionNote_->clear();
        decompositionNote_->setVisible(false);
        return;
    }
    const MarginDecomposition d = decompose_margin(c, r, cb, rb);
    decomposition_->setText(
        tr("margin %1 = %2 from chosen %3 + %4 from rejected %5")
            .arg(num(d.margin), num(d.from_chosen),
                 d.from_chosen >= 0.0 ? tr("rising") : tr("falling"), num(d.from_rejected),
                 d.from_rejected >= 0.0 ? tr("falling") : tr("rising")) +
        (early ? tr(" (changes from the run's early level: these rewards have no reference)") : QString()));
    QString note;
    if (d.margin <= 0.0)
        note = tr("The margin is not positive: the policy does not prefer the chosen answers yet.");
    else if (d.from_chosen < 0.0)
        note = tr("The chosen answers lost likelihood: all of the margin comes from pushing the "
                  "rejected ones down, which teaches the model little about what to say.");
    else if (d.from_rejected < 0.0)
        note = tr("The rejected answers gained likelihood too; the margin comes from chosen rising "
                  "faster.");
    else if (std::isfinite(d.share_chosen))
        note = tr("%1% of the margin is the policy raising the chosen answers.")
                   .arg(QString::number(100.0 * d.share_chosen, 'f', 0));
    if (decompositionNote_->text() != note) scheduleFit();  // not on every batch: only a new text re-wraps
    decompositionNote_->setText(note);
    decompositionNote_->setVisible(!note.isEmpty());
}

}  // namespace ps::ui
