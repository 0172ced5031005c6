// A run's diagnosed regimes as a horizontal strip over the step axis: one coloured segment per
// stretch (healthy green, both falling red, ..., warming up grey; ui/common/metric_style), its
// name inside when it fits, and a tooltip with the steps and the phase's explanation.
// Fed with the engine's "regime" RunEvents (data: "from", "to", "since_step") and the metric
// stream (the open stretch grows with the newest preference-training step).
#pragma once
#include <cstdint>
#include <vector>

#include <QString>
#include <QStringList>
#include <QWidget>

#include "core/common/run_types.h"

namespace ps::ui {

class RegimeTimeline : public QWidget {
    Q_OBJECT
public:
    struct Segment {
        QString regime;     // "both_falling", ...
        int64_t start = 0;  // first step (the change's since_step)
        int64_t end = 0;    // last step, inclusive
        bool open = true;   // the current regime: `end` follows the newest step
        QString message;    // the change's explanation
    };

    explicit RegimeTimeline(QWidget* parent = nullptr);

    void clear();
    // Takes the "regime" events of a batch; others are ignored.
    void addEvents(const std::vector<RunEvent>& events);
    // The segments replaced by these changes, the steps seen so far kept (a stored run's
    // retrospective phases once it is diagnosed replace its live regime events).
    void replaceEvents(const std::vector<RunEvent>& events);
    // Preference-training records (SFT-only records are ignored) extend the axis and the open
    // segment.
    void appendMetrics(const std::vector<StepMetrics>& batch);

    const std::vector<Segment>& segments() const { return segments_; }
    int64_t firstStep() const;  // left end of the axis (1 before any segment)
    int64_t lastStep() const;   // right end of the axis
    // Pixel extent of segment `index` in the widget (empty when out of range).
    QRect segmentRect(int index) const;
    // The tooltip text at a point of the widget ("" between segments).
    QString toolTipAt(const QPoint& pos) const;
    // The labels a stretch of `regime` may carry, longest first (the first that fits is drawn).
    static QStringList segmentLabels(const QString& regime);

    QSize sizeHint() const override;
    QSize minimumSizeHint() const override;

protected:
    void paintEvent(QPaintEvent* event) override;
    bool event(QEvent* event) override;

private:
    QRect stripRect() const;
    double xOf(double step) const;

    std::vector<Segment> segments_;
    int64_t lastStep_ = 0;
};

}  // namespace ps::ui
