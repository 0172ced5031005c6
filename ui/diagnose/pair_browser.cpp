#include "ui/diagnose/pair_browser.h"

#include <cmath>

#include <QCheckBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QSplitter>
#include <QTableWidget>
#include <QTextBrowser>
#include <QVBoxLayout>
#include <qcustomplot.h>

#include "ui/common/format.h"
#include "ui/common/metric_style.h"

namespace ps::ui {

namespace {

constexpr int kPairRole = Qt::UserRole + 1;  // TrackedPair::index, on the first column's item

// One line of a possibly multi-line text, for a table cell.
QString oneLine(const std::string& text) {
    QString s = QString::fromStdString(text);
    s.replace(QLatin1Char('\n'), QStringLiteral(" ⏎ "));
    return s.size() > 80 ? s.left(77) + QStringLiteral("…") : s;
}

constexpr int kValueRole = Qt::UserRole + 2;

// A numeric cell shown with a few digits and sorted by its value; NaN shows empty, sorts last.
class NumberItem : public QTableWidgetItem {
public:
    explicit NumberItem(double v, int digits = 4) {
        setData(kValueRole, v);
        if (std::isfinite(v)) setText(QString::number(v, 'g', digits));
        setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
    }
    bool operator<(const QTableWidgetItem& other) const override {
        const double a = data(kValueRole).toDouble(), b = other.data(kValueRole).toDouble();
        if (std::isnan(a) || std::isnan(b)) return !std::isnan(a) && std::isnan(b);
        return a < b;
    }
};

QTableWidgetItem* numberItem(double v, int digits = 4) { return new NumberItem(v, digits); }

}  // namespace

PairBrowser::PairBrowser(QWidget* parent) : QWidget(parent) {
    setObjectName(QStringLiteral("PairBrowser"));
    summary_ = new QLabel;
    summary_->setTextFormat(Qt::PlainText);
    summary_->setWordWrap(true);
    summary_->setTextInteractionFlags(Qt::TextSelectableByMouse);

    table_ = new QTableWidget(0, kColumnCount);
    table_->setHorizontalHeaderLabels({tr("#"), tr("Prompt"), tr("Chosen"), tr("Rejected"), tr("Δ chosen"),
                                       tr("Δ chosen/token"), tr("Δ rejected"), tr("CHES"), tr("LN-CHES")});
    table_->horizontalHeaderItem(kChosenChange)
        ->setToolTip(tr("Change of log π(chosen | prompt), summed over its tokens, from step 0 to the last eval"));
    table_->horizontalHeaderItem(kChes)->setToolTip(
        tr("Centered hidden embedding similarity of chosen and rejected under the reference model, before "
           "training (Razin et al. 2024): higher means more alike, and such pairs tend to pull chosen down"));
    table_->horizontalHeaderItem(kLnChes)->setToolTip(tr("CHES with each answer's hidden states averaged over its tokens"));
    table_->setSelectionBehavior(QAbstractItemView::SelectRows);
    table_->setSelectionMode(QAbstractItemView::SingleSelection);
    table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
    table_->verticalHeader()->setVisible(false);
    table_->horizontalHeader()->setSectionResizeMode(QHeaderView::Interactive);
    table_->horizontalHeader()->setStretchLastSection(false);
    table_->setSortingEnabled(true);
    connect(table_, &QTableWidget::itemSelectionChanged, this, &PairBrowser::showSelected);

    plot_ = new QCustomPlot;
    plot_->setMinimumSize(240, 150);
    plot_->setAntialiasedElements(QCP::aePlottables);
    plot_->xAxis->setLabel(tr("step"));
    plot_->yAxis->setLabel(tr("log π (summed)"));
    chosenGraph_ = plot_->addGraph();
    chosenGraph_->setName(tr("chosen"));
    chosenGraph_->setPen(QPen(colors::kChosen, 1.8));
    chosenGraph_->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDisc, 5));
    rejectedGraph_ = plot_->addGraph();
    rejectedGraph_->setName(tr("rejected"));
    rejectedGraph_->setPen(QPen(colors::kRejected, 1.8));
    rejectedGraph_->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDisc, 5));
    plot_->legend->setVisible(true);
    plot_->legend->setBrush(QColor(255, 255, 255, 200));

    perToken_ = new QCheckBox(tr("per token"));
    perToken_->setToolTip(tr("Divide each log-prob by its answer's length in tokens"));
    connect(perToken_, &QCheckBox::toggled, this, &PairBrowser::showSelected);

    text_ = new QTextBrowser;
    text_->setOpenLinks(false);
    text_->setMinimumHeight(60);

    auto* right = new QWidget;
    auto* rightLayout = new QVBoxLayout(right);
    rightLayout->setContentsMargins(0, 0, 0, 0);
    rightLayout->addWidget(perToken_);
    rightLayout->addWidget(plot_, 2);
    rightLayout->addWidget(text_, 1);

    auto* splitter = new QSplitter(Qt::Horizontal);
    splitter->addWidget(table_);
    splitter->addWidget(right);
    splitter->setStretchFactor(0, 3);
    splitter->setStretchFactor(1, 2);

    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(summary_);
    layout->addWidget(splitter, 1);
    clear();
}

void PairBrowser::clear(const QString& why) {
    report_ = PairTrackingReport{};
    table_->setSortingEnabled(false);
    table_->setRowCount(0);
    table_->setSortingEnabled(true);
    summary_->setText(why.isEmpty() ? tr("No tracked pairs yet: they are recorded at step 0 and at every eval, and "
                                         "shown here when the run ends or a stored run is opened.")
                                    : why);
    showSelected();
}

