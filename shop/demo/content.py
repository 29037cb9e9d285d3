"""Demo tags, articles and comments: the articles are Markdown files in ``articles/``.

Each article file starts with a front matter block of ``key: value`` lines between two
``---`` lines (title, summary, tags, access, days_ago); the rest of the file is the
body, as the editor would type it. Files load in name order, and the number each
name starts with keeps that order (the newest article first) when one is added.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

from shop.articles.models import ACCESS_LEVELS

TAGS: list[tuple[str, str]] = [
    ("Ukraine", "Reporting on the war in Ukraine, its people and its recovery."),
    ("North Korea", "Coverage of North Korea, its economy and its neighbours."),
    ("Climate", "How a warming planet is changing places, policy and daily life."),
    ("Technology", "The tools, platforms and infrastructure shaping public life."),
    ("Economy", "Prices, wages, trade and the businesses that keep towns running."),
    ("Science", "Research explained, from the lab bench to the field station."),
    ("Culture", "Theatre, books, music and the institutions that sustain them."),
    ("Local", "Stories from the streets, councils and communities near home."),
    ("Media", "How news is made, checked, funded and shared."),
]

# Each comment names its article by slug, so adding or renaming a file cannot move it.
COMMENTS: list[tuple[str, str]] = [
    (
        "inside-the-slow-careful-work-of-moving-ukrainian-grain-by-river",
        "Useful piece. I had no idea how much low river levels affect the barge trade. "
        "Would be good to see a follow-up on freight insurance.",
    ),
    (
        "one-town-s-plan-to-fit-a-thousand-heat-pumps-before-next-winter",
        "We had a heat pump fitted last year and the survey was the most important step. "
        "Ask lots of questions about radiator sizes before anything is installed.",
    ),
    (
        "small-newsrooms-are-quietly-adopting-ai-transcription-here-is-what-changes",
        "As someone who works at a small paper, the point about checking every quote against "
        "the audio is spot on. The tools are great until they misspell a councillor's name.",
    ),
    (
        "why-rival-fact-checkers-are-starting-to-share-their-work",
        "Interesting approach. The network's annual review is worth reading alongside this: "
        "https://example.org/report",
    ),
    (
        "a-plain-guide-to-where-household-money-is-going-this-year",
        "The suggestion to track spending for a single month really works. "
        "It was the subscriptions that surprised me.",
    ),
    (
        "the-library-makerspace-where-retirees-and-teenagers-fix-things-together",
        "I volunteer at a repair cafe in another town and it is always the best part of my week. "
        "Lovely to see libraries getting involved.",
    ),
]

FENCE = "---"
FIELDS = ("title", "summary", "tags", "access", "days_ago")


@dataclass(frozen=True)
class DemoArticle:
    """One demo article as its file describes it."""

    title: str
    summary: str
    tags: tuple[str, ...]
    access: str
    days_ago: int
    body: str


def parse_article(text: str, name: str = "<article>") -> DemoArticle:
    """Split an article file into its front matter and its Markdown body."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].rstrip("\n") != FENCE:
        raise ValueError(f"{name}: an article starts with a {FENCE} line")
    try:
        end = next(i for i, line in enumerate(lines[1:], 1) if line.rstrip("\n") == FENCE)
    except StopIteration:
        raise ValueError(f"{name}: the front matter has no closing {FENCE} line") from None
    fields: dict[str, str] = {}
    for line in lines[1:end]:
        key, colon, value = line.partition(":")
        if not colon or key.strip() not in FIELDS or key.strip() in fields:
            raise ValueError(f"{name}: expected one of {', '.join(FIELDS)} once, got {line!r}")
        fields[key.strip()] = value.strip()
    if missing := [field for field in FIELDS if field not in fields]:
        raise ValueError(f"{name}: the front matter lacks {', '.join(missing)}")
    if fields["access"] not in ACCESS_LEVELS:
        raise ValueError(f"{name}: access is one of {', '.join(ACCESS_LEVELS)}")
    return DemoArticle(
        title=fields["title"],
        summary=fields["summary"],
        tags=tuple(tag.strip() for tag in fields["tags"].split(",") if tag.strip()),
        access=fields["access"],
        days_ago=int(fields["days_ago"]),
        body="".join(lines[end + 1 :]),
    )


def load_articles() -> list[DemoArticle]:
    """Read every article file shipped with the package, in name order."""
    folder = resources.files(__package__) / "articles"
    files = sorted(
        (entry for entry in folder.iterdir() if entry.name.endswith(".md")),
        key=lambda entry: entry.name,
    )
    return [parse_article(entry.read_text(encoding="utf-8"), entry.name) for entry in files]
