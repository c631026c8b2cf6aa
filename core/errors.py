"""The error hierarchy every caller (pages, CLI, API) maps to a message or status code."""


class WorkbenchError(Exception):
    """Base class for every error the workbench raises on purpose."""


class InputError(WorkbenchError):
    """The caller's input (file, form, argument) is not usable; the message says why."""


class NotFoundError(WorkbenchError):
    """A model, version, alias or run that was asked for does not exist."""


class BackendError(WorkbenchError):
    """A backend (tracking server, database, object store) failed or cannot be reached."""


class ConfigError(WorkbenchError):
    """A setting is invalid, e.g. a URL with an unknown scheme."""


class OutputError(WorkbenchError):
    """A result file cannot be written (no such folder, no permission, disk full)."""


class RefusedError(WorkbenchError):
    """The action was understood and refused: a permission, a gate, or a stale
    compare-and-set (someone else moved the thing first). Exit code 3."""


class PermissionDenied(RefusedError):
    """The actor's role does not allow the action (see :mod:`core.auth`). Exit code 3."""


class StaleAliasError(RefusedError):
    """A compare-and-set failed: the alias is no longer where the caller saw it (someone
    moved it meanwhile); the message says who moved it and when. Exit code 3."""


class GateFailed(RefusedError):
    """A promotion gate failed and the move was not forced. Exit code 3.

    Attributes:
        results: every gate's result (``core.gates.GateResult``), passed ones included.
    """

    def __init__(self, message: str, *, results: tuple[object, ...] = ()) -> None:
        super().__init__(message)
        self.results = results


class ExplanationUnavailableError(WorkbenchError):
    """The version predicts but cannot be explained (e.g. a model trained elsewhere that
    shap cannot explain without background data); the message says why. Scoring goes on
    without reasons; pages say so instead of showing contributions."""
