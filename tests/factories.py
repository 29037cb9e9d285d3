"""factory_boy factories for test data, saved through the app's session."""

from __future__ import annotations

from datetime import timedelta

import factory
from factory.alchemy import SQLAlchemyModelFactory

from shop.accounts.models import ROLE_ADMIN, ROLE_READER, User
from shop.articles.models import Article, ArticleStatus, Comment, Tag
from shop.articles.rendering import render_markdown
from shop.clock import utcnow
from shop.extensions import db
from shop.text import slugify

PASSWORD = "correct horse battery"


class BaseFactory(SQLAlchemyModelFactory):
    """Commit each object so the app under test sees it."""

    class Meta:
        abstract = True
        sqlalchemy_session_factory = lambda: db.session  # noqa: E731
        sqlalchemy_session_persistence = "commit"


class UserFactory(BaseFactory):
    """A confirmed reader whose password is ``PASSWORD``."""

    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"reader{n}@example.org")
    role = ROLE_READER
    confirmed_at = factory.LazyFunction(utcnow)
    password_hash = factory.LazyFunction(lambda: _hash(PASSWORD))


def _hash(password: str) -> str:
    user = User()
    user.set_password(password)
    return user.password_hash


class AdminFactory(UserFactory):
    """A confirmed admin."""

    email = factory.Sequence(lambda n: f"editor{n}@example.org")
    role = ROLE_ADMIN


class TagFactory(BaseFactory):
    """A tag."""

    class Meta:
        model = Tag

    name = factory.Sequence(lambda n: f"Topic {n}")
    slug = factory.LazyAttribute(lambda o: slugify(o.name))
    description = ""


class ArticleFactory(BaseFactory):
    """A published public article, an hour old."""

    class Meta:
        model = Article

    title = factory.Sequence(lambda n: f"Story number {n}")
    slug = factory.LazyAttribute(lambda o: slugify(o.title))
    summary = "A short summary."
    body_markdown = "Some **bold** reporting."
    body_html = factory.LazyAttribute(lambda o: render_markdown(o.body_markdown))
    author = factory.SubFactory(AdminFactory)
    status = ArticleStatus.PUBLISHED
    access = "public"
    published_at = factory.LazyFunction(lambda: utcnow() - timedelta(hours=1))

    @factory.post_generation
    def tags(self, create, extracted, **kwargs):
        """Attach the given tags."""
        if extracted:
            self.tags = list(extracted)
            db.session.commit()


class CommentFactory(BaseFactory):
    """A visible comment."""

    class Meta:
        model = Comment

    article = factory.SubFactory(ArticleFactory)
    author = factory.SubFactory(UserFactory)
    body = "Good piece."


# --- catalogue -----------------------------------------------------------------------

from shop.catalogue.models import KIND_ITEM, Price, Product  # noqa: E402


class ProductFactory(BaseFactory):
    """An active one-off item with no stock limit (add a price with PriceFactory)."""

    class Meta:
        model = Product

    name = factory.Sequence(lambda n: f"Product {n}")
    slug = factory.LazyAttribute(lambda o: slugify(o.name))
    description = "A fine thing."
    kind = KIND_ITEM
    active = True
    stock = None


class PriceFactory(BaseFactory):
    """An active one-off price in US dollars."""

    class Meta:
        model = Price

    product = factory.SubFactory(ProductFactory)
    amount = 1000
    currency = "usd"
    interval = None
    active = True


def make_product(
    name: str,
    amount: int,
    kind: str = KIND_ITEM,
    interval: str | None = None,
    stock: int | None = None,
    currency: str = "usd",
    active: bool = True,
    needs_shipping: bool = False,
) -> Product:
    """A product with one active price, committed."""
    product = ProductFactory(
        name=name, kind=kind, stock=stock, active=active, needs_shipping=needs_shipping
    )
    PriceFactory(product=product, amount=amount, currency=currency, interval=interval)
    db.session.refresh(product)
    return product


from shop.billing.models import Subscription  # noqa: E402


def make_paying(user: User, days: int = 20) -> Subscription:
    """An active subscription for the reader, as Stripe's webhooks would have mirrored it."""
    subscription = Subscription(
        user_id=user.id,
        stripe_subscription_id=f"sub_{user.id}",
        stripe_customer_id=f"cus_{user.id}",
        status="active",
        current_period_end=utcnow() + timedelta(days=days),
    )
    db.session.add(subscription)
    db.session.commit()
    return subscription


from shop.cart.models import Order, OrderLine, OrderStatus  # noqa: E402
from shop.shipping.models import Shipment  # noqa: E402


def make_paid_order(
    user: User, product: Product, quantity: int = 1, posted: bool = False, currency: str = "usd"
) -> Order:
    """A paid one-off order of ``product`` for ``user``, posted if asked; committed."""
    unit = product.price.amount
    order = Order(
        user_id=user.id,
        status=OrderStatus.PAID,
        mode="payment",
        currency=currency,
        total=unit * quantity,
        cart_version=1,
        paid_at=utcnow(),
    )
    order.lines.append(
        OrderLine(product_id=product.id, name=product.name, unit_amount=unit, quantity=quantity)
    )
    db.session.add(order)
    db.session.flush()
    if posted:
        db.session.add(
            Shipment(
                order_id=order.id,
                name=user.name or "A reader",
                line1="12 Mill Lane",
                city="Leeds",
                postal_code="LS1 4AB",
                country="GB",
                rate_name="Standard post",
                amount=300,
            )
        )
    db.session.commit()
    return order
