"""The shop in a real browser: catalogue, cart and the admin's product pages, each audited."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.factories import AdminFactory, make_product

PASSWORD = "correct horse battery"


def test_a_visitor_fills_and_changes_a_cart(checked_page, live_server):
    site, page = checked_page, checked_page.page
    make_product("Supporter, monthly", 800, kind="plan", interval="month")
    make_product("Supporter, yearly", 8000, kind="plan", interval="year")
    make_product("Tote bag", 1800, stock=3)
    make_product("Mug", 1200, stock=0)

    site.goto("/shop")
    expect(page.get_by_role("heading", level=1)).to_have_text("Shop")
    expect(page.get_by_text("Your cart is currently empty!")).to_be_visible()
    tote = page.get_by_role("listitem").filter(has_text="Tote bag")
    expect(tote.get_by_text("3 left")).to_be_visible()
    mug = page.get_by_role("listitem").filter(has_text="Mug")
    expect(mug.get_by_role("button", name="Add to cart")).to_be_disabled()

    tote.get_by_label("Quantity").fill("2")
    site.submit("Add to cart", within=tote)
    expect(page.get_by_role("heading", level=1)).to_have_text("Your cart")
    expect(page.get_by_role("link", name="Cart: 2 items")).to_be_visible()

    site.goto("/shop")
    site.submit("Add to cart", within=page.get_by_role("listitem").filter(has_text="monthly"))
    site.goto("/shop")
    site.submit("Add to cart", within=page.get_by_role("listitem").filter(has_text="yearly"))
    expect(page.get_by_role("status")).to_contain_text("replaced “Supporter, monthly”")
    expect(page.locator(".cart-subtotal").first).to_have_text("$116.00")

    page.get_by_label("Quantity of Tote bag").fill("1")
    site.submit("Update", within=page.get_by_role("row").filter(has_text="Tote bag"))
    expect(page.get_by_role("status")).to_contain_text("Your cart is updated.")
    site.submit("Remove", within=page.get_by_role("row").filter(has_text="yearly"))
    expect(page.get_by_role("status")).to_contain_text("Removed “Supporter, yearly”")
    expect(page.get_by_role("link", name="Cart: 1 item")).to_be_visible()
    expect(page.get_by_role("button", name="Check out")).to_be_visible()


def test_an_admin_adds_and_edits_a_product(checked_page, live_server):
    site, page = checked_page, checked_page.page
    AdminFactory(email="editor@example.org")
    site.goto("/login")
    page.get_by_label("Email", exact=True).fill("editor@example.org")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    site.submit("Log in")

    site.goto("/admin/products")
    site.follow(page.get_by_role("link", name="Add a product"))
    page.get_by_label("Name", exact=True).fill("Tote bag")
    page.get_by_label("One-off item").check()
    page.get_by_label("Price", exact=True).fill("12.345")
    site.submit("Add product")
    expect(page.locator("#amount-error")).to_contain_text("Write the price as a number")

    page.get_by_label("Price", exact=True).fill("18.50")
    page.get_by_label("Stock", exact=True).fill("25")
    site.submit("Add product")
    expect(page.get_by_role("status")).to_contain_text("Saved.")
    page.get_by_label("Price", exact=True).fill("20")
    site.submit("Save")
    expect(page.get_by_role("heading", name="Price history")).to_be_visible()
    site.follow(page.get_by_role("link", name="Back to products"))
    expect(page.get_by_role("cell", name="$20.00")).to_be_visible()
