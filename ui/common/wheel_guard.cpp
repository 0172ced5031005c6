#include "ui/common/wheel_guard.h"

#include <QAbstractSlider>
#include <QAbstractSpinBox>
#include <QApplication>
#include <QComboBox>
#include <QEvent>
#include <QScrollBar>
#include <QWidget>

namespace ps::ui {

bool WheelGuard::guards(const QObject* watched) {
    if (!watched || !watched->isWidgetType()) return false;
    if (qobject_cast<const QScrollBar*>(watched)) return false;  // scrolling is what the wheel is for
    return qobject_cast<const QAbstractSpinBox*>(watched) || qobject_cast<const QComboBox*>(watched) ||
           qobject_cast<const QAbstractSlider*>(watched);
}

bool WheelGuard::eventFilter(QObject* watched, QEvent* event) {
    if (event->type() == QEvent::Polish && guards(watched)) {
        // Qt gives a WheelFocus widget the focus before delivering the wheel event (the filter
        // below would then let it through): such fields take focus by click and Tab only.
        auto* w = static_cast<QWidget*>(watched);
        if ((w->focusPolicy() & Qt::WheelFocus) == Qt::WheelFocus) w->setFocusPolicy(Qt::StrongFocus);
    }
    if (event->type() == QEvent::Wheel && guards(watched) && !static_cast<QWidget*>(watched)->hasFocus()) {
        // Ignored, not accepted: QApplication then hands the event to the parent widgets, up to
        // the scroll area, which scrolls.
        event->ignore();
        return true;
    }
    return QObject::eventFilter(watched, event);
}

void installWheelGuard() {
    if (!qApp || qApp->findChild<QObject*>(QStringLiteral("ps-wheel-guard"), Qt::FindDirectChildrenOnly)) return;
    auto* guard = new WheelGuard(qApp);
    guard->setObjectName(QStringLiteral("ps-wheel-guard"));
    qApp->installEventFilter(guard);
}

}  // namespace ps::ui
