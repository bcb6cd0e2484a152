"""One exception tree for everything the aggregator raises on purpose.

Library errors are wrapped where they enter (fetch, parse, store, relay) so that the
update loop can record a failing source and go on; any other exception is a bug.
"""

from __future__ import annotations

from collections.abc import Sequence


class AggregatorError(Exception):
    """Base of every error the aggregator raises knowingly."""

    def __init__(self, message: str, *, url: str | None = None, target: str | None = None):
        super().__init__(message)
        self.message = message
        self.url = url
        self.target = target

    def __str__(self) -> str:
        return self.message


class ConfigError(AggregatorError):
    """Invalid configuration: carries the file, line and field at fault."""

    def __init__(self, message: str, *, file: str, line: int | None = None, field: str | None = None):
        where = file if line is None else f"{file}:{line}"
        text = f"{where}: {field}: {message}" if field else f"{where}: {message}"
        super().__init__(text)
        self.file = file
        self.line = line
        self.field = field

    @property
    def errors(self) -> list[ConfigError]:
        """Every problem this error stands for (one here; ``ConfigErrors`` holds several)."""
        return [self]


class ConfigErrors(ConfigError):
    """Every problem of one file at once, in the file's order: one fix-and-retry, not ten.

    Its text is one line per problem; ``file``, ``line`` and ``field`` are the first one's.
    """

    def __init__(self, errors: Sequence[ConfigError]):
        if not errors:
            raise ValueError("ConfigErrors needs at least one error")
        first = errors[0]
        AggregatorError.__init__(self, "\n".join(str(e) for e in errors))
        self.file, self.line, self.field = first.file, first.line, first.field
        self._errors = list(errors)

    @property
    def errors(self) -> list[ConfigError]:
        return list(self._errors)


class UsageError(AggregatorError):
    """The operator asked for something that cannot be (a busy port, an unknown slug).

    The command prints the message as it is, one line saying what to do, and exits 2.
    """


class RequestFailed(AggregatorError):
    """A request to another server failed: what the crawler and the federation both need to
    decide when to try again. ``permanent`` says that the same request will not succeed
    later; ``retry_after`` carries the server's wish, in seconds."""

    def __init__(
        self,
        message: str,
        *,
        url: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
        permanent: bool = False,
    ):
        super().__init__(message, url=url)
        self.status = status
        self.retry_after = retry_after
        self.permanent = permanent


class FetchError(RequestFailed):
    """A source could not be retrieved (network, HTTP status, limits, policy); ``permanent``
    for 410 Gone: the source is disabled instead of retried."""


class BlockedAddressError(FetchError):
    """The target resolves to a private, loopback or link-local address."""


class TooLargeError(FetchError):
    """The body exceeded the size cap after decompression."""


class ParseError(AggregatorError):
    """The retrieved document is not a feed we can read."""


class StoreError(AggregatorError):
    """The database refused or lost an operation."""


class SearchQueryError(AggregatorError):
    """A search query could not be understood; the message is meant for readers."""


class SearchIndexError(AggregatorError):
    """The search index could not be opened or written (locked by another process, damaged)."""


class RelayError(AggregatorError):
    """A relay target refused or failed a post."""

    def __init__(
        self,
        message: str,
        *,
        target: str | None = None,
        url: str | None = None,
        retry_after: float | None = None,
        permanent: bool = False,
    ):
        super().__init__(message, url=url, target=target)
        self.retry_after = retry_after
        self.permanent = permanent


class OperationError(AggregatorError):
    """An operator's command (backup, restore) cannot do what was asked; the message says why and what to do."""


class FederationError(AggregatorError):
    """Base of the ActivityPub errors (signatures, remote servers, our inbox's refusals)."""


class SignatureError(FederationError):
    """An HTTP Signature could not be verified: the request must be refused (401)."""


class MissingSignatureError(SignatureError):
    """The request carries no signature (or not the covered components we require)."""


class BadSignatureError(SignatureError):
    """The signature is malformed, uses an unknown algorithm, or does not match the key."""


class DigestMismatchError(SignatureError):
    """The body's digest differs from the signed ``Digest``/``Content-Digest`` header."""


