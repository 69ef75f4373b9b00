"""The app's colours, named once: every view paints with these (the dark theme).

Stylesheets and plot pens take the names below; a colour used by one view only is still named here,
so a change of theme is an edit of this file. (The HTML report has a light theme of its own, in
explorer/core/report.py.)
"""

from __future__ import annotations

# Surfaces, darkest first
WELL = "#101215"          # the map's hover card
SUNKEN = "#17191c"        # image wells, the status bar, the map and film-strip backgrounds
GRID_BG = "#18191c"       # behind the sample grid
LIST_BG = "#191b1f"       # lists, text browsers, tables
MENU_BAR = "#1a1c20"
PLOT_BG = "#1b1d21"       # monitor and compare plots
WINDOW = "#1e2126"
CARD = "#202329"          # the map's side cards
PANEL = "#24272d"         # dock titles, menus, tabs, the tour's card
FIELD = "#2a2e35"         # spin boxes, combo boxes, progress bars
BUTTON = "#2f343c"
BUTTON_HOVER = "#3a404a"
SPIN_BUTTON = "#323740"   # the up/down buttons of spin boxes

# Lines
LINE = "#30343b"          # thin frames, table grid lines
BORDER = "#3a3f47"        # field borders, slider grooves
BUTTON_BORDER = "#434953"
AXIS = "#4a505a"          # plot axes
CHECK_BORDER = "#5a616c"

# Text
TEXT = "#e3e6ea"          # primary text, titles
SOFT = "#c5cbd3"          # status fields, table text
MUTED = "#9aa4b2"         # secondary text, labels, axis text
FAINT = "#7d8795"         # empty states
DISABLED = "#6b727c"
CODE = "#cfe3ff"
WHITE = "#ffffff"

# Meaning
ACCENT = "#2f6fde"        # selection, checked, progress
WARN = "#ffb020"          # warnings, the map's cursor and box outline
ALARM = "#d9534f"         # alarm borders and thresholds
ALARM_BG = "#4a1f1d"
ALARM_TEXT = "#ffd9d6"
BAD = "#ff8a80"           # a value past its alarm
GOOD = "#3fb950"
GOOD_BG = "#173524"
GOOD_TEXT = "#c9f2d4"
BETTER = "#7ee2a0"        # the better of two models in the compare view
NOTE = "#e3b341"          # notes, skipped snapshots, "not measured"
NOTE_BG = "#3a2f12"
NOTE_TEXT = "#f5dfa5"
SKIPPED_BG = "#3a2a10"
MARKER = "#ff3d7f"        # the ★ on the map

# Series: the monitor's curves, and one colour per class on the map (grey for what has no class)
SERIES = ("#4f8ff7", "#f0883e", "#3fb950", "#bc8cff", "#d29922", "#39c5cf")
CLASS_COLORS = ("#5b9bd5", "#f28e2b", "#59c45a", "#e15759", "#b07aa1", "#edc948", "#76b7b2", "#ff9da7",
                "#a0cbe8", "#c49c7a", "#8cd17d", "#d37295")
NO_CLASS = "#6b717b"
