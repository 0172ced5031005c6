#include "common/plot_items.h"

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

}  // namespace ps::ui
