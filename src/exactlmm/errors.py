"""Exceptions raised for bad user input."""


class InputError(ValueError):
    """Bad user input.

    ``str(err)`` is a single line that names the offending file (when there is one) and says
    what is wrong with it, e.g. ``"pheno.txt: line 7: phenotype 'abc' is not a number"``.
    The command line prints exactly that line and exits with status 2.
    """

    def __init__(self, message: str, path: object | None = None) -> None:
        text = " ".join(str(message).split())
        if path is not None:
            text = f"{path}: {text}"
        super().__init__(text)
        self.path = path
