"""The palette is one place: the stylesheet's colours are generated from shop/palette.py."""

from __future__ import annotations

import re

import pytest

from shop import palette
from shop.admin import charts

HEX = re.compile(r"#[0-9a-fA-F]{3,8}\b")


def stylesheet() -> str:
    return palette.STYLESHEET.read_text(encoding="utf-8")


def test_the_stylesheet_palette_block_is_generated_from_the_palette():
    # Fails after a colour changes in palette.py until `python -m shop.palette` is run.
    assert palette.css_block() in stylesheet()
    assert palette.with_palette(stylesheet()) == stylesheet()


def test_the_stylesheet_writes_no_colour_outside_the_palette_block():
    outside = palette.BLOCK.sub("", stylesheet())
    assert HEX.findall(outside) == []


def test_every_custom_property_the_stylesheet_uses_is_defined():
    css = stylesheet()
    used = set(re.findall(r"var\(--([a-z-]+)\)", css))
    defined = set(re.findall(r"^\s*--([a-z-]+):", css, re.MULTILINE))
    assert used <= defined, used - defined


def test_the_palette_block_holds_each_colour_by_name():
    block = palette.css_block()
    assert "--accent-dark: #6b1414;" in block
    assert block.startswith(palette.BEGIN) and block.endswith(palette.END)


def test_a_stylesheet_without_a_palette_block_is_refused():
    with pytest.raises(ValueError, match="no palette block"):
        palette.with_palette("body { color: red; }")


def test_the_charts_draw_in_the_palette_colours():
    chart = charts.Chart(
        key="t",
        title="Sales",
        summary="Two weeks of sales",
        category_label="week",
        value_label="sales",
        labels=["one", "two"],
        ticks=["1", "2"],
        series=[charts.Series("a", [1, 2]), charts.Series("b", [2, 1])],
    )
    svg = str(charts.stacked_bars(chart))
    colours = {c.lower() for c in HEX.findall(svg)}
    known = {c.lower() for c in (*palette.SERIES, palette.INK, palette.MUTED, palette.RULE)}
    known |= {palette.AXIS.lower(), palette.WHITE.lower()}
    assert colours and colours <= known
    assert palette.SERIES[0] in svg and palette.SERIES[1] in svg


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_text_and_its_background_meet_wcag_aa_in_both_schemes(scheme):
    colours = palette.CSS_PROPERTIES if scheme == "light" else palette.DARK_CSS_PROPERTIES
    weak = [
        (fg, bg, round(palette.contrast(colours[fg], colours[bg]), 2))
        for fg, bg, needed in palette.CONTRAST_PAIRS
        if palette.contrast(colours[fg], colours[bg]) < needed
    ]
    assert weak == []


def test_the_dark_scheme_names_every_colour_the_light_one_does():
    assert palette.DARK_CSS_PROPERTIES.keys() == palette.CSS_PROPERTIES.keys()
    block = palette.css_block()
    assert "color-scheme: light dark;" in block
    assert "@media (prefers-color-scheme: dark)" in block
    assert f"--paper: {palette.DARK_CSS_PROPERTIES['paper']};" in block


def test_contrast_is_measured_as_wcag_does():
    assert round(palette.contrast("#000000", "#ffffff"), 1) == 21.0
    assert round(palette.contrast("#767676", "#ffffff"), 2) == 4.54
