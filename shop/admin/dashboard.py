"""The back office's front page: the publication's figures and charts."""

from __future__ import annotations

from datetime import date, datetime

from flask import render_template
from markupsafe import Markup

from shop.admin import charts
from shop.admin.blueprint import bp
from shop.clock import utcnow
from shop.money import format_money
from shop.reports import engagement, metrics
from shop.sending.models import DeliveryStatus

OUTCOME_NAMES = {
    DeliveryStatus.SENT: "Sent",
    DeliveryStatus.FAILED: "Failed",
    DeliveryStatus.BOUNCED: "Bounced",
}


@bp.route("/")
def dashboard():
    """Headline figures and charts, computed as of this request."""
    figures = metrics.dashboard(utcnow())
    chart_set = build_charts(figures)
    chart_set["engagement"] = engagement_chart(engagement.recent_sends())
    return render_template("admin/dashboard.html", figures=figures, charts=chart_set)


def _send_name(send: engagement.Send) -> str:
    """A run on the chart's axis: its subject (or period) and day."""
    run = send.run
    return f"{run.subject or run.period} ({_short_day(run.created_at)})"


def engagement_chart(sends: list[engagement.Send]) -> Markup:
    """Opened and clicked, as a share of each send's delivered messages, oldest first."""
    if not sends:
        return Markup("")
    opened = [round(engagement.percent(s.opened, s.delivered)) for s in sends]
    clicked = [round(engagement.percent(s.clicked, s.delivered)) for s in sends]
    names = [_send_name(s) for s in sends]
    return charts.line_chart(
        charts.Chart(
            key="chart-engagement",
            title="Opens and clicks per send",
            summary=(
                f"The share of delivered messages opened and clicked, for the last "
                f"{len(sends)} sends from {names[0]} to {names[-1]}: the latest was opened "
                f"by {opened[-1]}% and clicked by {clicked[-1]}% of its readers."
            ),
            category_label="Send",
            value_label="% of delivered",
            labels=names,
            ticks=_every([f"{s.run.id}" for s in sends], 2),
            series=[charts.Series("Opened", opened), charts.Series("Clicked", clicked)],
            value_format=lambda v: f"{v}%",
        )
    )


def _day(value: date | datetime) -> str:
    """5 Mar 2026: no leading zero, whatever the platform's strftime does."""
    return f"{value.day} {value:%b %Y}"


def _short_day(value: date | datetime) -> str:
    return f"{value.day} {value:%b}"


def _every(labels: list[str], step: int) -> list[str]:
    """Keep every ``step``-th label counting back from the newest, so today is labelled."""
    last = len(labels) - 1
    return [label if (last - i) % step == 0 else "" for i, label in enumerate(labels)]


def _money_tick(amount: int) -> str:
    """Money on an axis: whole units need no cents."""
    return format_money(amount).replace(".00", "")


def build_charts(figures: metrics.Dashboard) -> dict[str, Markup]:
    """The dashboard's four charts, as accessible inline SVG figures."""
    growth, revenue, deliveries, tags = (
        figures.growth,
        figures.revenue,
        figures.deliveries,
        figures.tags,
    )
    weeks = [_day(point) for point in growth.points]
    growth_chart = charts.line_chart(
        charts.Chart(
            key="chart-growth",
            title="Reader accounts and paying subscribers",
            summary=(
                f"Weekly, over the {len(weeks)} weeks to {weeks[-1]}: reader accounts went from "
                f"{growth.accounts[0]} to {growth.accounts[-1]}, and paying subscribers (active "
                f"or trialing at the time) from {growth.paying[0]} to {growth.paying[-1]}."
            ),
            category_label="Week ending",
            value_label="Readers",
            labels=weeks,
            ticks=_every([_short_day(p) for p in growth.points], 2),
            series=[
                charts.Series("Reader accounts", growth.accounts),
                charts.Series("Paying subscribers", growth.paying),
            ],
        )
    )

    def money(amount: int) -> str:
        return format_money(amount, revenue.currency)

    months = [f"{m:%B %Y}" for m in revenue.months]
    best = max(range(len(months)), key=lambda i: (revenue.amounts[i], i))
    revenue_chart = charts.bar_chart(
        charts.Chart(
            key="chart-revenue",
            title="Revenue per month",
            summary=(
                f"Payments less refunds in each month from {months[0]} to {months[-1]}: "
                f"{money(sum(revenue.amounts))} in all; the highest month was {months[best]} "
                f"with {money(revenue.amounts[best])}."
            ),
            category_label="Month",
            value_label="Revenue",
            labels=months,
            ticks=[f"{m:%b}" for m in revenue.months],
            series=[charts.Series("Revenue", revenue.amounts)],
            value_format=money,
            tick_format=_money_tick,
            unit=100,
        )
    )

    days = [_day(d) for d in deliveries.days]
    totals = {outcome: sum(counts) for outcome, counts in deliveries.counts.items()}
    deliveries_chart = charts.stacked_bars(
        charts.Chart(
            key="chart-deliveries",
            title="Deliveries per day",
            summary=(
                f"Emails each day from {days[0]} to {days[-1]}, stacked by outcome: "
                + ", ".join(f"{n} {OUTCOME_NAMES[o].lower()}" for o, n in totals.items())
                + "."
            ),
            category_label="Day",
            value_label="Emails",
            labels=days,
            ticks=_every([_short_day(d) for d in deliveries.days], 7),
            series=[
                charts.Series(OUTCOME_NAMES[outcome], counts)
                for outcome, counts in deliveries.counts.items()
            ],
        )
    )

    tags_chart = Markup("")
    if tags.names:
        tags_chart = charts.ranking_chart(
            charts.Chart(
                key="chart-tags",
                title="Most followed tags",
                summary=(
                    f"The {len(tags.names)} tags most followed by subscribers who chose "
                    f"their tags; {tags.names[0]} leads with {tags.followers[0]}."
                ),
                category_label="Tag",
                value_label="Subscribers following",
                labels=tags.names,
                ticks=tags.names,
                series=[charts.Series("Subscribers following", tags.followers)],
            )
        )
    return {
        "growth": growth_chart,
        "revenue": revenue_chart,
        "deliveries": deliveries_chart,
        "tags": tags_chart,
    }
