"""The publication's colours, in one place: the site's CSS, the charts and the emails.

The stylesheet's ``:root`` colours are generated from this module, not read from it at
run time: ``python -m shop.palette`` rewrites that block of ``static/css/site.css``, and
a test fails while the two differ. So the CSS stays a plain static file (cached for
long, servable by a proxy, allowed by a ``style-src 'self'`` policy) with one source.
"""

from __future__ import annotations

import re
from pathlib import Path

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
DISABLED = "#e8e6e1"  # a disabled button's face
DISABLED_INK = "#3d3d3d"  # a disabled button's label (8.7:1 on DISABLED)
MAIL_BACKGROUND = "#f6f4ef"  # around an email's white column
# Chart lines, in order: each at least 3:1 against the page (WCAG 1.4.11, non-text contrast).
SERIES = (FOCUS, "#b35900", ACCENT)

# The site's stylesheet names each colour it uses as a custom property.
CSS_PROPERTIES = {
    "ink": INK,
    "muted": MUTED,
    "paper": PAPER,
    "rule": RULE,
    "accent": ACCENT,
    "accent-dark": ACCENT_DARK,
    "soft": SOFT,
    "ok": OK,
    "warn": WARN,
    "danger": DANGER,
    "focus": FOCUS,
    "axis": AXIS,
    "white": WHITE,
    "disabled": DISABLED,
    "disabled-ink": DISABLED_INK,
}

STYLESHEET = Path(__file__).resolve().parent.parent / "static" / "css" / "site.css"
BEGIN = "/* palette: generated from shop/palette.py by `python -m shop.palette`; do not edit */"
END = "/* end of palette */"
BLOCK = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), re.DOTALL)


def css_block() -> str:
    """The stylesheet's generated ``:root`` block of colour custom properties."""
    lines = [f"  --{name}: {value};" for name, value in CSS_PROPERTIES.items()]
    return "\n".join([BEGIN, ":root {", *lines, "}", END])


def with_palette(css: str) -> str:
    """A stylesheet's text with its palette block replaced by the current one."""
    if BLOCK.search(css) is None:
        raise ValueError("The stylesheet has no palette block to replace.")
    return BLOCK.sub(lambda _: css_block(), css, count=1)


def main() -> None:
    """Rewrite the stylesheet's palette block from the colours above."""
    css = STYLESHEET.read_text(encoding="utf-8")
    STYLESHEET.write_text(with_palette(css), encoding="utf-8")


if __name__ == "__main__":
    main()
