#include "ui/common/plot_items.h"

#include <algorithm>
#include <vector>

#include <qcustomplot.h>

namespace ps::ui {

void addZeroLine(QCustomPlot* plot, QCPAxisRect* rect) {
    auto* zero = new QCPItemStraightLine(plot);
    zero->setClipToAxisRect(true);
    zero->setClipAxisRect(rect);
    zero->point1->setAxes(rect->axis(QCPAxis::atBottom), rect->axis(QCPAxis::atLeft));
    zero->point2->setAxes(rect->axis(QCPAxis::atBottom), rect->axis(QCPAxis::atLeft));
    zero->point1->setCoords(0, 0);
    zero->point2->setCoords(1, 0);
    zero->setPen(QPen(QColor(0, 0, 0, 90), 1, Qt::DashLine));
}

QCPLegend* addCentredLegend(QCustomPlot* plot, QCPLayoutGrid* row, const QFont& font) {
    auto* legend = new QCPLegend;
    row->addElement(0, 0, new QCPLayoutElement(plot));
    row->addElement(0, 1, legend);
    row->addElement(0, 2, new QCPLayoutElement(plot));
    row->setColumnStretchFactor(1, 0.001);
    legend->setLayer(QStringLiteral("legend"));
    legend->setFont(font);
    legend->setFillOrder(QCPLayoutGrid::foColumnsFirst);
    legend->setBrush(Qt::NoBrush);
    legend->setBorderPen(Qt::NoPen);
    return legend;
}

int legendEntryCount(const QCPLegend* legend) {
    int n = 0;
    for (int i = 0; i < legend->itemCount(); ++i) n += legend->item(i) ? 1 : 0;
    return n;
}

int fitLegendColumns(QCPLegend* legend, int width, int maxColumns) {
    std::vector<int> widths;  // the items' widths; a wrapped grid also has empty cells
    for (int i = 0; i < legend->itemCount(); ++i)
        if (QCPAbstractLegendItem* item = legend->item(i)) widths.push_back(item->minimumOuterSizeHint().width());
    const int count = int(widths.size());
    if (count == 0) return 1;
    const QMargins margins = legend->margins();
    const int available = width - margins.left() - margins.right();
    int columns = 1;
    for (int c = std::min(count, maxColumns); c > 1; --c) {
        // Filled row by row with `c` per row: each grid column is as wide as its widest item.
        std::vector<int> columnWidth(size_t(c), 0);
        for (int i = 0; i < count; ++i) columnWidth[size_t(i % c)] = std::max(columnWidth[size_t(i % c)], widths[size_t(i)]);
        int total = legend->columnSpacing() * (c - 1);
        for (int w : columnWidth) total += w;
        if (total <= available) {
            columns = c;
            break;
        }
    }
    if (legend->wrap() != columns) {
        legend->setWrap(columns);
        legend->setFillOrder(QCPLayoutGrid::foColumnsFirst, true);  // rearranges the items
    }
    return columns;
}

}  // namespace ps::ui
