// The run log: phase changes, warnings and errors of runs, newest at the bottom.
#pragma once
#include <vector>

#include <QPlainTextEdit>

#include "core/common/run_types.h"

namespace ps::ui {

class EventLog : public QPlainTextEdit {
    Q_OBJECT
public:
    explicit EventLog(QWidget* parent = nullptr);

    void appendEvents(const std::vector<RunEvent>& events);
    // `kind` as in RunEvent: "info", "warning", "error", "phase", "regime".
    void appendMessage(const QString& kind, const QString& message);
};

}  // namespace ps::ui
