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

# The same names for readers whose system asks for a dark scheme. "white" is the raised
# surface (header, panels, fields) and the label on an accent button, so it turns dark
# while the accent turns light. Mail keeps the light colours: mail clients differ too much.
DARK_CSS_PROPERTIES = {
    "ink": "#ebe7df",
    "muted": "#b3ada2",
    "paper": "#161513",
    "rule": "#45413a",
    "accent": "#f2a0a0",
    "accent-dark": "#f7c4c4",
    "soft": "#2a2723",
    "ok": "#8fd19e",
    "warn": "#e8b04f",
    "danger": "#ff9c9c",
    "focus": "#8cb4ff",
    "axis": "#8f8a82",
    "white": "#201e1b",
    "disabled": "#34312c",
    "disabled-ink": "#cfcac1",
}

# Text and the background it sits on, with the contrast WCAG AA asks of each (4.5:1 for
# text, 3:1 for borders, focus rings and large text); a test holds both schemes to them.
CONTRAST_PAIRS = (
    ("ink", "paper", 4.5),
    ("ink", "white", 4.5),
    ("ink", "soft", 4.5),
    ("muted", "paper", 4.5),
    ("muted", "white", 4.5),
    ("muted", "soft", 4.5),
    ("accent", "paper", 4.5),
    ("accent", "white", 4.5),
    ("accent", "soft", 4.5),
    ("accent-dark", "paper", 4.5),
    ("accent-dark", "soft", 4.5),
    ("white", "accent", 4.5),
    ("white", "accent-dark", 4.5),
    ("white", "ink", 4.5),
    ("danger", "paper", 4.5),
    ("danger", "white", 4.5),
    ("warn", "white", 4.5),
    ("warn", "soft", 4.5),
    ("ok", "white", 4.5),
    ("disabled-ink", "disabled", 4.5),
    ("focus", "paper", 3),
    ("focus", "white", 3),
    ("axis", "white", 3),
    ("axis", "paper", 3),
)


def _luminance(colour: str) -> float:
    """The relative luminance of a ``#rrggbb`` colour, as WCAG 2 defines it."""
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(foreground: str, background: str) -> float:
    """The WCAG contrast ratio of two ``#rrggbb`` colours, from 1 to 21."""
    lighter, darker = sorted((_luminance(foreground), _luminance(background)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


STYLESHEET = Path(__file__).resolve().parent.parent / "static" / "css" / "site.css"
BEGIN = "/* palette: generated from shop/palette.py by `python -m shop.palette`; do not edit */"
END = "/* end of palette */"
BLOCK = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END), re.DOTALL)


def _declarations(properties: dict[str, str], indent: str) -> list[str]:
    return [f"{indent}--{name}: {value};" for name, value in properties.items()]


def css_block() -> str:
    """The stylesheet's generated colour custom properties: light, then dark on request.

    The admin's charts are inline SVG drawn in the light colours, so in the dark scheme
    their panels keep the light palette rather than lose their lines and labels.
    """
    return "\n".join(
        [
            BEGIN,
            ":root {",
            "  color-scheme: light dark;",
            *_declarations(CSS_PROPERTIES, "  "),
            "}",
            "@media (prefers-color-scheme: dark) {",
            "  :root {",
            *_declarations(DARK_CSS_PROPERTIES, "    "),
            "  }",
            "  .chart {",
            "    color-scheme: light;",
            *_declarations(CSS_PROPERTIES, "    "),
            "  }",
            "}",
            END,
        ]
    )


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
