// prefstudio: the desktop studio. `prefstudio [--demo] [CONFIG.json] [--db FILE]`
#include <cstdio>

#include <QApplication>
#include <QTabWidget>
#include <QDockWidget>
#include <QCommandLineParser>
#include <QDir>
#include <QFileInfo>
#include <QSettings>
#include <QTimer>

#include "ui/common/theme.h"
#include "ui/live/diagnosis_panel.h"
#include "ui/main_window.h"
#include "ui/samples/samples_panel.h"
#include "core/store/run_store.h"

#ifndef PREFSTUDIO_SOURCE_DIR
#define PREFSTUDIO_SOURCE_DIR ""
#endif

namespace {

const QString kDemoConfig = QStringLiteral("experiments/demo-dpo.json");

// The demo config: next to the current directory first, then next to the executable or any
// of its parents (build trees and installs), then in the source tree this was built from.
QString findDemoConfig() {
    if (QFileInfo::exists(kDemoConfig)) return QFileInfo(kDemoConfig).absoluteFilePath();
    for (QDir dir(QCoreApplication::applicationDirPath());; ) {
        const QString candidate = dir.filePath(kDemoConfig);
        if (QFileInfo::exists(candidate)) return QFileInfo(candidate).absoluteFilePath();
        if (!dir.cdUp()) break;
    }
    const QString source = QString::fromUtf8(PREFSTUDIO_SOURCE_DIR);
    if (!source.isEmpty() && QFileInfo::exists(QDir(source).filePath(kDemoConfig)))
        return QDir(source).filePath(kDemoConfig);
    return QString();
}

int usageError(const QString& message) {
    std::fprintf(stderr, "prefstudio: %s\n", qPrintable(message));
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    QApplication app(argc, argv);
    QApplication::setApplicationName(QStringLiteral("PrefStudio"));
    QApplication::setOrganizationName(QStringLiteral("PrefStudio"));
    QApplication::setApplicationVersion(QStringLiteral(PREFSTUDIO_VERSION));
    QApplication::setDesktopFileName(QStringLiteral("prefstudio"));
    QApplication::setWindowIcon(ps::ui::applicationIcon());
    // PREFSTUDIO_THEME=light|dark|system overrides the remembered View > Theme choice.
    {
        QString theme = QString::fromLocal8Bit(qgetenv("PREFSTUDIO_THEME"));
        if (theme.isEmpty())
            theme = QSettings(QStringLiteral("PrefStudio"), QStringLiteral("PrefStudio"))
                        .value(QStringLiteral("view/theme"), QStringLiteral("system"))
                        .toString();
        ps::ui::applyTheme(ps::ui::themeModeFromString(theme));
    }

    QCommandLineParser parser;
    parser.setApplicationDescription(
        QStringLiteral("PrefStudio: preference optimisation (DPO, KTO, ORPO, SimPO) of language "
                       "models, with chosen and rejected rewards plotted live."));
    const QCommandLineOption helpOption = parser.addHelpOption();
    const QCommandLineOption versionOption = parser.addVersionOption();
    const QCommandLineOption demoOption(
        QStringLiteral("demo"), QStringLiteral("Open the built-in demo experiment (%1).").arg(kDemoConfig));
    const QCommandLineOption dbOption(
        QStringLiteral("db"),
        QStringLiteral("Run store to use (default: %1).")
            .arg(QString::fromStdString(ps::RunStore::default_path())),
        QStringLiteral("FILE"));
    // For scripted screenshots and checks: start the run at once, optionally quit when it ends.
    QCommandLineOption autorunOption(QStringLiteral("autorun"),
                                     QStringLiteral("Start the run as soon as the window is up."));
    autorunOption.setFlags(QCommandLineOption::HiddenFromHelp);
    QCommandLineOption quitOption(QStringLiteral("quit-when-done"),
                                  QStringLiteral("Quit when the run ends."));
    quitOption.setFlags(QCommandLineOption::HiddenFromHelp);
    QCommandLineOption screenshotOption(QStringLiteral("screenshot"),
                                        QStringLiteral("Save the window as PNG when the run ends."),
                                        QStringLiteral("FILE"));
    screenshotOption.setFlags(QCommandLineOption::HiddenFromHelp);
    QCommandLineOption samplesShotOption(
        QStringLiteral("samples-screenshot"),
        QStringLiteral("When the run ends, answer its first eval prompts in the Samples tab, save the window as PNG and quit."),
        QStringLiteral("FILE"));
    samplesShotOption.setFlags(QCommandLineOption::HiddenFromHelp);
    QCommandLineOption tabShotsOption(
        QStringLiteral("tab-screenshots"),
        QStringLiteral("When the run ends, save the window with each bottom tab in front as PREFIX-<tab>.png and quit."),
        QStringLiteral("PREFIX"));
    tabShotsOption.setFlags(QCommandLineOption::HiddenFromHelp);
    const QCommandLineOption followOption(
        QStringLiteral("follow"),
        QStringLiteral("Follow a run another tool is training (its output folder or log file: TensorBoard events, "
                       "trainer_state.json, trainer_log.jsonl, a console log) in the live monitor."),
        QStringLiteral("PATH"));
    parser.addOptions({demoOption, dbOption, autorunOption, quitOption, screenshotOption, samplesShotOption,
                       tabShotsOption, followOption});
    parser.addPositionalArgument(QStringLiteral("CONFIG.json"),
                                 QStringLiteral("Run config to open (as written by File > Save)."),
                                 QStringLiteral("[CONFIG.json]"));

    if (!parser.parse(QApplication::arguments())) return usageError(parser.errorText());
    if (parser.isSet(helpOption)) parser.showHelp(0);
    if (parser.isSet(versionOption)) parser.showVersion();
    const QStringList positional = parser.positionalArguments();
    if (positional.size() > 1) return usageError(QStringLiteral("expected at most one CONFIG.json"));
    if (parser.isSet(demoOption) && !positional.isEmpty())
        return usageError(QStringLiteral("give either --demo or a CONFIG.json, not both"));

    // Started bare: reopen the store and experiment of the last session (QSettings).
    const bool bare = !parser.isSet(dbOption) && !parser.isSet(demoOption) && positional.isEmpty();
    QString storePath = parser.isSet(dbOption) ? parser.value(dbOption) : QString();
    if (bare) storePath = ps::ui::MainWindow::rememberedStorePath();
    if (storePath.isEmpty()) storePath = QString::fromStdString(ps::RunStore::default_path());

    ps::ui::MainWindow window(storePath);  // restores the window geometry and dock layout
    window.setDemoPath(findDemoConfig());  // the first-start screen offers it
    if (bare) {
        const QString experiment = ps::ui::MainWindow::rememberedExperimentPath();
        if (!experiment.isEmpty()) window.loadExperiment(experiment);
    } else if (parser.isSet(demoOption)) {
        const QString demo = findDemoConfig();
        if (demo.isEmpty())
            window.reportProblem(
                QStringLiteral("Demo config %1 not found in the current directory or next to the "
                               "program; open an experiment with File > Open.")
                    .arg(kDemoConfig));
        else
            window.loadDemo(demo);
    } else if (!positional.isEmpty()) {
        window.loadExperiment(positional.first());
    }
    window.show();

    // Connected before --quit-when-done so the picture is taken before the application exits.
    if (parser.isSet(screenshotOption))
        QObject::connect(&window, &ps::ui::MainWindow::runSettled, &window,
                         [&window, file = parser.value(screenshotOption)](ps::RunStatus) {
                             if (!window.grab().save(file))
                                 std::fprintf(stderr, "prefstudio: cannot write screenshot %s\n", qPrintable(file));
                         });
    if (parser.isSet(samplesShotOption)) {
        ps::ui::SamplesPanel* panel = window.samplesPanel();
        QObject::connect(&window, &ps::ui::MainWindow::runFinished, panel, [&window, panel](ps::RunStatus) {
            window.bottomTabs()->setCurrentWidget(panel);
            for (QDockWidget* dock : window.findChildren<QDockWidget*>())
                if (dock->objectName() == QLatin1String("RunsDock")) window.resizeDocks({dock}, {420}, Qt::Vertical);
            ps::ui::SamplesPanel::Settings s;
            s.max_new_tokens = 8;
            panel->setSettings(s);
            panel->loadEvalPrompts(6);
        });
        QObject::connect(panel, &ps::ui::SamplesPanel::promptsLoaded, panel, [panel] {
            if (!panel->generate()) QApplication::exit(1);
        });
        QObject::connect(panel, &ps::ui::SamplesPanel::generationFinished, &window,
                         [&window, file = parser.value(samplesShotOption)](bool completed) {
                             const bool saved = window.grab().save(file);
                             if (!saved) std::fprintf(stderr, "prefstudio: cannot write screenshot %s\n", qPrintable(file));
                             QApplication::exit(completed && saved ? 0 : 1);
                         });
    }
    if (parser.isSet(tabShotsOption))
        QObject::connect(&window, &ps::ui::MainWindow::runSettled, &window,
                         [&window, prefix = parser.value(tabShotsOption)](ps::RunStatus) {
                             // Once the stored run's diagnosis is in (it is made on a worker after the run
                             // ends): checked every 100 ms, for 30 s at most.
                             auto* poll = new QTimer(&window);
                             poll->setInterval(100);
                             QObject::connect(poll, &QTimer::timeout, &window, [&window, prefix, poll, ticks = 0]() mutable {
                                 if (window.diagnosisPanel()->isDiagnosing() && ++ticks < 300) return;
                                 poll->stop();
                                 QTabWidget* tabs = window.bottomTabs();
                                 bool saved = true;
                                 for (int i = 0; i < tabs->count(); ++i) {
                                     tabs->setCurrentIndex(i);
                                     QApplication::processEvents();
                                     const QString file = prefix + QLatin1Char('-') + tabs->tabText(i).toLower().remove(QLatin1Char('&')) +
                                                          QStringLiteral(".png");
                                     if (!window.grab().save(file)) {
                                         std::fprintf(stderr, "prefstudio: cannot write screenshot %s\n", qPrintable(file));
                                         saved = false;
                                     }
                                 }
                                 QApplication::exit(saved ? 0 : 1);
                             });
                             poll->start();
                         });
    if (parser.isSet(quitOption))
        QObject::connect(&window, &ps::ui::MainWindow::runSettled, &app,
                         [](ps::RunStatus status) {
                             QApplication::exit(status == ps::RunStatus::Failed ? 1 : 0);
                         });
    if (parser.isSet(followOption)) {
        QTimer::singleShot(0, &window, [&window, path = parser.value(followOption), quit = parser.isSet(quitOption)] {
            // Several runs in the folder: the first (the studio asks only when run by hand).
            if (!window.followRun(path, 0) && quit) QApplication::exit(1);
        });
    }
    if (parser.isSet(autorunOption)) {
        QTimer::singleShot(0, &window, [&window, quit = parser.isSet(quitOption)] {
            window.startRun();
            if (quit && !window.isRunning()) QApplication::exit(1);  // nothing to wait for
        });
    }
    return app.exec();
}
