"""Back-office pages for articles, tags and comments."""

from __future__ import annotations

from datetime import datetime

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

from shop.admin.blueprint import bp
from shop.articles import comments
from shop.articles import services as articles
from shop.articles.forms import ArticleForm, BodyPictureForm, TagForm
from shop.articles.models import Article, ArticleStatus, Comment, Tag
from shop.clock import format_moment
from shop.errors import RuleError
from shop.extensions import db
from shop.forms import ActionForm, require_action, show_error
from shop.media import services as media
from shop.media.uploads import accepts_upload, form_picture, read_upload, shown_picture
from shop.pagination import check_page_exists, page_arg
from shop.stories import sending as stories
from shop.urls import is_safe_next

# --- articles ------------------------------------------------------------------------


@bp.route("/articles")
def articles_list():
    """Every article, with its status."""
    status = request.args.get("status") or None
    if status is not None and status not in tuple(ArticleStatus):
        abort(404, description="There is no such status.")
    page = articles.admin_articles(page_arg(), status=status)
    check_page_exists(page)
    return render_template(
        "admin/articles.html", page=page, status=status, action_form=ActionForm()
    )


def _article_form(article: Article | None = None) -> ArticleForm:
    form = ArticleForm(obj=article)
    form.tag_ids.choices = [SelectChoice(t.id, t.name) for t in articles.all_tags()]
    if article is not None and request.method == "GET":
        form.tag_ids.data = [t.id for t in article.tags]
        form.publish_at.data = article.published_at
    return form


def _form_input(form: ArticleForm, article: Article | None = None) -> articles.ArticleInput:
    """What the author sent; an uploaded picture is stored first (MediaError if refused)."""
    image_id = form_picture(form, article.image_id if article else None)
    return articles.ArticleInput(
        title=form.title.data or "",
        summary=form.summary.data or "",
        body_markdown=form.body_markdown.data or "",
        access=form.access.data or "public",
        tag_ids=list(form.tag_ids.data or []),
        comments_from=form.comments_from.data or "members",
        image_id=image_id,
        image_alt=form.image_alt.data or "",
    )


def _after_save(article: Article, form: ArticleForm):
    """Carry out the button the author pressed: save, preview, publish or schedule."""
    action = request.form.get("action", "save")
    if action in ("publish", "publish_email"):
        at: datetime | None = form.publish_at.data
        emailing = action == "publish_email"
        already = article.email_audience is not None
        articles.publish_article(article, at, form.email_audience.data if emailing else None)
        stories.queue_email(article)
        if article.status == ArticleStatus.SCHEDULED:
            flash(f"Scheduled for {format_moment(article.published_at)}.", "success")
        else:
            flash("Published.", "success")
        if emailing and already:
            flash("This story's email was sent or is on its way; it goes only once.", "info")
        elif emailing:
            when = "when it goes live" if article.status == ArticleStatus.SCHEDULED else "now"
            flash(f"The story goes by email {when}.", "success")
    elif action == "preview":
        return redirect(url_for(".article_preview", article_id=article.id))
    else:
        flash("Saved.", "success")
    return redirect(url_for(".article_edit", article_id=article.id))


@bp.route("/articles/new", methods=["GET", "POST"])
@accepts_upload
def article_new():
    """Write a new article."""
    form = _article_form()
    if form.validate_on_submit():
        try:
            article = articles.create_article(current_user, _form_input(form))
        except RuleError as error:
            show_error(form, error)
        else:
            return _saved(article, form)
    return _form_page(form, None)


@bp.route("/articles/<int:article_id>", methods=["GET", "POST"])
@accepts_upload
def article_edit(article_id: int):
    """Edit, publish or schedule an article."""
    article = db.get_or_404(Article, article_id)
    form = _article_form(article)
    if form.validate_on_submit():
        try:
            articles.update_article(article, _form_input(form, article))
        except RuleError as error:
            db.session.rollback()
            show_error(form, error)
        else:
            return _saved(article, form)
    return _form_page(form, article)


def _saved(article: Article, form: ArticleForm):
    """The pressed button carried out; a rule it broke said on the saved article's page."""
    try:
        return _after_save(article, form)
    except articles.ArticleError as error:
        db.session.rollback()
        flash(f"Saved, but not published: {error}", "error")
        return redirect(url_for(".article_edit", article_id=article.id))


def _form_page(form: ArticleForm, article: Article | None):
    """The editor, with the picture the form holds (kept from a refused send, or saved) and
    what became of the story's email."""
    email = sizes = None
    if article is not None:
        email = stories.email_state(article)
        if email.status == "none":
            sizes = stories.audience_sizes(article)
    return render_template(
        "admin/article_form.html",
        form=form,
        article=article,
        picture=shown_picture(form, article.image if article else None),
        action_form=ActionForm(),
        email=email,
        audience_sizes=sizes,
    )


@bp.route("/media", methods=["POST"])
@accepts_upload
def body_picture():
    """Store a picture for an article's body and give back the Markdown that shows it."""
    form = BodyPictureForm()
    snippet = None
    if form.validate_on_submit():
        try:
            sent = read_upload(form.picture.data)
            if sent is None:
                raise media.MediaError("Choose a picture to upload.", "picture")
            image = media.store_upload(*sent, field="picture")
            snippet = media.body_markdown(image, form.alt.data or "")
        except RuleError as error:
            show_error(form, error)
    status = 200 if snippet else 400
    if request.accept_mimetypes.best == "application/json":
        errors = [e for f in form for e in f.errors] + list(form.form_errors)
        return ({"markdown": snippet} if snippet else {"errors": errors}), status
    return render_template("admin/body_picture.html", form=form, snippet=snippet), status


