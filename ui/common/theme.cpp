#include "ui/common/theme.h"

#include <QApplication>
#include <QPalette>
#include <QProcess>
#include <QStandardPaths>
#include <QStyle>
#include <QStyleFactory>
#include <qcustomplot.h>

namespace ps::ui {

namespace {

QPalette darkPalette() {
    QPalette p;
    const QColor window(0x2b, 0x2d, 0x30), base(0x1e, 0x1f, 0x22), text(0xe6, 0xe6, 0xe6);
    p.setColor(QPalette::Window, window);
    p.setColor(QPalette::WindowText, text);
    p.setColor(QPalette::Base, base);
    p.setColor(QPalette::AlternateBase, window);
    p.setColor(QPalette::ToolTipBase, base);
    p.setColor(QPalette::ToolTipText, text);
    p.setColor(QPalette::PlaceholderText, QColor(0x8a, 0x8a, 0x8a));
    p.setColor(QPalette::Text, text);
    p.setColor(QPalette::Button, window);
    p.setColor(QPalette::ButtonText, text);
    p.setColor(QPalette::BrightText, Qt::red);
    p.setColor(QPalette::Link, QColor(0x6a, 0xb0, 0xff));
    p.setColor(QPalette::Highlight, QColor(0x2f, 0x65, 0xca));
    p.setColor(QPalette::HighlightedText, Qt::white);
    p.setColor(QPalette::Mid, QColor(0x90, 0x90, 0x90));
    p.setColor(QPalette::Dark, QColor(0x18, 0x18, 0x18));
    for (auto role : {QPalette::WindowText, QPalette::Text, QPalette::ButtonText})
        p.setColor(QPalette::Disabled, role, QColor(0x80, 0x80, 0x80));
    return p;
}

bool isDark(const QPalette& p) { return p.color(QPalette::Window).lightness() < 128; }

QPalette& platformPalette() {
    static QPalette palette = QApplication::palette();  // before we change anything
    return palette;
}

}  // namespace

ThemeMode themeModeFromString(const QString& name) {
    if (name.compare(QLatin1String("dark"), Qt::CaseInsensitive) == 0) return ThemeMode::Dark;
    if (name.compare(QLatin1String("light"), Qt::CaseInsensitive) == 0) return ThemeMode::Light;
    return ThemeMode::System;
}

QString themeModeName(ThemeMode mode) {
    switch (mode) {
        case ThemeMode::Dark: return QStringLiteral("dark");
        case ThemeMode::Light: return QStringLiteral("light");
        case ThemeMode::System: break;
    }
    return QStringLiteral("system");
}

bool systemPrefersDark() {
    static const bool dark = [] {
        if (isDark(platformPalette())) return true;
        const QByteArray gtk = qgetenv("GTK_THEME");
        if (gtk.toLower().endsWith(":dark")) return true;
        // GNOME (and others reading its settings) store the user's choice here.
        const QString gsettings = QStandardPaths::findExecutable(QStringLiteral("gsettings"));
        if (gsettings.isEmpty()) return false;
        QProcess process;
        process.start(gsettings, {QStringLiteral("get"), QStringLiteral("org.gnome.desktop.interface"),
                                  QStringLiteral("color-scheme")});
        if (!process.waitForFinished(1500)) {
            process.kill();
            return false;
        }
        return process.readAllStandardOutput().contains("prefer-dark");
    }();
    return dark;
}

void applyTheme(ThemeMode mode) {
    QPalette& platform = platformPalette();
    const bool dark = mode == ThemeMode::Dark || (mode == ThemeMode::System && systemPrefersDark());
    if (dark) {
        if (mode == ThemeMode::System && isDark(platform)) {
            QApplication::setPalette(platform);  // the desktop's own dark palette
        } else {
            QApplication::setStyle(QStyleFactory::create(QStringLiteral("Fusion")));
            QApplication::setPalette(darkPalette());
        }
    } else if (mode == ThemeMode::Light && isDark(platform)) {
        QApplication::setStyle(QStyleFactory::create(QStringLiteral("Fusion")));
        QApplication::setPalette(QApplication::style()->standardPalette());
    } else {
        QApplication::setPalette(platform);
    }
}

bool paletteIsDark() { return isDark(QApplication::palette()); }

void applyPlotTheme(QCustomPlot* plot) {
    // The application's palette, not plot->palette(): a view calls this from its own
    // PaletteChange, which Qt sends before the child plot resolves the new palette (the plots
    // then lagged one theme switch behind, issue #19).
    const QPalette p = QApplication::palette(plot);
    const QColor background = p.color(QPalette::Base);
    const QColor text = p.color(QPalette::WindowText);
    const bool dark = isDark(p);
    QColor axis = text;
    axis.setAlpha(200);
    const QColor grid = dark ? QColor(255, 255, 255, 40) : QColor(0, 0, 0, 30);
    plot->setBackground(background);
    for (QCPAxisRect* rect : plot->axisRects()) {
        // No axis-rect background: it would paint over the regime bands' layer.
        for (QCPAxis* a : rect->axes()) {
            a->setBasePen(QPen(axis));
            a->setTickPen(QPen(axis));
            a->setSubTickPen(QPen(axis));
            a->setTickLabelColor(text);
            a->setLabelColor(text);
            a->grid()->setPen(QPen(grid, 1, Qt::DotLine));
            a->grid()->setZeroLinePen(Qt::NoPen);
        }
    }
    for (int i = 0; i < plot->plotLayout()->elementCount(); ++i) {
        // Titles and legends sit in nested grids.
        QList<QCPLayoutElement*> stack{plot->plotLayout()->elementAt(i)};
        while (!stack.isEmpty()) {
            QCPLayoutElement* e = stack.takeLast();
            if (!e) continue;
            if (auto* title = qobject_cast<QCPTextElement*>(e)) title->setTextColor(text);
            if (auto* legend = qobject_cast<QCPLegend*>(e)) {
                legend->setTextColor(text);
                legend->setBrush(Qt::NoBrush);
            }
            for (QCPLayoutElement* child : e->elements(false)) stack.push_back(child);
        }
    }
    // Items with a white label box (crosshair read-outs) follow the tooltip colours.
    for (int i = 0; i < plot->itemCount(); ++i) {
        if (auto* label = qobject_cast<QCPItemText*>(plot->item(i))) {
            if (label->brush().style() == Qt::NoBrush) continue;  // coloured on purpose (bands)
            QColor box = p.color(QPalette::ToolTipBase);
            box.setAlpha(235);
            label->setBrush(box);
            label->setColor(p.color(QPalette::ToolTipText));
        }
    }
    plot->replot(QCustomPlot::rpQueuedReplot);
}

}  // namespace ps::ui
