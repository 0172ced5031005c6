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

// As many legend items per row as fit in `width` pixels (at most `maxColumns`; at least one),
// the rest on further rows: a narrow plot wraps its legend instead of cutting its names.
// Returns the columns chosen. A wrapped legend's itemCount() counts its empty cells too:
// count entries with legendEntryCount().
int fitLegendColumns(QCPLegend* legend, int width, int maxColumns = 1 << 20);
int legendEntryCount(const QCPLegend* legend);

}  // namespace ps::ui
