"""The publication's colours, in one place: the site's CSS, the charts and the emails."""

from __future__ import annotations

INK = "#1d1d1f"  # body text
MUTED = "#545454"  # secondary text (4.5:1 on paper and white)
PAPER = "#fdfcf9"  # the site's background
RULE = "#d9d4c7"  # hairlines and chart grids
ACCENT = "#8a1c1c"  # links, buttons, the masthead
ACCENT_DARK = "#6b1414"  # buttons on hover
SOFT = "#f3efe4"  # soft panels
OK = "#1e5b2c"
WARN = "#7a4a00"
DANGER = "#a00000"  # errors
FOCUS = "#1a56c4"  # keyboard focus
AXIS = "#767676"  # form borders and chart axes (3:1 on white)
WHITE = "#ffffff"
MAIL_BACKGROUND = "#f6f4ef"  # around an email's white column
SERIES = (FOCUS, "#b35900", ACCENT)  # chart lines, in order
