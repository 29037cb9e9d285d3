"""Back-office pages for the catalogue: list, create and edit products and their prices."""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for

from shop import money
from shop.admin.blueprint import bp
from shop.catalogue import admin as catalogue_admin
from shop.catalogue import services as catalogue
from shop.catalogue.forms import ProductForm
from shop.catalogue.models import Product
from shop.errors import RuleError
from shop.extensions import db
from shop.forms import show_error
from shop.media.uploads import accepts_upload, form_picture, shown_picture

SYNC_HINT = "Run `flask --app wsgi stripe sync` later."


def _product_or_404(product_id: int) -> Product:
    product = catalogue.product_by_id(product_id)
    if product is None:
        abort(404)
    return product


def _form_input(form: ProductForm, product: Product | None = None) -> catalogue_admin.ProductInput:
    """The form as the service's input; the price is read into minor units here, and an
    uploaded picture stored (MediaError if refused)."""
    image_id = form_picture(form, product.image_id if product else None)
    return catalogue_admin.ProductInput(
        name=form.name.data or "",
        description=form.description.data or "",
        kind=form.kind.data or "",
        active=bool(form.active.data),
        stock=form.stock.data,
        amount=catalogue_admin.parse_price(form.amount.data),
        interval=form.interval.data or None,
        needs_shipping=bool(form.needs_shipping.data),
        trial_days=form.trial_days.data,
        image_id=image_id,
        image_alt=form.image_alt.data or "",
    )


def _push(product: Product) -> None:
    """Hand the saved product to the catalogue hook (Stripe), if one is installed.

    The product is already saved here; a failing push must not lose that, nor show a
    500: the admin is told, it is logged, and ``stripe sync`` can catch up later.
    """
    push = current_app.extensions.get("catalogue_push")
    if not push:
        flash("Saved.", "success")
        return
    product_id = product.id
    try:
        push(product)
    except Exception as error:
        db.session.rollback()
        current_app.logger.exception("Could not push product %s to Stripe", product_id)
        flash(f"Saved here, but Stripe could not be updated: {error}. {SYNC_HINT}", "warning")
    else:
        flash("Saved.", "success")


@bp.route("/products")
def products_list():
    """Every product, plans first, with its current price and stock."""
    return render_template("admin/products.html", products=catalogue.all_products())


@bp.route("/products/new", methods=["GET", "POST"])
@accepts_upload
def product_new():
    """Add a plan or a one-off item."""
    form = ProductForm()
    if form.validate_on_submit():
        try:
            product = catalogue_admin.save_product(_form_input(form))
        except RuleError as error:
            db.session.rollback()
            show_error(form, error)
        else:
            _push(product)
            return redirect(url_for(".product_edit", product_id=product.id))
    return render_template(
        "admin/product_form.html", form=form, product=None, picture=shown_picture(form, None)
    )


@bp.route("/products/<int:product_id>", methods=["GET", "POST"])
@accepts_upload
def product_edit(product_id: int):
    """Edit a product; a new amount or interval makes a new price."""
    product = _product_or_404(product_id)
    form = ProductForm(obj=product)
    if request.method == "GET" and product.price is not None:
        form.amount.data = money.format_major(product.price.amount, product.price.currency)
        form.interval.data = product.price.interval or ""
    if form.validate_on_submit():
        try:
            catalogue_admin.save_product(_form_input(form, product), product)
        except RuleError as error:
            db.session.rollback()
            show_error(form, error)
        else:
            _push(product)
            return redirect(url_for(".product_edit", product_id=product_id))
    return render_template(
        "admin/product_form.html",
        form=form,
        product=product,
        picture=shown_picture(form, product.image),
    )