void PairBrowser::setReport(const PairTrackingReport& report) {
    report_ = report;
    summary_->setText(QString::fromStdString(report.summary));
    table_->setSortingEnabled(false);
    table_->clearContents();
    table_->setRowCount(int(report.pairs.size()));
    for (int row = 0; row < int(report.pairs.size()); ++row) {
        const PairTrajectory& t = report.pairs[size_t(row)];
        auto* index = numberItem(double(t.pair.index), 10);
        index->setData(kPairRole, qint64(t.pair.index));
        table_->setItem(row, kIndex, index);
        auto* prompt = new QTableWidgetItem(oneLine(t.pair.prompt));
        prompt->setToolTip(plainToolTip(QString::fromStdString(t.pair.prompt)));
        table_->setItem(row, kPrompt, prompt);
        auto* chosen = new QTableWidgetItem(oneLine(t.pair.chosen));
        chosen->setForeground(colors::kChosen.darker(130));
        chosen->setToolTip(plainToolTip(QString::fromStdString(t.pair.chosen)));
        table_->setItem(row, kChosen, chosen);
        auto* rejected = new QTableWidgetItem(oneLine(t.pair.rejected));
        rejected->setForeground(colors::kRejected.darker(120));
        rejected->setToolTip(plainToolTip(QString::fromStdString(t.pair.rejected)));
        table_->setItem(row, kRejected, rejected);
        table_->setItem(row, kChosenChange, numberItem(t.chosen_change));
        table_->setItem(row, kChosenChangePerToken, numberItem(t.chosen_change_per_token));
        table_->setItem(row, kRejectedChange, numberItem(t.rejected_change));
        table_->setItem(row, kChes, numberItem(t.pair.ches));
        table_->setItem(row, kLnChes, numberItem(t.pair.ln_ches));
    }
    // The report's order (largest chosen drop first) is the table's initial order.
    table_->horizontalHeader()->setSortIndicator(-1, Qt::AscendingOrder);
    table_->setSortingEnabled(true);
    table_->resizeColumnsToContents();
    for (int c : {kPrompt, kChosen, kRejected}) table_->setColumnWidth(c, std::min(table_->columnWidth(c), 160));
    if (table_->rowCount() > 0)
        table_->selectRow(0);
    else
        showSelected();
}

QString PairBrowser::summary() const { return summary_->text(); }
QString PairBrowser::pairText() const { return text_->toPlainText(); }

int64_t PairBrowser::selectedPair() const {
    const auto rows = table_->selectionModel()->selectedRows(kIndex);
    if (rows.isEmpty()) return -1;
    return rows.first().data(kPairRole).toLongLong();
}

void PairBrowser::showSelected() {
    chosenGraph_->data()->clear();
    rejectedGraph_->data()->clear();
    const int64_t index = selectedPair();
    const PairTrajectory* t = nullptr;
    for (const PairTrajectory& p : report_.pairs)
        if (p.pair.index == index) t = &p;
    if (!t) {
        text_->clear();
        plot_->replot(QCustomPlot::rpQueuedReplot);
        return;
    }
    const bool perToken = perToken_->isChecked();
    const double nc = perToken ? double(std::max<int64_t>(1, t->pair.chosen_tokens)) : 1.0;
    const double nr = perToken ? double(std::max<int64_t>(1, t->pair.rejected_tokens)) : 1.0;
    for (size_t i = 0; i < t->steps.size(); ++i) {
        chosenGraph_->addData(double(t->steps[i]), t->chosen[i] / nc);
        rejectedGraph_->addData(double(t->steps[i]), t->rejected[i] / nr);
    }
    plot_->yAxis->setLabel(perToken ? tr("log π per token") : tr("log π (summed)"));
    plot_->rescaleAxes();
    const QCPRange y = plot_->yAxis->range();
    const double pad = std::max(1e-3, 0.08 * y.size());
    plot_->yAxis->setRange(y.lower - pad, y.upper + pad);
    const QCPRange x = plot_->xAxis->range();
    plot_->xAxis->setRange(x.lower - 0.5, x.upper + 0.5);
    plot_->replot(QCustomPlot::rpQueuedReplot);

    auto block = [](const QString& title, const std::string& body, const QColor& color) {
        return QStringLiteral("<p><b style=\"color:%1\">%2</b><br/>%3</p>")
            .arg(color.name(), title, QString::fromStdString(body).toHtmlEscaped().replace('\n', "<br/>"));
    };
    text_->setHtml(
        QStringLiteral("<p>%1</p>")
            .arg(tr("Pair %1 (%2 pair %3): chosen %4 tokens, rejected %5 tokens")
                     .arg(t->pair.index)
                     .arg(QString::fromStdString(t->pair.split))
                     .arg(t->pair.split_index)
                     .arg(t->pair.chosen_tokens)
                     .arg(t->pair.rejected_tokens)) +
        block(tr("Prompt"), t->pair.prompt, palette().color(QPalette::WindowText)) +
        block(tr("Chosen"), t->pair.chosen, colors::kChosen.darker(130)) +
        block(tr("Rejected"), t->pair.rejected, colors::kRejected.darker(120)));
    emit pairSelected(qint64(index));
}

}  // namespace ps::ui
