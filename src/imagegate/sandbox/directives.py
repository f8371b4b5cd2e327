"""Fault directives: ``[sandbox:NAME]`` or ``[sandbox:NAME=VALUE]`` tokens in a prompt.

The same names are used by the control endpoint (``POST /_sandbox/faults`` with ``"fault": "429=1.5"``),
so both entry points share :func:`parse_fault` and :func:`plan_faults`. Everything here is pure.

How several directives combine (see docs/sandbox.md):
- ``slow`` only adds a delay, so it combines with anything (delays add up);
- of every other directive, the first one wins (control-endpoint faults come before prompt ones).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

__all__ = [
    "DIRECTIVE_NAMES",
    "Directive",
    "DirectiveError",
    "FaultKind",
    "FaultPlan",
    "find_directives",
    "parse_fault",
    "plan_faults",
]

# Case-insensitive so "[Sandbox:429]" is not silently ignored; the value may hold anything but "]".
_DIRECTIVE_RE = re.compile(r"\[sandbox:([a-z0-9_-]+)(?:=([^\]]*))?\]", re.IGNORECASE)

# Upper bound for numeric values: a typo like slow=3000 must not tie up a test run for an hour.
_MAX_SECONDS = 600.0

_MAX_COUNT = 100
DEFAULT_SLOW_SECONDS = 1.0
DEFAULT_RETRY_AFTER_SECONDS = 1.0


class FaultKind(Enum):
    """How a directive changes the answer; the provider module turns it into its own wire shape."""

    DELAY = "delay"  # slow: answer later, otherwise normally
    ERROR = "error"  # an HTTP error in the provider's error shape
    TRANSPORT = "transport"  # hang, reset: no HTTP response at all
    BODY = "body"  # truncated, malformed, stream-error: a 200 that is broken


@dataclass(frozen=True)
class _Spec:
    kind: FaultKind
    value: str  # "none", "seconds", "stage" or "count"


_SPECS: dict[str, _Spec] = {
    "moderation": _Spec(FaultKind.ERROR, "stage"),
    "429": _Spec(FaultKind.ERROR, "seconds"),
    "quota": _Spec(FaultKind.ERROR, "none"),
    "401": _Spec(FaultKind.ERROR, "none"),
    "500": _Spec(FaultKind.ERROR, "none"),
    "502": _Spec(FaultKind.ERROR, "none"),
    "503": _Spec(FaultKind.ERROR, "none"),
    "slow": _Spec(FaultKind.DELAY, "seconds"),
    "hang": _Spec(FaultKind.TRANSPORT, "none"),
    "reset": _Spec(FaultKind.TRANSPORT, "none"),
    "truncated": _Spec(FaultKind.BODY, "none"),
    "malformed": _Spec(FaultKind.BODY, "none"),
    "stream-error": _Spec(FaultKind.BODY, "none"),
    # OpenAI Responses only: a 200 whose image_generation_call failed (moderation_blocked).
    "moderation-item": _Spec(FaultKind.BODY, "none"),
    # Google only (other providers answer normally): a 200 without the image.
    "no-image": _Spec(FaultKind.BODY, "none"),  # Gemini finishReason NO_IMAGE with a text part
    "prohibited": _Spec(FaultKind.BODY, "none"),  # Gemini finishReason PROHIBITED_CONTENT
    "filtered": _Spec(FaultKind.BODY, "none"),  # Imagen: the last image replaced by raiFilteredReason
    # Submit-and-poll hosts only (BFL, fal, Replicate): what the accepted task does.
    "polls": _Spec(FaultKind.DELAY, "count"),  # answer "still running" this many times before the result
    "never-finish": _Spec(FaultKind.BODY, "none"),  # the task stays running until cancelled
    "task-error": _Spec(FaultKind.BODY, "none"),  # the task ends in the host's error status
    "expired": _Spec(FaultKind.BODY, "none"),  # the result URL has already expired when fetched
}

DIRECTIVE_NAMES: tuple[str, ...] = tuple(_SPECS)


class DirectiveError(ValueError):
    """An unknown directive name or a value it does not accept."""


@dataclass(frozen=True)
class Directive:
    """One parsed directive. ``seconds`` is set for slow/429, ``stage`` for moderation, ``count`` for polls."""

    name: str
    seconds: float | None = None
    stage: str | None = None
    count: int | None = None

    @property
    def kind(self) -> FaultKind:
        """The class of effect this directive has."""
        return _SPECS[self.name].kind

    def label(self) -> str:
        """The directive written back in its ``NAME[=VALUE]`` form (for logs and listings)."""
        if self.seconds is not None:
            return f"{self.name}={self.seconds:g}"
        if self.stage is not None:
            return f"{self.name}={self.stage}"
        if self.count is not None:
            return f"{self.name}={self.count}"
        return self.name


@dataclass(frozen=True)
class FaultPlan:
    """What to do with one request: wait ``delay_s``, then apply ``outcome`` (None = answer normally)."""

    delay_s: float = 0.0
    outcome: Directive | None = None
    applied: tuple[Directive, ...] = ()

    def labels(self) -> list[str]:
        """The directives that took effect, as strings."""
        return [d.label() for d in self.applied]


def parse_fault(name: str, value: str | None = None) -> Directive:
    """Parse one directive from its name and optional value (``"429"``, ``"2.5"``).

    ``name`` may also carry the value itself (``"429=2.5"``), as the control endpoint accepts.
    Raises :class:`DirectiveError` on an unknown name or a bad value.
    """
    if value is None and "=" in name:
        name, value = name.split("=", 1)
    key = name.strip().lower()
    spec = _SPECS.get(key)
    if spec is None:
        known = ", ".join(DIRECTIVE_NAMES)
        raise DirectiveError(f"unknown sandbox directive {name!r}; known: {known}")
    text = None if value is None else value.strip()
    if spec.value == "none":
        if text is not None:
            raise DirectiveError(f"sandbox directive {key!r} takes no value")
        return Directive(key)
    if spec.value == "stage":
        stage = "input" if text is None or text == "" else text.lower()
        if stage not in ("input", "output"):
            raise DirectiveError(f"sandbox directive {key!r} takes 'input' or 'output', not {text!r}")
        return Directive(key, stage=stage)
    if spec.value == "count":
        if text is None or text == "":
            return Directive(key)  # the host's default
        if not text.isdigit() or not 0 <= int(text) <= _MAX_COUNT:
            raise DirectiveError(f"sandbox directive {key!r} takes a whole number from 0 to {_MAX_COUNT}")
        return Directive(key, count=int(text))
    return Directive(key, seconds=_parse_seconds(key, text))


def _parse_seconds(key: str, text: str | None) -> float:
    if text is None or text == "":
        return DEFAULT_SLOW_SECONDS if key == "slow" else DEFAULT_RETRY_AFTER_SECONDS
    try:
        seconds = float(text)
    except ValueError:
        raise DirectiveError(f"sandbox directive {key!r} needs a number of seconds, not {text!r}") from None
    # "nan" and "inf" parse as floats but are not durations.
    if not 0.0 <= seconds <= _MAX_SECONDS:
        raise DirectiveError(f"sandbox directive {key!r} seconds must be between 0 and {_MAX_SECONDS:g}")
    return seconds


def find_directives(prompt: str) -> list[Directive]:
    """Every ``[sandbox:...]`` directive in ``prompt``, in order; DirectiveError on a bad one."""
    return [parse_fault(m.group(1), m.group(2)) for m in _DIRECTIVE_RE.finditer(prompt)]


def plan_faults(directives: list[Directive]) -> FaultPlan:
    """Combine directives: delays add up, the first non-delay directive is the outcome."""
    delay = 0.0
    outcome: Directive | None = None
    applied: list[Directive] = []
    for directive in directives:
        if directive.kind is FaultKind.DELAY:
            if directive.seconds is not None:  # slow; ``polls`` is read by the task hosts themselves
                delay += directive.seconds
            applied.append(directive)
        elif outcome is None:
            outcome = directive
            applied.append(directive)
    return FaultPlan(delay_s=min(delay, _MAX_SECONDS), outcome=outcome, applied=tuple(applied))
