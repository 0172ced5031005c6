// Keeps the mouse wheel from changing a value field (spin box, combo box, slider) that has no
// keyboard focus (issue #19): the wheel event is ignored there, so it goes on to the scroll area
// behind and the form scrolls. A focused field still takes the wheel. Scroll bars and plots are
// left alone. One filter for the whole studio: install it on the application (installWheelGuard)
// or on single editors.
#pragma once
#include <QObject>

namespace ps::ui {

class WheelGuard : public QObject {
public:
    using QObject::QObject;
    // Whether `watched` is a value field the wheel must not change while it lacks focus.
    static bool guards(const QObject* watched);

protected:
    bool eventFilter(QObject* watched, QEvent* event) override;
};

// Installs one WheelGuard on the application (idempotent); it lives as long as the application.
void installWheelGuard();

}  // namespace ps::ui