@bp.route("/articles/<int:article_id>/preview")
def article_preview(article_id: int):
    """Show an article as readers will see it, published or not."""
    article = db.get_or_404(Article, article_id)
    return render_template(
        "articles/article.html",
        article=article,
        form=None,
        preview=True,
        talk=comments.conversation(article, None),
    )


@bp.route("/articles/<int:article_id>/unpublish", methods=["POST"])
def article_unpublish(article_id: int):
    """Take an article back to draft."""
    require_action()
    article = db.get_or_404(Article, article_id)
    articles.unpublish_article(article)
    flash(f"“{article.title}” is a draft again.", "success")
    return redirect(url_for(".article_edit", article_id=article.id))


@bp.route("/articles/<int:article_id>/delete", methods=["POST"])
def article_delete(article_id: int):
    """Delete an article for good."""
    require_action()
    article = db.get_or_404(Article, article_id)
    title = article.title
    articles.delete_article(article)
    flash(f"Deleted “{title}”.", "success")
    return redirect(url_for(".articles_list"))


# --- tags ----------------------------------------------------------------------------


@bp.route("/tags", methods=["GET", "POST"])
def tags_list():
    """Every tag, and a form to add one."""
    form = TagForm()
    if form.validate_on_submit():
        try:
            tag = articles.save_tag(form.name.data, form.description.data)
        except articles.ArticleError as error:
            show_error(form, error)
        else:
            flash(f"Added the tag “{tag.name}”.", "success")
            return redirect(url_for(".tags_list"))
    return render_template(
        "admin/tags.html", tags=articles.tags_with_counts(), form=form, action_form=ActionForm()
    )


@bp.route("/tags/<int:tag_id>", methods=["GET", "POST"])
def tag_edit(tag_id: int):
    """Rename a tag or change its description."""
    tag = db.get_or_404(Tag, tag_id)
    form = TagForm(obj=tag)
    if form.validate_on_submit():
        try:
            articles.save_tag(form.name.data, form.description.data, tag=tag)
        except articles.ArticleError as error:
            db.session.rollback()
            show_error(form, error)
        else:
            flash("Saved.", "success")
            return redirect(url_for(".tags_list"))
    return render_template("admin/tag_form.html", form=form, tag=tag, action_form=ActionForm())


@bp.route("/tags/<int:tag_id>/delete", methods=["POST"])
def tag_delete(tag_id: int):
    """Delete a tag; its articles stay."""
    require_action()
    tag = db.get_or_404(Tag, tag_id)
    name = tag.name
    articles.delete_tag(tag)
    flash(f"Deleted the tag “{name}”.", "success")
    return redirect(url_for(".tags_list"))


# --- comments ------------------------------------------------------------------------


@bp.route("/comments")
def comments_list():
    """Comments, newest first, for moderation; searched and filtered by state."""
    query = request.args.get("q", "")
    state = request.args.get("state") or None
    number = page_arg()
    try:
        page = articles.recent_comments(number, query=query, state=state)
    except articles.ArticleError as error:
        abort(404, description=str(error))
    check_page_exists(page)
    return render_template(
        "admin/comments.html",
        page=page,
        query=query.strip(),
        state=state,
        states=articles.COMMENT_STATES,
        action_form=ActionForm(),
    )


def _back_to_comments():
    target = request.form.get("next")

    return redirect(target if is_safe_next(target) else url_for(".comments_list"))


@bp.route("/comments/<int:comment_id>/hide", methods=["POST"])
def comment_hide(comment_id: int):
    """Hide a comment from readers."""
    require_action()
    articles.set_comment_hidden(db.get_or_404(Comment, comment_id), True)
    flash("The comment is hidden.", "success")
    return _back_to_comments()


@bp.route("/comments/<int:comment_id>/show", methods=["POST"])
def comment_show(comment_id: int):
    """Show a hidden comment again."""
    require_action()
    articles.set_comment_hidden(db.get_or_404(Comment, comment_id), False)
    flash("The comment is visible again.", "success")
    return _back_to_comments()


@bp.route("/comments/<int:comment_id>/delete", methods=["POST"])
def comment_delete(comment_id: int):
    """Delete a comment for good."""
    require_action()
    articles.delete_comment(db.get_or_404(Comment, comment_id))
    flash("The comment is deleted.", "success")
    return _back_to_comments()


@bp.route("/comments/<int:comment_id>/approve", methods=["POST"])
def comment_approve(comment_id: int):
    """Show a held comment to everyone (a reply then mails its thread)."""
    require_action()
    try:
        comments.approve_comment(db.get_or_404(Comment, comment_id))
    except articles.ArticleError as error:
        flash(str(error), "error")
    else:
        flash("The comment is approved and shown.", "success")
    return _back_to_comments()


@bp.route("/comments/<int:comment_id>/reject", methods=["POST"])
def comment_reject(comment_id: int):
    """Refuse a held comment: it is deleted, unseen by anyone but its author."""
    require_action()
    try:
        comments.reject_comment(db.get_or_404(Comment, comment_id))
    except articles.ArticleError as error:
        flash(str(error), "error")
    else:
        flash("The comment is rejected and deleted.", "success")
    return _back_to_comments()
