"""Public pages: home, article, tag pages, comments, feeds and the sitemap."""

from __future__ import annotations

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required

from shop.articles import feeds, search, services
from shop.articles.forms import CommentForm
from shop.articles.models import Article, Tag
from shop.billing import access, offers
from shop.clock import utcnow
from shop.extensions import limiter
from shop.forms import show_error
from shop.pagination import check_page_exists, page_arg
from shop.urls import external_url

bp = Blueprint("articles", __name__)


def absolute(endpoint: str, **values: object) -> str:
    """An absolute URL on ``SITE_URL`` (feeds and sitemaps need absolute links)."""
    if endpoint.startswith("."):
        endpoint = "articles" + endpoint
    return external_url(endpoint, **values)


@bp.route("/")
def index():
    """The newest articles, paginated."""
    page = services.latest_articles(page_arg(), current_app.config["ARTICLES_PER_PAGE"])
    check_page_exists(page)
    return render_template("articles/index.html", page=page, tags=services.tags_with_counts())


@bp.route("/articles/<slug>")
def article(slug: str):
    """One article with its tags, hashtags and comments."""
    item = services.get_live_article(slug)
    if item is None:
        abort(404, description="We could not find that article.")
    return _render_article(item, CommentForm())


def _render_article(item: Article, form: CommentForm):
    """The article page, with the paywall's plans in place of a body the reader can't read."""
    readable = access.can_read(current_user, item.access)
    plans = [] if readable or item.access != "paid" else offers.plan_offers(current_user)
    return render_template(
        "articles/article.html", article=item, form=form, readable=readable, plans=plans
    )


def _comment_limit() -> str:
    return current_app.config["COMMENT_RATE_LIMIT"]


def _comment_key() -> str:
    # Per reader, not per device: a device id would give each browser a budget of its own.
    return f"comment:{current_user.id}" if current_user.is_authenticated else "comment:anon"


@bp.route("/articles/<slug>/comments", methods=["POST"])
@login_required
@limiter.limit(
    _comment_limit,
    key_func=_comment_key,
    error_message="You are commenting very fast. Wait a minute and try again.",
)
def add_comment(slug: str):
    """Post a comment (confirmed readers only)."""
    item = services.get_live_article(slug)
    if item is None:
        abort(404, description="We could not find that article.")
    form = CommentForm()
    if not current_user.is_confirmed:
        flash("Confirm your email address before commenting.", "error")
        return redirect(url_for(".article", slug=slug, _anchor="reply"))
    if form.website.data:
        # Only bots fill the hidden field; tell them nothing useful.
        flash("Your comment could not be posted.", "error")
        return redirect(url_for(".article", slug=slug, _anchor="reply"))
    if form.validate_on_submit():
        try:
            comment = services.add_comment(
                item, current_user, form.body.data, name=form.display_name.data
            )
        except services.ArticleError as error:
            show_error(form, error)
        else:
            flash("Your comment is posted.", "success")
            return redirect(url_for(".article", slug=slug, _anchor=f"comment-{comment.id}"))
    return _render_article(item, form)


@bp.route("/tags/<slug>")
def tag(slug: str):
    """Live articles with one tag."""
    item = services.get_tag(slug)
    if item is None:
        abort(404, description="We could not find that tag.")
    page = services.tag_articles(item, page_arg(), current_app.config["ARTICLES_PER_PAGE"])
    check_page_exists(page)
    return render_template("articles/tag.html", tag=item, page=page)


@bp.route("/search")
def search_page():
    """Search the stories: results ranked, with snippets; help for an empty or odd query."""
    results = search.search(
        request.args.get("q", ""),
        current_user,
        page_arg(),
        current_app.config["ARTICLES_PER_PAGE"],
    )
    if results.page is not None:
        check_page_exists(results.page)
    # Topics to try, for a query with no words or no results.
    show_tags = results.page is None or results.page.total == 0
    tags = [(t, n) for t, n in services.tags_with_counts() if n] if show_tags else []
    return render_template("articles/search.html", results=results, tags=tags)


def _atom_response(title: str, feed_url: str, articles: list[Article]) -> Response:
    updated = max((a.updated_at for a in articles), default=utcnow())
    body = feeds.atom_feed(
        title=title,
        feed_url=feed_url,
        site_url=absolute(".index"),
        articles=articles,
        article_url=lambda a: absolute(".article", slug=a.slug),
        tag_url=lambda t: absolute(".tag", slug=t.slug),
        updated=updated,
    )
    return Response(body, mimetype="application/atom+xml")


@bp.route("/feed.xml")
def feed():
    """The site's Atom feed."""
    return _atom_response(
        current_app.config["PUBLICATION_NAME"], absolute(".feed"), services.recent_live()
    )


@bp.route("/tags/<slug>/feed.xml")
def tag_feed(slug: str):
    """One tag's Atom feed."""
    item: Tag | None = services.get_tag(slug)
    if item is None:
        abort(404, description="We could not find that tag.")
    return _atom_response(
        f"{current_app.config['PUBLICATION_NAME']}: {item.name}",
        absolute(".tag_feed", slug=slug),
        services.recent_live(tag=item),
    )


@bp.route("/sitemap.xml")
def sitemap():
    """Every public page a search engine should know."""
    urls = [(absolute(".index"), None)]
    urls += [(absolute(".article", slug=a.slug), a.updated_at) for a in services.all_live()]
    urls += [(absolute(".tag", slug=t.slug), None) for t in services.all_tags()]
    return Response(feeds.sitemap(urls), mimetype="application/xml")


@bp.route("/favicon.ico")
def favicon():
    """Browsers ask for /favicon.ico on pages that name no icon (such as mail previews)."""
    return redirect(url_for("static", filename="img/favicon.svg"), code=301)


@bp.route("/robots.txt")
def robots():
    """Point crawlers at the sitemap; keep them out of the back office."""
    body = f"User-agent: *\nDisallow: /admin/\nSitemap: {absolute('.sitemap')}\n"
    return Response(body, mimetype="text/plain")
