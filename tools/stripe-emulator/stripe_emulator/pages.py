"""The hosted pages: Checkout (``/c/pay/<id>``) and the customer portal (``/p/session/<id>``).

Plain HTML with inline CSS, no scripts and no external assets, built to pass axe-core's
WCAG 2.1 AA rules: ``lang``, a title, one ``h1``, landmarks, labelled buttons, AA contrast.
"""

from __future__ import annotations

import datetime as dt

from jinja2 import DictLoader, Environment

from .api.shipping import REQUIRED_SHIPPING_FIELDS
from .common import format_money
from .countries import country_name

BANNER = "Test mode — Stripe emulator. No real payment is taken."

# One form, so every button sends the address: (action, style, label).
PAY_BUTTONS = [
    ("pay", "primary", "Pay"),
    ("decline", "secondary", "Pay with a card that is declined"),
    ("delayed", "secondary", "Pay by bank debit (settles later)"),
]
# The address's text fields (the country is a list): key, label, autocomplete token.
ADDRESS_FIELDS = [
    ("name", "Full name", "shipping name"),
    ("line1", "Address line 1", "shipping address-line1"),
    ("line2", "Address line 2", "shipping address-line2"),
    ("city", "City", "shipping address-level2"),
    ("state", "State or county", "shipping address-level1"),
    ("postal_code", "Postal code", "shipping postal-code"),
]

