"""The one exception type users and the CLI need to catch."""


class ReciproCamError(Exception):
    """A problem with the user's input (model, target, image, file) that has a one-line cause.

    detail: what a lower layer said (OpenVINO's frontend text, say), for `ov-reciprocam --debug`; the message
    itself never needs it.
    """

    def __init__(self, message: str, detail: str | None = None) -> None:
        super().__init__(message)
        self.detail = detail
