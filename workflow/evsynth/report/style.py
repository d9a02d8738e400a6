"""Style shared by the result plots: the Okabe-Ito palette, font sizes and the matplotlib rc settings.

The rc settings are applied with ``plt.rc_context(RC)`` inside each plotting function, so importing a plot
module does not change global matplotlib settings. SVG text stays text (``svg.fonttype = "none"``), so labels
can be searched in the SVG and edited in a vector editor; SVG ids are salted with a constant. Colours are the
Okabe-Ito colour-blind-safe palette; the smallest font is 8 pt at the saved size.
"""

from __future__ import annotations

# Okabe & Ito (2008) colour-blind-safe palette.
OKABE_ITO = {
    "black": "#000000", "orange": "#E69F00", "skyblue": "#56B4E9", "green": "#009E73",
    "yellow": "#F0E442", "blue": "#0072B2", "vermillion": "#D55E00", "purple": "#CC79A7",
}
GREY = "#8C8C8C"
LIGHT = "#D9D9D9"

DPI = 200
FS = 9  # body font size (pt)
FS_SMALL = 8  # footers, legends: the minimum
FS_TITLE = 11

RC = {
    "svg.hashsalt": "evsynth",
    "svg.fonttype": "none",
    "font.family": "DejaVu Sans",
    "font.size": FS,
    "axes.titlesize": FS_TITLE,
    "axes.labelsize": FS,
    "xtick.labelsize": FS_SMALL,
    "ytick.labelsize": FS_SMALL,
    "legend.fontsize": FS_SMALL,
    "axes.unicode_minus": False,
    "path.simplify": False,
    "savefig.dpi": DPI,
    "savefig.facecolor": "white",
    "figure.facecolor": "white",
    "axes.linewidth": 0.8,
    "lines.linewidth": 1.0,
}
