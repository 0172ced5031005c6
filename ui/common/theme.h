// Light and dark themes. "System" follows the desktop: a dark palette from the platform theme,
// GTK_THEME=...:dark, or GNOME's color-scheme 'prefer-dark'. Plots are QCustomPlots, which do
// not follow the palette by themselves, so each view calls applyPlotTheme after building its
// plot and again when the palette changes.
#pragma once
#include <QString>

class QCustomPlot;
class QWidget;

namespace ps::ui {

enum class ThemeMode { System, Light, Dark };

ThemeMode themeModeFromString(const QString& name);  // "system" | "light" | "dark"
QString themeModeName(ThemeMode mode);
// Whether the desktop asks for dark (see above). Cheap after the first call.
bool systemPrefersDark();
// Sets the application's style and palette; "System" keeps the platform palette when it is
// already dark, else uses Fusion's dark palette if the desktop prefers dark.
void applyTheme(ThemeMode mode);
// True when the current application palette is dark (window colour darker than mid-grey).
bool paletteIsDark();
// Background, axes, ticks, grid, legends and titles of a plot from the current palette.
void applyPlotTheme(QCustomPlot* plot);

}  // namespace ps::ui
