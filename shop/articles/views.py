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

from shop import caching
from shop.articles import comments, feeds, replies, search, services
from shop.articles.forms import CommentForm, EditCommentForm
from shop.articles.models import Article, Comment, Tag
from shop.billing import access, offers
from shop.clock import utcnow
from shop.extensions import csrf, db, limiter
from shop.forms import parse_row_id, require_action, show_error
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
    # The form builds no token of its own: the page's csrf_token() fills its field, a hole
    # in a shared page body (shop/pagecache/personal.py), and the edge checks every POST.
    return _render_article(item, CommentForm(meta={"csrf": False}))


def _render_article(item: Article, form: CommentForm, opened: dict | None = None):
    """The article page, with the paywall's plans in place of a body the reader can't read.

    ``opened`` is a reply or edit form sent back with its text and its error.
    """
    readable = access.can_read(current_user, item.access)
    plans = [] if readable or item.access != "paid" else offers.plan_offers(current_user)
    if plans and current_user.is_authenticated:
        # The offers depend on this reader's past trials, which no page variant says.
        caching.mark_personal()
    return render_template(
        "articles/article.html",
        article=item,
        form=form,
        readable=readable,
        plans=plans,
        talk=comments.conversation(item, current_user),
        refusal=comments.comment_refusal(current_user, item),
        opened=opened,
        edit_minutes=current_app.config["COMMENT_EDIT_MINUTES"],
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
    refusal = comments.comment_refusal(current_user, item)
    if refusal is not None:
        flash(refusal, "error")
        return redirect(url_for(".article", slug=slug, _anchor="reply"))
    if form.website.data:
        # Only bots fill the hidden field; tell them nothing useful.
        flash("Your comment could not be posted.", "error")
        return redirect(url_for(".article", slug=slug, _anchor="reply"))
    raw_parent = (form.parent_id.data or "").strip()
    parent_id = parse_row_id(raw_parent) if raw_parent else None
    if raw_parent and parent_id is None:
        # A reply form altered by hand: say so, keep the text, post nothing.
        form.body.errors = ["The comment you replied to is no longer there."]
    elif form.validate_on_submit():
        try:
            comment = comments.add_comment(
                item, current_user, form.body.data, name=form.display_name.data, parent_id=parent_id
            )
        except services.ArticleError as error:
            show_error(form, error)
        else:
            if comment.held:
                flash("Thank you. Your comment will appear once a moderator approves it.", "info")
            else:
                posted = "Your reply is posted." if parent_id else "Your comment is posted."
                flash(posted, "success")
            return redirect(url_for(".article", slug=slug, _anchor=f"comment-{comment.id}"))
    if parent_id is not None and comments.can_reply_to(item, parent_id, current_user):
        # The reply form under that comment opens again, with the text and the reason.
        opened = {"kind": "reply", "id": parent_id, "body": form.body.data or ""}
        opened["error"] = " ".join(form.body.errors or form.display_name.errors or [])
        return _render_article(item, CommentForm(formdata=None), opened)
    return _render_article(item, form)


def _own_comment(comment_id: int) -> Comment:
    """A comment on a live article, or 404; another reader's comment is 403."""
    comment = db.get_or_404(Comment, comment_id)
    if not comment.article.is_live():
        abort(404, description="We could not find that comment.")
    if comment.author_id != current_user.id:
        abort(403, description="You can only change your own comments.")
    return comment


@bp.route("/comments/<int:comment_id>/edit", methods=["POST"])
@login_required
def comment_edit(comment_id: int):
    """Save a new text for one's own recent comment."""
    comment = _own_comment(comment_id)
    slug = comment.article.slug
    form = EditCommentForm()
    if form.validate_on_submit():
        try:
            comments.edit_comment(comment, current_user, form.body.data)
        except services.ArticleError as error:
            db.session.rollback()
            form.body.errors = [str(error)]
        else:
            flash("Your comment is saved.", "success")
            return redirect(url_for(".article", slug=slug, _anchor=f"comment-{comment.id}"))
    opened = {"kind": "edit", "id": comment.id, "body": form.body.data or ""}
    opened["error"] = " ".join(form.body.errors) or "Your comment could not be saved."
    return _render_article(comment.article, CommentForm(formdata=None), opened)


@bp.route("/comments/<int:comment_id>/delete", methods=["POST"])
@login_required
def comment_delete(comment_id: int):
    """Delete one's own recent comment."""
    require_action()
    comment = _own_comment(comment_id)
    slug, anchor = comment.article.slug, f"comment-{comment.id}"
    try:
        comments.delete_own_comment(comment, current_user)
    except services.ArticleError as error:
        db.session.rollback()
        flash(str(error), "error")
        return redirect(url_for(".article", slug=slug, _anchor=anchor))
    flash("Your comment is deleted.", "success")
    return redirect(url_for(".article", slug=slug, _anchor="comments"))


@bp.route("/replies/unsubscribe/<token>", methods=["GET", "POST"])
@csrf.exempt  # RFC 8058: mail clients POST with no session and no CSRF token
@limiter.exempt
def thread_unsubscribe(token: str):
    """GET: a page with one button. POST: one-click, no more mail about this thread."""
    try:
        if request.method == "GET":
            top = replies.thread_for_token(token)
        else:
            top = replies.mute_thread(token)
    except replies.ThreadTokenError as error:
        abort(400, description=str(error))
    return render_template(
        "articles/thread_unsubscribe.html",
        token=token,
        article=top.article if top is not None else None,
        done=request.method == "POST",
    )


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
    """Every public page a search engine should know; past the limit, an index of parts."""
    urls = [(absolute(".index"), None)]
    urls += [(absolute(".article", slug=s), updated) for s, updated in services.live_addresses()]
    urls += [(absolute(".tag", slug=slug), None) for slug in services.tag_slugs()]
    size = max(1, current_app.config["SITEMAP_MAX_URLS"])
    parts = -(-len(urls) // size)
    raw = request.args.get("part")
    if raw is None:
        if parts <= 1:
            return Response(feeds.sitemap(urls), mimetype="application/xml")
        links = [absolute(".sitemap", part=n) for n in range(1, parts + 1)]
        return Response(feeds.sitemap_index(links), mimetype="application/xml")
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= parts:
        abort(404, description="There is no such sitemap.")
    start = (int(raw) - 1) * size
    return Response(feeds.sitemap(urls[start : start + size]), mimetype="application/xml")


@bp.route("/favicon.ico")
def favicon():
    """Browsers ask for /favicon.ico on pages that name no icon (such as mail previews)."""
    return redirect(url_for("static", filename="img/favicon.svg", fingerprint=False), code=301)


@bp.route("/robots.txt")
def robots():
    """Point crawlers at the sitemap; keep them out of the back office."""
    body = f"User-agent: *\nDisallow: /admin/\nSitemap: {absolute('.sitemap')}\n"
    return Response(body, mimetype="text/plain")
