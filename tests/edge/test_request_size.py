"""Oversized bodies are refused with 413 before they are read, in the site's look."""

from __future__ import annotations

import io
import socket
from urllib.parse import urlsplit

LIMIT = 1024 * 1024  # the default MAX_CONTENT_LENGTH
HUGE = 400 * 1024 * 1024  # what a client claims to send; never produced in full


class CountingBody(io.RawIOBase):
    """A request body made on demand: ``size`` bytes of ``fill``, counting what was read."""

    def __init__(self, size: int, fill: bytes = b"a") -> None:
        self.size = size
        self.fill = fill
        self.read_bytes = 0

        self.position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        # The test client measures the body by seeking to its end and back.
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self.position = self.size + offset if whence == io.SEEK_END else offset
        return self.position

    def tell(self) -> int:
        return self.position

    def readinto(self, buffer) -> int:
        count = max(0, min(len(buffer), self.size - self.position, 64 * 1024))
        buffer[:count] = self.fill * count
        self.position += count
        self.read_bytes += count
        return count


def test_default_limit_is_about_a_megabyte(app):
    assert app.config["MAX_CONTENT_LENGTH"] == LIMIT
    assert app.config["MAX_FORM_MEMORY_SIZE"] <= LIMIT


def test_a_huge_webhook_is_refused_before_its_body_is_read(client):
    body = CountingBody(HUGE)
    response = client.post(
        "/webhooks/stripe",
        input_stream=body,
        content_type="application/json",
    )
    assert response.status_code == 413
    assert body.read_bytes == 0


def test_a_huge_cart_form_is_refused_in_the_site_look(client):
    body = CountingBody(HUGE, fill=b"x")
    response = client.post(
        "/cart/add",
        input_stream=body,
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 413
    assert body.read_bytes == 0
    html = response.get_data(as_text=True)
    assert "<h1>Request too large</h1>" in html
    assert 'class="site-header"' in html
    assert "(1 MB)" in html


def test_a_chunked_body_without_length_is_cut_off_at_the_limit(client):
    # Servers that decode chunked bodies (gunicorn, werkzeug) mark the input as
    # terminated; the body then has no Content-Length and only the limit stops it.
    body = CountingBody(16 * LIMIT)
    response = client.post(
        "/webhooks/stripe",
        input_stream=body,
        headers={"Transfer-Encoding": "chunked", "Content-Type": "application/json"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert response.status_code == 413
    assert body.read_bytes <= LIMIT + 64 * 1024


def test_a_chunked_form_is_cut_off_at_the_limit(client):
    body = CountingBody(16 * LIMIT, fill=b"x")
    response = client.post(
        "/cart/add",
        input_stream=body,
        headers={
            "Transfer-Encoding": "chunked",
            "Content-Type": "application/x-www-form-urlencoded",
        },
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert response.status_code == 413
    assert body.read_bytes <= LIMIT + 64 * 1024


def test_a_body_within_the_limit_still_reaches_the_webhook(client):
    response = client.post(
        "/webhooks/stripe", data=b"{" * (LIMIT // 2), content_type="application/json"
    )
    # Read and checked: no Stripe signature, so 400, not 413.
    assert response.status_code == 400
    assert response.json == {"error": "invalid signature"}


def test_the_limit_is_a_setting(app_config):
    from shop import create_app

    app_config["MAX_CONTENT_LENGTH"] = 2048
    client = create_app(app_config).test_client()
    response = client.post("/webhooks/stripe", data=b"{" * 4096, content_type="application/json")
    assert response.status_code == 413


def test_a_real_server_answers_413_without_waiting_for_the_body(live_server):
    # Only the headers are sent: a server that read the body would wait for 400 MB.
    parts = urlsplit(live_server)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(
            b"POST /webhooks/stripe HTTP/1.1\r\n"
            b"Host: " + parts.netloc.encode() + b"\r\n"
            b"Content-Type: application/json\r\n"
            b"Content-Length: " + str(HUGE).encode() + b"\r\n"
            b"Connection: close\r\n\r\n"
        )
        reply = b""
        while b"\r\n" not in reply:
            chunk = sock.recv(4096)
            if not chunk:
                break
            reply += chunk
    assert reply.split(b"\r\n", 1)[0].split(b" ")[1] == b"413"


def test_a_chunked_form_within_the_limit_is_read_whole(client):
    # Buffered by the size check and handed on complete: the item lands in the cart.
    from urllib.parse import urlencode

    from tests.factories import make_product
    from tests.store.helpers import Shopper, only_cart

    shopper = Shopper(client)
    product = make_product("Tote bag", 1500)
    body = urlencode(
        {"product_id": product.id, "quantity": 2, "csrf_token": shopper.token()}
    ).encode()
    response = client.post(
        "/cart/add",
        input_stream=io.BytesIO(body),
        headers={
            "Transfer-Encoding": "chunked",
            "Content-Type": "application/x-www-form-urlencoded",
        },
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert response.status_code == 303
    assert shopper.lines(only_cart()) == {"Tote bag": 2}
