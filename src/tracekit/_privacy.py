"""What may leave the process: secret scrubbing, PII masking, media placeholders, content modes.

Scrubbing runs while values are snapshotted (``to_jsonable``), so the text is walked once and
nothing unscrubbed is ever stored on a span, queued or exported.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

# Content modes, as levels: a capture happens when the mode's level is at least what it needs.
NONE, METADATA, REDACTED, FULL = 0, 1, 2, 3
CONTENT_MODES: Final = {"none": NONE, "metadata": METADATA, "redacted": REDACTED, "full": FULL}

# Provider key shapes and other credentials, found wherever they appear in text. Each has
# literal markers: a pattern runs only on text containing one of them, because a regex scan
# costs about 30 µs per KB while a substring test costs well under one.
SECRET_PATTERNS: Final[dict[str, str]] = {
    "pem_private_key": (
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----[\s\S]*?"
        r"-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----"
    ),
    "anthropic_api_key": r"(?<![\w-])sk-ant-[A-Za-z0-9_\-]{16,}",
    "openai_api_key": r"(?<![\w-])sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{16,}",
    "bearer_token": r"(?<!\w)(?i:bearer)\s+[A-Za-z0-9._~+/=\-]{12,}",
    "jwt": r"(?<![\w-])eyJ[A-Za-z0-9_\-]{6,}\.eyJ[A-Za-z0-9_\-]{6,}\.[A-Za-z0-9_\-]{6,}",
    "aws_access_key_id": r"(?<![A-Z0-9])(?:AKIA|ASIA)[0-9A-Z]{16}(?![A-Z0-9])",
    "github_token": r"(?<!\w)gh[pousr]_[A-Za-z0-9]{30,}",
    "google_api_key": r"(?<!\w)AIza[0-9A-Za-z_\-]{35}",
    "slack_token": r"(?<!\w)xox[abposr]-[A-Za-z0-9\-]{10,}",
}
_SECRET_MARKERS: Final[dict[str, tuple[str, ...]]] = {
    "pem_private_key": ("PRIVATE KEY-----",),
    "anthropic_api_key": ("sk-ant-",),
    "openai_api_key": ("sk-",),
    "bearer_token": ("earer", "EARER"),
    "jwt": ("eyJ",),
    "aws_access_key_id": ("AKIA", "ASIA"),
    "github_token": ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"),  # not "gh": half of English has it
    "google_api_key": ("AIza",),
    "slack_token": ("xox",),
}

# Keys whose values are credentials whatever they look like. Matched on the key's end, so
# "max_tokens" or "input_tokens" (counts) are not secrets while "access_token" is.
SECRET_KEY_PATTERN: Final = (
    r"(?i)(?:^|[_\-.\s])(?:api[_\-]?key|apikey|x[_\-]api[_\-]key|access[_\-]?key|secret"
    r"|secret[_\-]?key|client[_\-]?secret|password|passwd|passphrase|pwd|private[_\-]?key"
    r"|authorization|proxy[_\-]authorization|auth|auth[_\-]?token|access[_\-]?token"
    r"|refresh[_\-]?token|id[_\-]?token|bearer|token|cookie|set[_\-]?cookie|session"
    r"|session[_\-]?(?:id|key|token)|credentials?)$"
)


def _luhn_ok(digits: str) -> bool:
    numbers = [int(c) for c in digits if c.isdigit()]
    if not 13 <= len(numbers) <= 19:
        return False
    total = 0
    for i, digit in enumerate(reversed(numbers)):
        doubled = digit * 2 if i % 2 else digit
        total += doubled - 9 if doubled > 9 else doubled
    return total % 10 == 0


def _iban_ok(text: str) -> bool:
    compact = re.sub(r"\s", "", text).upper()
    if not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    digits = "".join(str(int(c, 36)) for c in rearranged)
    return int(digits) % 97 == 1


def _always(_: str) -> bool:
    return True


# Opt-in personal-data maskers: name -> (pattern, validator of a candidate match).
PII_MASKERS: Final[dict[str, tuple[str, Callable[[str], bool]]]] = {
    "email": (r"\b[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}\b", _always),
    "credit_card": (r"\b(?:\d[ \-]?){12,18}\d\b", _luhn_ok),
    "iban": (r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b", _iban_ok),
    "phone": (r"(?<![\w+])\+?\d{1,3}[ .\-]?\(?\d{2,4}\)?[ .\-]?\d{3,4}[ .\-]?\d{3,4}\b", _always),
    "ip_address": (
        r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b"
        r"|\b(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}\b",
        _always,
    ),
}

_PII_MARKERS: Final[dict[str, tuple[str, ...]]] = {"email": ("@",), "ip_address": (".", ":")}

_DATA_URL = re.compile(r"^data:([\w.+\-]+/[\w.+\-]+)?(?:;[\w=.\-]+)*;base64,", re.ASCII)
_BASE64 = re.compile(r"[A-Za-z0-9+/\-_\s]+={0,2}", re.ASCII)
MEDIA_MIN_CHARS = 1024  # shorter base64 is more likely an id than a file


class Privacy:
    """The compiled privacy policy applied to every captured string and key."""

    def __init__(
        self,
        *,
        scrub_secrets: bool = True,
        secret_patterns: Mapping[str, str] | None = None,
        exempt_keys: Iterable[str] = (),
        mask: Iterable[str] = (),
        keep_media: bool = False,
    ) -> None:
        mask = tuple(mask)
        # (name, markers or None, compiled pattern, validator or None), applied in order.
        self._checks: list[tuple[str, tuple[str, ...] | None, re.Pattern[str], Any]] = []
        try:
            if scrub_secrets:
                for name, pattern in SECRET_PATTERNS.items():
                    self._checks.append((name, _SECRET_MARKERS[name], re.compile(pattern), None))
            for name, pattern in (secret_patterns or {}).items():
                self._checks.append((name, None, re.compile(pattern), None))
        except re.error as exc:
            raise ValueError(f"invalid secret pattern: {exc}") from None
        for name in mask:
            if name not in PII_MASKERS:
                known = ", ".join(PII_MASKERS)
                raise ValueError(f"unknown masker {name!r}; known: {known}")
            pattern, validator = PII_MASKERS[name]
            markers = _PII_MARKERS.get(name)
            self._checks.append((name, markers, re.compile(pattern), validator))
        # Markers grouped by a gate: a character of theirs that prose rarely holds. A one-char
        # test is a memchr (tens of ns per KB), so most markers cost nothing on most text;
        # markers of common letters only are tested directly.
        gated: dict[str, list[tuple[str, int]]] = {}
        self._ungated: list[tuple[str, int]] = []
        for index, (_, markers, _, _) in enumerate(self._checks):
            for marker in markers or ():
                gate = next((c for c in _GATES if c in marker), None)
                group = self._ungated if gate is None else gated.setdefault(gate, [])
                group.append((marker, index))
        self._gated = list(gated.items())
        # Every check has markers (user patterns and maskers have none): text with no marker
        # is left as it is without running a pattern.
        self._all_markered = all(markers for _, markers, _, _ in self._checks)
        self._keys = re.compile(SECRET_KEY_PATTERN) if scrub_secrets else None
        self._exempt = {k.lower() for k in exempt_keys}
        self._key_cache: dict[str, bool] = {}
        self.keep_media = keep_media
        self.active = bool(self._checks or self._keys is not None or not keep_media)
        # The shortest built-in credential shape is 14 characters (xoxb- plus 10): shorter
        # strings (ids, model names, counts as text) skip the scan. User patterns and PII
        # maskers can match shorter text.
        self._min_len = 14 if not secret_patterns and not mask else 5

    def secret_key(self, key: str) -> bool:
        """Whether values under ``key`` are credentials (cached per key)."""
        found = self._key_cache.get(key)
        if found is None:
            found = (
                self._keys is not None
                and key.lower() not in self._exempt
                and self._keys.search(key) is not None
            )
            if len(self._key_cache) < 10_000:
                self._key_cache[key] = found
        return found

    def text(self, value: str) -> str:
        """Scrub secrets, mask PII and replace embedded media in one string."""
        if len(value) < self._min_len:
            return value
        if not self.keep_media and len(value) >= MEDIA_MIN_CHARS:
            placeholder = media_placeholder(value)
            if placeholder is not None:
                return placeholder
        hits = self._marker_hits(value)
        if not hits and self._all_markered:
            return value
        for index, (name, markers, pattern, validator) in enumerate(self._checks):
            if markers is not None and index not in hits:
                continue
            value = pattern.sub(_Replacement(name, validator), value)
        return value

    def _marker_hits(self, value: str) -> list[int]:
        """The checks whose markers occur in ``value``."""
        hits = []
        for marker, index in self._ungated:
            if marker in value:
                hits.append(index)
        for gate, markers in self._gated:
            if gate in value:
                for marker, index in markers:
                    if marker in value:
                        hits.append(index)
        return hits


# Characters that ordinary text rarely holds, rarest first: a marker's first one of these is
# its gate (see Privacy.__init__).
_GATES: Final = "_JKQXZjqzx-"


class _Replacement:
    """The marker for one kind of match, after its validator (checksums) agrees."""

    __slots__ = ("marker", "validator")

    def __init__(self, name: str, validator: Callable[[str], bool] | None) -> None:
        self.marker = f"[REDACTED:{name}]"
        self.validator = validator

    def __call__(self, match: re.Match[str]) -> str:
        if self.validator is not None and not self.validator(match.group(0)):
            return match.group(0)
        return self.marker


def media_placeholder(value: str, media_type: str | None = None) -> str | None:
    """A short stand-in for a base64 image, audio clip or file, or None if ``value`` is not one."""
    header = _DATA_URL.match(value)
    if header is not None:
        media_type = header.group(1) or media_type
        payload = value[header.end() :]
    elif _looks_like_base64(value):
        payload = value
    else:
        return None
    size = len(payload) * 3 // 4
    digest = hashlib.sha256(payload.encode("ascii", "replace")).hexdigest()[:16]
    return f"<media {media_type or 'base64'} {size} bytes sha256:{digest}>"


def _looks_like_base64(value: str) -> bool:
    # Encoded binary is long, unbroken and mixes cases and digits; long runs of one letter or
    # of lower-case words are not media.
    head = value[:4096]
    if _BASE64.fullmatch(head) is None:
        return False
    if not (any(c.isdigit() for c in head) and any(c.isupper() for c in head)):
        return False
    if not any(c.islower() for c in head):
        return False
    return _BASE64.fullmatch(value) is not None


def is_metadata_attribute(key: str) -> bool:
    """Attributes that describe a call without its content (kept in every content mode)."""
    return key in _METADATA_KEYS or key.startswith(_SAFE)


def dropped_content_attributes(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """What survives when a span's content is dropped: timings, model, usage, tool names."""
    kept = {k: v for k, v in attributes.items() if is_metadata_attribute(k)}
    calls = attributes.get("tracekit.tool_calls")
    if isinstance(calls, list):
        kept["tracekit.tool_calls"] = [
            {"id": c.get("id"), "name": c.get("name")} for c in calls if isinstance(c, dict)
        ]
    return kept


_METADATA_KEYS = frozenset(
    {
        "gen_ai.operation.name",
        "gen_ai.provider.name",
        "gen_ai.request.model",
        "gen_ai.response.model",
        "gen_ai.response.id",
        "gen_ai.response.finish_reasons",
        "gen_ai.request.stream",
        "gen_ai.request.max_tokens",
        "gen_ai.request.temperature",
        "gen_ai.request.top_p",
        "gen_ai.embeddings.dimension.count",
        "http.response.status_code",
        "error.type",
        "tracekit.request_id",
    }
)
_SAFE = ("tracekit.stream.", "tracekit.generator.", "tracekit.error.")
