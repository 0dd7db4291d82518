"""The one exception type users and the CLI need to catch."""


class ReciproCamError(Exception):
    """A problem with the user's input (model, target, image, file) that has a one-line cause."""
