"""The one exception the emulator raises, answered over HTTP in Stripe's error format."""

from __future__ import annotations


class EmulatorError(Exception):
    """A request the emulator refuses: a Stripe-style error with an HTTP status."""

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        status: int = 400,
        error_type: str = "invalid_request_error",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code
        self.status = status
        self.type = error_type

    def body(self) -> dict:
        """The JSON body Stripe answers with: ``{"error": {...}}``."""
        return {
            "error": {
                "type": self.type,
                "message": self.message,
                "param": self.param,
                "code": self.code,
            }
        }


def missing(kind: str, object_id: str, param: str = "id", status: int = 404) -> EmulatorError:
    """Stripe's ``resource_missing`` error for an id the emulator does not hold."""
    return EmulatorError(
        f"No such {kind}: '{object_id}'", param=param, code="resource_missing", status=status
    )
