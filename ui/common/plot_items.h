// Plot decorations shared by the live monitor and the comparison view.
#pragma once

class QCustomPlot;
class QCPAxisRect;
class QCPLayoutGrid;
class QCPLegend;
class QFont;

namespace ps::ui {

// A dashed horizontal line at y = 0 across `rect`: where a reward crosses it, the policy
// stopped moving that way compared with the reference.
void addZeroLine(QCustomPlot* plot, QCPAxisRect* rect);

// A legend centred in `row` between two stretching spacers, so it sits outside the plots and
// never hides a curve: legend layer, `font`, filled row by row, no frame or fill.
QCPLegend* addCentredLegend(QCustomPlot* plot, QCPLayoutGrid* row, const QFont& font);

}  // namespace ps::ui
