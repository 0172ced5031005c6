#include "ui/live/event_log.h"

#include <QDateTime>
#include <QFontDatabase>

#include "ui/common/metric_style.h"

namespace ps::ui {

EventLog::EventLog(QWidget* parent) : QPlainTextEdit(parent) {
    setReadOnly(true);
    setMaximumBlockCount(5000);  // a long run must not grow the log without bound
    setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
    setPlaceholderText(tr("Run events (phases, warnings, errors) appear here."));
}

void EventLog::appendEvents(const std::vector<RunEvent>& events) {
    for (const RunEvent& e : events) {
        QString text = QString::fromStdString(e.message);
        if (e.step > 0) text = tr("step %1: %2").arg(e.step).arg(text);
        appendMessage(QString::fromStdString(e.kind), text);
    }
}

void EventLog::appendMessage(const QString& kind, const QString& message) {
    QString color = QStringLiteral("#333333");
    if (kind == QLatin1String("error")) color = colors::kRejected.name();
    else if (kind == QLatin1String("warning") || kind == QLatin1String("regime"))
        color = colors::kNeutral.darker(120).name();
    else if (kind == QLatin1String("phase")) color = colors::kMargin.name();
    const QString time = QTime::currentTime().toString(QStringLiteral("HH:mm:ss"));
    appendHtml(QStringLiteral("<span style=\"color:#888\">%1</span> <span style=\"color:%2\">"
                              "<b>%3</b> %4</span>")
                   .arg(time, color, kind.toHtmlEscaped(), message.toHtmlEscaped()));
}

}  // namespace ps::ui
