#include "ui/data/dataset_page.h"

#include <algorithm>
#include <cmath>

#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QListWidget>
#include <QSplitter>
#include <QTableWidget>
#include <QTextCursor>
#include <QTextEdit>
#include <QVBoxLayout>

#include <qcustomplot.h>

#include "core/text/byte_tokenizer.h"

namespace ps::ui {
namespace {

QString q(const std::string& s) { return QString::fromStdString(s); }

QString percent(size_t part, size_t whole) {
    return whole ? QString::number(100.0 * static_cast<double>(part) / static_cast<double>(whole), 'f', 1) + "%" : "-";
}

QString lengthsLine(const char* name, const std::vector<uint32_t>& v) {
    const LengthPercentiles p = length_percentiles(v);
    if (p.count == 0) return QString("<tr><td>%1</td><td colspan=6>none</td></tr>").arg(name);
    return QString("<tr><td>%1</td><td align=right>%2</td><td align=right>%3</td><td align=right>%4</td>"
                   "<td align=right>%5</td><td align=right>%6</td><td align=right>%7</td></tr>")
        .arg(name)
        .arg(p.count)
        .arg(p.mean, 0, 'f', 1)
        .arg(p.p50)
        .arg(p.p90)
        .arg(p.p99)
        .arg(p.max);
}

// One line of a cell: newlines shown as a visible mark so rows stay one line high.
QString cellText(const std::string& s) {
    QString t = q(s.size() > 400 ? s.substr(0, 400) + "..." : s);
    t.replace('\n', QString::fromUtf8(" \u21b5 "));
    return t;
}

// Text with the bytes [begin, end) highlighted (UTF-8 offsets from diff_span).
void setHighlighted(QTextEdit* view, const std::string& text, size_t begin, size_t end, const QColor& color) {
    view->clear();
    QTextCursor c(view->document());
    QTextCharFormat plain;
    QTextCharFormat marked;
    marked.setBackground(color);
    c.insertText(q(text.substr(0, begin)), plain);
    c.insertText(q(text.substr(begin, end - begin)), marked);
    c.insertText(q(text.substr(end)), plain);
    view->moveCursor(QTextCursor::Start);
}

}  // namespace

DatasetPage::DatasetPage(QWidget* parent) : QWidget(parent) {
    summaryLabel_ = new QLabel(tr("No dataset loaded."), this);
    summaryLabel_->setTextFormat(Qt::RichText);
    summaryLabel_->setWordWrap(true);
    summaryLabel_->setTextInteractionFlags(Qt::TextSelectableByMouse);

    histogram_ = new QCustomPlot(this);
    histogram_->setMinimumHeight(180);
    histogram_->xAxis->setLabel(tr("tokens (before truncation)"));
    histogram_->yAxis->setLabel(tr("examples"));
    histogram_->legend->setVisible(true);
    histogram_->axisRect()->insetLayout()->setInsetAlignment(0, Qt::AlignTop | Qt::AlignRight);

    problems_ = new QListWidget(this);
    problems_->setMaximumHeight(110);

    table_ = new QTableWidget(this);
    table_->setSelectionBehavior(QAbstractItemView::SelectRows);
    table_->setSelectionMode(QAbstractItemView::SingleSelection);
    table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
    table_->verticalHeader()->setVisible(false);
    table_->setWordWrap(false);
    connect(table_, &QTableWidget::currentCellChanged, this, [this](int row, int, int, int) { showExample(row); });

    auto makeView = [this](const QString& placeholder) {
        auto* v = new QTextEdit(this);
        v->setReadOnly(true);
        v->setPlaceholderText(placeholder);
        return v;
    };
    promptView_ = makeView(tr("Prompt, as the model sees it (rendered with the template)"));
    chosenView_ = makeView(tr("Chosen"));
    rejectedView_ = makeView(tr("Rejected"));
    auto* answers = new QSplitter(Qt::Horizontal, this);
    answers->addWidget(chosenView_);
    answers->addWidget(rejectedView_);
    auto* detail = new QSplitter(Qt::Vertical, this);
    detail->addWidget(promptView_);
    detail->addWidget(answers);

    auto* top = new QWidget(this);
    auto* topLayout = new QHBoxLayout(top);
    topLayout->setContentsMargins(0, 0, 0, 0);
    topLayout->addWidget(summaryLabel_, 2);
    topLayout->addWidget(histogram_, 3);

    auto* split = new QSplitter(Qt::Vertical, this);
    split->addWidget(top);
    split->addWidget(problems_);
    split->addWidget(table_);
    split->addWidget(detail);
    split->setStretchFactor(2, 2);
    split->setStretchFactor(3, 2);
    auto* layout = new QVBoxLayout(this);
    layout->addWidget(split);
}

void DatasetPage::load(const QString& path, SummaryOptions options) {
    if (options.keep_examples <= 3) options.keep_examples = kDefaultKeptExamples;
    ByteTokenizer tokenizer;
    showSummary(summarize_dataset(path.toStdString(), tokenizer, options));
}

void DatasetPage::showSummary(const DatasetSummary& summary) {
    summary_ = summary;
    fillSummary();
    fillHistogram();
    fillTable();
    if (table_->rowCount() > 0) selectExample(0);
}

void DatasetPage::showError(const QString& message) {
    summary_ = DatasetSummary{};
    fillHistogram();
    fillTable();
    summaryLabel_->setText(QStringLiteral("<span style='color:#c62828'><b>%1</b></span>")
                               .arg(message.toHtmlEscaped()));
}

void DatasetPage::fillSummary() {
    const auto& s = summary_;
    const QString unit = s.unpaired ? tr("examples") : tr("pairs");
    QString html = QString("<b>%1</b><br>").arg(q(s.path).toHtmlEscaped());
    html += tr("Format <b>%1</b> (%2), %3 records; template <b>%4</b>, tokenizer %5.<br>")
                .arg(s.format.empty() ? tr("unknown") : q(s.format).toHtmlEscaped(),
                     s.json_array ? tr("JSON array") : tr("JSON Lines"))
                .arg(s.records)
                .arg(q(s.template_name).toHtmlEscaped(), q(s.tokenizer).toHtmlEscaped());
    html += tr("%1 valid %2: <b>%3 kept</b>, %4 dropped (prompt over max_prompt_length %5), %6 invalid.<br>")
                .arg(s.examples)
                .arg(unit)
                .arg(s.fit.kept)
                .arg(s.fit.dropped_prompt_too_long)
                .arg(s.limits.max_prompt_length)
                .arg(s.records - s.examples);
    html += tr("Truncated: %1 prompts (%2), %3 with a completion cut to max_length %4.<br>")
                .arg(s.fit.truncated_prompts)
                .arg(q(ps::choice_name(s.limits.mode)))
                .arg(s.fit.truncated_completions)
                .arg(s.limits.max_length);
    if (s.unpaired) {
        html += tr("Labels: %1 desirable, %2 undesirable.<br>").arg(s.desirable).arg(s.undesirable);
    } else if (s.examples > 0) {
        const size_t n = s.chosen_longer + s.rejected_longer + s.same_length;
        html += tr("Length bias: chosen longer than rejected in <b>%1</b> of pairs (rejected longer %2, same %3).<br>")
                    .arg(percent(s.chosen_longer, n), percent(s.rejected_longer, n), percent(s.same_length, n));
    }
    html += "<table cellspacing=4><tr><th></th><th>count</th><th>mean</th><th>p50</th><th>p90</th><th>p99</th><th>max</th></tr>";
    html += lengthsLine("prompt", s.prompt_lengths);
    html += lengthsLine(s.unpaired ? "desirable" : "chosen", s.chosen_lengths);
    html += lengthsLine(s.unpaired ? "undesirable" : "rejected", s.rejected_lengths);
    html += "</table>";
    summaryLabel_->setText(html);

    problems_->clear();
    for (const auto& e : s.errors) {
        auto* item = new QListWidgetItem(tr("error: %1").arg(q(e.text(s.path))), problems_);
        item->setForeground(QColor(0xC6, 0x28, 0x28));
    }
    for (const auto& w : s.warnings) {
        auto* item = new QListWidgetItem(tr("warning: %1").arg(q(w.message)), problems_);
        item->setForeground(QColor(0xB2, 0x6A, 0x00));
    }
    if (s.errors.empty() && s.warnings.empty()) new QListWidgetItem(tr("No problems found."), problems_);
}

void DatasetPage::fillHistogram() {
    histogram_->clearGraphs();
    const auto& s = summary_;
    uint32_t hi = 1;
    for (const auto* v : {&s.prompt_lengths, &s.chosen_lengths, &s.rejected_lengths})
        if (!v->empty()) hi = std::max(hi, *std::max_element(v->begin(), v->end()));
    const double width = std::max(1.0, std::ceil(static_cast<double>(hi + 1) / kHistogramBins));
    struct Series {
        const std::vector<uint32_t>* values;
        QString name;
        QColor color;
    };
    const Series series[] = {{&s.prompt_lengths, tr("prompt"), QColor(0x75, 0x75, 0x75)},
                             {&s.chosen_lengths, s.unpaired ? tr("desirable") : tr("chosen"), QColor(0x2E, 0x7D, 0x32)},
                             {&s.rejected_lengths, s.unpaired ? tr("undesirable") : tr("rejected"), QColor(0xC6, 0x28, 0x28)}};
    double top = 1;
    for (const auto& se : series) {
        QVector<double> x(kHistogramBins), y(kHistogramBins, 0.0);
        for (int b = 0; b < kHistogramBins; ++b) x[b] = (b + 0.5) * width;
        for (uint32_t v : *se.values) y[std::min(kHistogramBins - 1, static_cast<int>(v / width))] += 1;
        for (double c : y) top = std::max(top, c);
        auto* g = histogram_->addGraph();
        g->setName(se.name);
        g->setLineStyle(QCPGraph::lsStepCenter);
        g->setPen(QPen(se.color, 1.5));
        QColor fill = se.color;
        fill.setAlpha(40);
        g->setBrush(fill);
        g->setData(x, y, true);
    }
    histogram_->xAxis->setRange(0, width * kHistogramBins);
    histogram_->yAxis->setRange(0, top * 1.08);
    histogram_->replot();
}

void DatasetPage::fillTable() {
    const auto& s = summary_;
    table_->clear();
    table_->setRowCount(static_cast<int>(s.preview.size()));
    const QStringList headers = s.unpaired
                                    ? QStringList{tr(s.json_array ? "record" : "line"), tr("prompt"), tr("completion"), tr("label"), tr("tokens")}
                                    : QStringList{tr(s.json_array ? "record" : "line"), tr("prompt"), tr("chosen"), tr("rejected"), tr("tokens p / c / r")};
    table_->setColumnCount(headers.size());
    table_->setHorizontalHeaderLabels(headers);
    for (int r = 0; r < static_cast<int>(s.preview.size()); ++r) {
        const auto& e = s.preview[static_cast<size_t>(r)];
        auto set = [&](int col, const QString& text) { table_->setItem(r, col, new QTableWidgetItem(text)); };
        set(0, QString::number(e.source_line));
        set(1, cellText(e.prompt));
        set(2, cellText(e.chosen));
        if (s.unpaired) {
            set(3, e.desirable ? tr("desirable") : tr("undesirable"));
            set(4, QString("%1 / %2").arg(e.prompt_tokens).arg(e.chosen_tokens));
        } else {
            set(3, cellText(e.rejected));
            set(4, QString("%1 / %2 / %3").arg(e.prompt_tokens).arg(e.chosen_tokens).arg(e.rejected_tokens));
        }
        if (e.dropped)
            for (int c = 0; c < headers.size(); ++c) table_->item(r, c)->setForeground(Qt::gray);
    }
    table_->horizontalHeader()->setSectionResizeMode(QHeaderView::Interactive);
    table_->horizontalHeader()->setStretchLastSection(false);
    table_->setColumnWidth(0, 60);
    for (int c = 1; c <= 3; ++c) table_->setColumnWidth(c, 260);
}

void DatasetPage::selectExample(int row) {
    if (row < 0 || row >= table_->rowCount()) return;
    table_->setCurrentCell(row, 0);
    showExample(row);
}

void DatasetPage::showExample(int row) {
    if (row < 0 || row >= static_cast<int>(summary_.preview.size())) return;
    const auto& e = summary_.preview[static_cast<size_t>(row)];
    promptView_->setPlainText(q(e.prompt));
    if (summary_.unpaired) {
        setHighlighted(chosenView_, e.chosen, 0, 0, QColor());
        rejectedView_->setPlainText(e.desirable ? tr("(desirable example)") : tr("(undesirable example)"));
        return;
    }
    // What differs between the answers: everything between their common prefix and suffix.
    const DiffSpan d = diff_span(e.chosen, e.rejected);
    setHighlighted(chosenView_, e.chosen, d.prefix, e.chosen.size() - d.suffix, QColor(0xC8, 0xE6, 0xC9));
    setHighlighted(rejectedView_, e.rejected, d.prefix, e.rejected.size() - d.suffix, QColor(0xFF, 0xCD, 0xD2));
}

}  // namespace ps::ui
