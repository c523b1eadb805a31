"""Errors raised by the media controller, named as mediasoup names them so clients can match."""


class MediaError(Exception):
    """Base of every controller error."""


class InvalidInputError(MediaError, TypeError):
    """The caller's input is malformed: a client's mistake, never the server's.

    Still a ``TypeError``, as mediasoup raises (the ported conformance tests expect one), but a
    type of its own so that only these, and not a bug's TypeError, are answered as bad requests.
    """


class InvalidStateError(MediaError):
    """The object is closed, or the operation does not fit its current state."""


class UnsupportedError(MediaError):
    """Valid input that this router/worker cannot handle (e.g. no matching codec)."""


class WorkerError(MediaError):
    """The worker rejected a request; the message is the worker's own reason."""


class WorkerTypeError(WorkerError, InvalidInputError):
    """The worker rejected a request as malformed (its 'TypeError' reason)."""


class RequestTimeoutError(MediaError, TimeoutError):
    """The worker did not answer a request in time."""


class WorkerDiedError(InvalidStateError):
    """The worker process is gone; pending and future requests fail with this."""


class NotFoundError(WorkerError):
    """The worker does not know the id a request named."""
