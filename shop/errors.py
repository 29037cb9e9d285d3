"""The error every service raises when a rule is broken."""


class RuleError(ValueError):
    """A rule was broken; ``field`` names the form field it belongs to, if any."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field