_BASE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }} · Stripe emulator (test mode)</title>
<link rel="icon" href="data:,">
<style>
body { margin: 0; font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: #1f2328; background: #f6f8fa; line-height: 1.5; }
.test-banner { margin: 0; padding: .75rem 1rem; background: #fff4ce; color: #3b2f00;
  border-bottom: 2px solid #9a6700; text-align: center; font-weight: 600; }
main { max-width: 40rem; margin: 2rem auto; padding: 1.5rem 2rem; background: #fff;
  border: 1px solid #d0d7de; border-radius: 8px; }
h1 { font-size: 1.5rem; margin-top: 0; }
h2 { font-size: 1.2rem; margin-bottom: .25rem; }
table { width: 100%; border-collapse: collapse; margin: 1rem 0; }
th, td { text-align: left; padding: .5rem; border-bottom: 1px solid #d0d7de; }
.num { text-align: right; }
form { margin: .5rem 0; }
form p { margin: .5rem 0; }
fieldset { border: 1px solid #d0d7de; border-radius: 6px; margin: 1rem 0; padding: .5rem 1rem; }
legend { font-weight: 600; padding: 0 .25rem; }
label { display: block; }
.choice { display: flex; gap: .5rem; align-items: baseline; }
input[type="text"], input[type="email"], select { font: inherit; width: 100%;
  box-sizing: border-box;
  padding: .4rem .5rem; border: 1px solid #57606a; border-radius: 4px; color: #1f2328;
  background: #fff; }
input[aria-invalid="true"], select[aria-invalid="true"] { border: 2px solid #a40e26; }
button { font: inherit; width: 100%; padding: .6rem 1rem; border-radius: 6px; cursor: pointer; }
.primary { background: #0a3d91; color: #fff; border: 1px solid #0a3d91; }
.secondary { background: #fff; color: #0a3d91; border: 1px solid #0a3d91; }
a { color: #0a3d91; }
a:focus-visible, button:focus-visible, input:focus-visible, select:focus-visible {
  outline: 3px solid #9a6700; outline-offset: 2px; }
.error { color: #a40e26; font-weight: 600; }
.muted { color: #57606a; }
section { border-top: 1px solid #d0d7de; padding-top: .5rem; margin-top: 1rem; }
</style>
</head>
<body>
<header><p class="test-banner">{{ banner }}</p></header>
<main>
<h1>{{ title }}</h1>
{% block content %}{% endblock %}
</main>
</body>
</html>
"""

_CHECKOUT = """{% extends "base" %}
{% block content %}
{% if customer_email %}<p class="muted">Paying as {{ customer_email }}</p>{% endif %}
{% if message %}<p class="error" role="alert" id="checkout-error">{{ message }}</p>{% endif %}
<table>
<thead><tr><th scope="col">Item</th><th scope="col" class="num">Quantity</th>
<th scope="col" class="num">Amount</th></tr></thead>
<tbody>
{% for item in items %}<tr><td>{{ item.name }}{% if item.every %}
<span class="muted">(every {{ item.every }})</span>{% endif %}</td>
<td class="num">{{ item.quantity }}</td><td class="num">{{ item.amount }}</td></tr>
{% endfor %}</tbody>
<tfoot>{% for row in totals %}<tr><th scope="row" colspan="2">{{ row.label }}</th>
<td class="num">{{ row.amount }}</td></tr>
{% endfor %}</tfoot>
</table>
{% if trial %}<p id="trial-terms">{{ trial }}</p>{% endif %}
{% if status == "open" %}
<form method="post" action="{{ action }}">
{% if ask_email %}
<p><label for="email">Email</label>
<input type="email" id="email" name="email" autocomplete="email" required
 value="{{ form.get('email', '') }}"
{%- if 'email' in invalid %} aria-invalid="true" aria-describedby="checkout-error"{% endif %}></p>
{% endif %}
{% if countries %}
<fieldset>
<legend>Shipping address</legend>
{% for field in address_fields %}
<p><label for="shipping_{{ field.key }}">{{ field.label }}
{%- if not field.required %} <span class="muted">(optional)</span>{% endif %}</label>
<input type="text" id="shipping_{{ field.key }}" name="shipping_{{ field.key }}"
 value="{{ field.value }}" autocomplete="{{ field.autocomplete }}"
{%- if field.required %} required{% endif %}
{%- if field.invalid %} aria-invalid="true" aria-describedby="checkout-error"{% endif %}></p>
{% endfor %}
<p><label for="shipping_country">Country</label>
<select id="shipping_country" name="shipping_country" autocomplete="shipping country" required
{%- if country_invalid %} aria-invalid="true" aria-describedby="checkout-error"{% endif %}>
{% for country in countries %}<option value="{{ country.code }}"
{%- if country.selected %} selected{% endif %}>{{ country.name }}</option>
{% endfor %}</select></p>
</fieldset>
{% endif %}
{% if rates %}
<fieldset>
<legend>Shipping rate</legend>
{% for rate in rates %}
<p class="choice"><input type="radio" id="shipping_rate_{{ loop.index }}" name="shipping_rate"
 value="{{ rate.id }}"{% if rate.checked %} checked{% endif %}>
<label for="shipping_rate_{{ loop.index }}">{{ rate.name }}: {{ rate.amount }}
<span class="muted">(total {{ rate.total }})</span></label></p>
{% endfor %}
</fieldset>
{% endif %}
{% for value, kind, label in buttons %}<p><button type="submit" name="action" value="{{ value }}"
 class="{{ kind }}">{{ label }}</button></p>
{% endfor %}
</form>
{% if cancel_url %}<p><a href="{{ cancel_url }}">Cancel and return</a></p>{% endif %}
{% elif status == "complete" %}
{% if ship_to %}<p>Shipping to {{ ship_to }}.</p>{% endif %}
<p>{{ done_message }}</p>
<p><a href="{{ success_url }}">Return to the site</a></p>
{% else %}
<p>This checkout session has expired. No payment was taken.</p>
{% if cancel_url %}<p><a href="{{ cancel_url }}">Return to the site</a></p>{% endif %}
{% endif %}
{% endblock %}
"""

_PORTAL = """{% extends "base" %}
{% block content %}
{% if email %}<p class="muted">Signed in as {{ email }}</p>{% endif %}
{% for sub in subscriptions %}
<section aria-labelledby="plan-{{ loop.index }}">
<h2 id="plan-{{ loop.index }}">{{ sub.name }}</h2>
<p>Status: {{ sub.status }}. {{ sub.when }}</p>
<form method="post" action="{{ sub.action }}">
<input type="hidden" name="action" value="{{ 'keep' if sub.ending else 'cancel' }}">
<button type="submit" class="{{ 'primary' if sub.ending else 'secondary' }}">
{{- 'Keep my plan' if sub.ending else 'Cancel plan at period end' -}}
</button></form>
{% for choice in sub.switch_to %}
<form method="post" action="{{ sub.action }}/price">
<input type="hidden" name="price" value="{{ choice.price }}">
<button type="submit" class="secondary">Switch to {{ choice.label }}</button></form>
{% endfor %}
</section>
{% else %}
<p>You have no active subscriptions.</p>
{% endfor %}
{% if return_url %}<p><a href="{{ return_url }}">Return to the site</a></p>{% endif %}
{% endblock %}
"""

_MESSAGE = """{% extends "base" %}
{% block content %}<p>{{ message }}</p>{% endblock %}
"""

_ENV = Environment(
    loader=DictLoader(
        {"base": _BASE, "checkout": _CHECKOUT, "portal": _PORTAL, "message": _MESSAGE}
    ),
    autoescape=True,
)

STATUS_LABELS = {
    "active": "Active",
    "past_due": "Payment overdue",
    "unpaid": "Unpaid",
    "trialing": "Trial",
    "incomplete": "Incomplete",
    "paused": "Paused",
}


def _date(timestamp: int) -> str:
    when = dt.datetime.fromtimestamp(timestamp, dt.UTC)
    return f"{when.day} {when:%B %Y}"


def _every(recurring: dict | None) -> str | None:
    if not recurring:
        return None
    count = recurring["interval_count"]
    return recurring["interval"] if count == 1 else f"{count} {recurring['interval']}s"


def checkout(
    data: dict,
    message: str | None = None,
    form: dict[str, str] | None = None,
    invalid: list[str] | None = None,
) -> str:
    """The hosted Checkout page for :meth:`Emulator.checkout_page` data.

    ``form``: what the buyer typed, shown again; ``invalid``: the address fields to mark.
    """
    session = data["session"]
    form = form or {}
    invalid = invalid or []
    currency = session["currency"]
    items = [
        {
            "name": item["description"],
            "quantity": item["quantity"],
            "amount": format_money(item["amount_total"], item["currency"]),
            "every": _every(item["price"]["recurring"]),
        }
        for item in data["items"]
    ]
    trial_days = data.get("trial_period_days")
    trial = None
    if trial_days:
        trial = (
            f"Free for {trial_days} day{'s' if trial_days != 1 else ''}: the subscription is "
            "not charged today. It is charged its price when the trial ends."
        )
    if session["payment_status"] == "no_payment_required":
        done = "Thank you: your free trial has started."
    elif session["payment_status"] == "paid":
        done = "Thank you: this payment is complete."
    else:
        done = "Thank you: your bank debit is on its way and will settle in a few days."
    customer = data["customer"] or {}
    collection = session["shipping_address_collection"]
    allowed = collection["allowed_countries"] if collection else []
    chosen_country = form.get("shipping_country") or (allowed[0] if allowed else "")
    rates = data["shipping_rates"]
    chosen_rate = form.get("shipping_rate")
    if chosen_rate not in [rate["id"] for rate in rates]:
        chosen_rate = rates[0]["id"] if rates else None
    total_label = "Total due today" if session["mode"] == "subscription" else "Total"
    subtotal = format_money(session["amount_subtotal"], currency)
    cost = session["shipping_cost"]
    if session["status"] == "open" and rates:
        # The total depends on the rate chosen below: each rate says what it comes to.
        totals = [{"label": "Subtotal", "amount": subtotal}]
    elif cost and cost["shipping_rate"]:
        totals = [
            {"label": "Subtotal", "amount": subtotal},
            {"label": "Shipping", "amount": format_money(cost["amount_total"], currency)},
            {"label": total_label, "amount": format_money(session["amount_total"], currency)},
        ]
    else:
        totals = [{"label": total_label, "amount": format_money(session["amount_total"], currency)}]
    info = session["collected_information"] or {}
    details = info.get("shipping_details")
    ship_to = None
    if details:
        address = details["address"]
        parts = [details["name"], address["line1"], address["line2"], address["city"]]
        parts += [address["state"], address["postal_code"], country_name(address["country"])]
        ship_to = ", ".join(part for part in parts if part)
    return _ENV.get_template("checkout").render(
        banner=BANNER,
        title="Checkout" if session["mode"] == "payment" else "Subscribe",
        customer_email=customer.get("email") or session["customer_email"],
        ask_email=not session["customer"] and not session["customer_email"],
        form=form,
        invalid=invalid,
        message=message,
        items=items,
        totals=totals,
        status=session["status"],
        buttons=PAY_BUTTONS,
        action=f"/c/pay/{session['id']}",
        address_fields=[
            {
                "key": key,
                "label": label,
                "required": key in REQUIRED_SHIPPING_FIELDS,
                "autocomplete": autocomplete,
                "value": form.get(f"shipping_{key}", ""),
                "invalid": key in invalid,
            }
            for key, label, autocomplete in ADDRESS_FIELDS
        ],
        countries=[
            {"code": code, "name": country_name(code), "selected": code == chosen_country}
            for code in allowed
        ],
        country_invalid="country" in invalid,
        rates=[
            {
                "id": rate["id"],
                "name": rate["display_name"],
                "amount": format_money(rate["fixed_amount"]["amount"], currency),
                "total": format_money(
                    session["amount_subtotal"] + rate["fixed_amount"]["amount"], currency
                ),
                "checked": rate["id"] == chosen_rate,
            }
            for rate in rates
        ],
        cancel_url=session["cancel_url"],
        success_url=session["success_url"].replace("{CHECKOUT_SESSION_ID}", session["id"]),
        done_message=done,
        ship_to=ship_to,
        trial=trial,
    )


def portal(data: dict) -> str:
    """The hosted customer portal page for :meth:`Emulator.portal_page` data."""
    portal_session = data["portal"]
    subscriptions = []
    for sub in data["subscriptions"]:
        end = sub["items"]["data"][0]["current_period_end"]
        ending = sub["cancel_at_period_end"]
        subscriptions.append(
            {
                "name": sub["_plan_name"],
                "status": STATUS_LABELS.get(sub["status"], sub["status"].replace("_", " ")),
                "when": f"Ends on {_date(end)}." if ending else f"Renews on {_date(end)}.",
                "ending": ending,
                "action": f"/p/session/{portal_session['id']}/subscriptions/{sub['id']}",
                "switch_to": sub.get("_switch_to", []),
            }
        )
    return _ENV.get_template("portal").render(
        banner=BANNER,
        title="Your subscriptions",
        email=data["customer"].get("email"),
        subscriptions=subscriptions,
        return_url=portal_session["return_url"],
    )


def message(title: str, text: str) -> str:
    """A page with a heading and one message (not found, and the like)."""
    return _ENV.get_template("message").render(banner=BANNER, title=title, message=text)
