// Plot decorations shared by the live monitor and the comparison view.
#pragma once

class QCustomPlot;
class QCPAxisRect;

namespace ps::ui {

// A dashed horizontal line at y = 0 across `rect`: where a reward crosses it, the policy
// stopped moving that way compared with the reference.
void addZeroLine(QCustomPlot* plot, QCPAxisRect* rect);

}  // namespace ps::ui