class SignatureWindowError(SignatureError):
    """The signed ``Date``/``created`` is outside the accepted window (a replay or a bad clock)."""


class UnknownKeyError(SignatureError):
    """The signing key could not be fetched or read."""


class RemoteError(FederationError, RequestFailed):
    """A request to another fediverse server failed; ``permanent`` for a 4xx other than
    401, 408 and 429, or a refused address."""


class TemporaryRemoteError(RemoteError):
    """Worth retrying later: network failure, timeout, 5xx, 429."""


class PermanentRemoteError(RemoteError):
    """Not worth retrying: 4xx, gone, refused address, not an ActivityPub document."""

    def __init__(self, message: str, *, url: str | None = None, status: int | None = None):
        super().__init__(message, url=url, status=status, permanent=True)


class InboxRejected(FederationError):
    """Our inbox refuses a POST; ``status`` is the HTTP status to answer, ``reason`` a short code."""

    status = 400

    def __init__(self, message: str, *, reason: str, retry_after: float | None = None):
        super().__init__(message)
        self.reason = reason
        self.retry_after = retry_after


class MalformedActivityError(InboxRejected):
    """Not JSON, not an object, or not an activity shape we know (400)."""

    status = 400


class ActivityTooLargeError(InboxRejected):
    """The body exceeds the inbox's cap (413)."""

    status = 413


class UnauthenticatedActivityError(InboxRejected):
    """Unsigned, mis-signed, out of window, or the actor is not the signer (401)."""

    status = 401


class BlockedDomainError(InboxRejected):
    """The sender's domain is blocked by the operator (403)."""

    status = 403


class RateLimitedError(InboxRejected):
    """Too many requests from this remote host (429, with ``retry_after``)."""

    status = 429


class MethodNotAllowedError(InboxRejected):
    """Only POST reaches an inbox (405)."""

    status = 405


class DigestError(AggregatorError):
    """The daily newsletter could not do what was asked (see ``aggregator/digest``)."""


class AddressError(DigestError):
    """A stranger's e-mail address was refused; ``reason`` is a stable code for the web form.

    Codes: ``empty``, ``too_long``, ``control`` (a control character or line break, as in
    header injection), ``syntax`` (anything the validator refuses; the message says what).
    """

    def __init__(self, message: str, *, reason: str):
        super().__init__(message)
        self.reason = reason


class TokenError(DigestError):
    """A confirmation, unsubscribe or preferences token was refused.

    ``reason`` is ``malformed``, ``forged`` (wrong signature, purpose or subscriber) or
    ``expired``; pages answer all three the same way to strangers.
    """

    def __init__(self, message: str, *, reason: str):
        super().__init__(message)
        self.reason = reason


class MailError(DigestError):
    """An SMTP exchange failed; ``kind`` says what the delivery loop does about it.

    - ``temporary``: 4xx, a lost or refused connection, a timeout: retry with back-off;
    - ``refused``: the recipient's address is permanently refused (5xx on that address):
      the address is suppressed;
    - ``rejected``: this message was refused for good (5xx not about the address, e.g.
      too big, policy): the delivery fails, the address stays;
    - ``config``: our side is wrong (authentication, STARTTLS missing, certificate,
      sender refused): nothing can succeed until the operator acts; the round stops and
      no attempt is counted.
    """

    def __init__(self, message: str, *, kind: str, code: int | None = None, stage: str | None = None):
        super().__init__(message)
        self.kind = kind
        self.code = code
        self.stage = stage


class InvalidSuggestion(AggregatorError):
    """A reader's suggested address cannot be used (``/suggest``); the message is shown to them, translated."""


class FeedRequestError(AggregatorError):
    """The feed generator refuses an XRPC call (``aggregator/feedgen``).

    ``name`` is the XRPC error name the answer carries (``UnknownFeed``, ``InvalidRequest``,
    ``AuthenticationRequired``…) and ``status`` its HTTP status.
    """

    def __init__(self, message: str, *, name: str, status: int = 400):
        super().__init__(message)
        self.name = name
        self.status = status
