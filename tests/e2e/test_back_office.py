"""An editor's day in the back office, in a real browser, every page audited.

Log in, write and publish an article, compose a newsletter, preview and test it, send
it, watch its progress, and see the dashboard's figures and chart move.
"""

from __future__ import annotations

from playwright.sync_api import expect

from tests.factories import AdminFactory, TagFactory
from tests.newsletter.digest_helpers import subscriber

PASSWORD = "correct horse battery"


def _sent_today(page) -> str:
    """The last row (today) of the deliveries chart's figures: the "Sent" cell."""
    chart = page.locator("#chart-deliveries")
    return chart.locator("table tbody tr").last.locator("td").first.inner_text()


def test_an_editor_publishes_sends_a_newsletter_and_sees_the_chart_move(
    checked_page, live_server, mailbox
):
    site, page = checked_page, checked_page.page
    editor = AdminFactory(email="editor@example.org")
    TagFactory(name="Climate")
    subscriber("first.reader@example.org")
    subscriber("second.reader@example.org", "weekly")

    # Log in and open the dashboard.
    site.goto("/login")
    page.get_by_label("Email", exact=True).fill(editor.email)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    site.submit("Log in")
    site.goto("/admin/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")
    sent = page.locator(".stat", has_text="Emails sent").locator("dd")
    expect(sent).to_have_text("0")
    assert _sent_today(page) == "0"
    for title in ("Accounts and paying subscribers", "Deliveries per day"):
        expect(page.locator("figure.chart svg[role=img]", has_text=title)).to_have_count(1)

    # Write and publish an article.
    nav = page.get_by_role("navigation", name="Back office")
    site.follow(nav.get_by_role("link", name="Articles"))
    site.follow(page.get_by_role("link", name="Write an article"))
    page.get_by_label("Title").fill("Glaciers in retreat")
    page.get_by_label("Summary").fill("The ice is going faster than the models said.")
    page.get_by_label("Body (Markdown)").fill("Measurements from **forty** glaciers.")
    page.get_by_label("Climate").check()
    site.submit("Publish only")
    expect(page.get_by_role("status")).to_contain_text("Published.")

    # Compose a newsletter, preview it and send a test.
    site.follow(nav.get_by_role("link", name="Newsletters"))
    site.follow(page.get_by_role("link", name="Write a newsletter"))
    page.get_by_label("Subject").fill("A note from the editor")
    page.get_by_label("Text").fill("This week we went to the glaciers.\n\n[Read it](/)")
    page.get_by_label("All subscribers").check()
    site.submit("Save draft")
    expect(page.get_by_role("status")).to_contain_text("Saved.")
    expect(page.get_by_text("It would go to 2 readers now.")).to_be_visible()
    site.follow(page.get_by_role("link", name="Preview the email"))
    expect(page.get_by_role("heading", level=1)).to_have_text("A note from the editor")
    page.go_back()
    site.submit(f"Send a test to {editor.email}")
    expect(page.get_by_role("status")).to_contain_text(f"A test is on its way to {editor.email}")
    assert mailbox.last_to(editor.email)["Subject"] == "[Test] A note from the editor"

    # Send it, and watch its progress.
    site.submit("Send now to 2 readers")
    expect(page.get_by_role("heading", level=1)).to_have_text("A note from the editor")
    progress = page.locator(".progress-panel")
    expect(progress.locator('[data-field="sent"]')).to_have_text("2")
    expect(progress.locator('[data-field="total"]')).to_have_text("2")
    expect(progress.locator('[data-field="status"]')).to_have_text("sent")
    expect(progress.locator("progress")).to_have_attribute("value", "2")
    assert sorted(
        m["To"] for m in mailbox.messages if m["Subject"] == "A note from the editor"
    ) == [
        "first.reader@example.org",
        "second.reader@example.org",
    ]

    # The archive has it, and the dashboard counts it.
    site.follow(page.get_by_role("link", name="In the archive"))
    expect(page.get_by_text("This week we went to the glaciers.")).to_be_visible()
    site.follow(page.get_by_role("main").get_by_role("link", name="Newsletters"))
    expect(page.get_by_role("link", name="A note from the editor")).to_be_visible()
    site.goto("/admin/")
    expect(sent).to_have_text("2")
    assert _sent_today(page) == "2"
