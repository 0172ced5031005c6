#include "ui/common/plot_items.h"

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

}  // namespace ps::ui
