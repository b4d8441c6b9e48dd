"""Fault injection: make the sandbox throttle, fail, drop or slow down, as Exchange
and the network around it do, on every Nth matching request or for named operations.

One spec format for the command line and the admin API:
    server-busy:every=3,backoff_ms=200,operations=FindItem+GetItem
    {"kind": "server-busy", "every": 3, "backoff_ms": 200, "operations": ["FindItem"]}

Most faults strike before the request is applied. `phase=after` makes a dropped connection
or a slow answer strike once the request was applied: the client cannot tell the two
apart, which is what a client's retry logic (and its guard against doing a write twice)
must cope with.
"""
import threading
from dataclasses import dataclass, field

KINDS = ("server-busy", "http-503", "drop-connection", "drop-stream", "latency", "token-expiry", "ews-disabled",
         "oauth-only")
_INTEGER_OPTIONS = ("every", "backoff_ms", "retry_after", "ms", "lifetime")
PHASES = ("before", "after")  # strike before the request is applied, or after (the answer is then lost or late)
PHASED_KINDS = ("drop-connection", "latency")


class FaultSpecError(ValueError):
    pass


@dataclass
class Fault:
    kind: str
    every: int = 1
    operations: list = field(default_factory=list)
    backoff_ms: int = 1000
    retry_after: int = 1
    ms: int = 500  # latency: the delay; drop-stream: how long a GetStreamingEvents answer lives before it is cut
    lifetime: int = 2  # token-expiry: seconds a token issued while the fault is active lives
    phase: str = "before"  # drop-connection, latency: before or after the request is applied
    seen: int = 0  # matching requests so far

    def to_json(self):
        return {"kind": self.kind, "every": self.every, "operations": self.operations,
                "backoff_ms": self.backoff_ms, "retry_after": self.retry_after, "ms": self.ms,
                "lifetime": self.lifetime, "phase": self.phase}


def parse_spec(spec):
    """A Fault from the command-line string form or from the JSON object form."""
    if isinstance(spec, str):
        kind, _, options = spec.partition(":")
        values = {}
        for option in filter(None, options.split(",")):
            name, sep, value = option.partition("=")
            if not sep:
                raise FaultSpecError(f"fault option {option!r} needs a value (name=value)")
            values[name.strip()] = value.strip()
        if "operations" in values:
            values["operations"] = [op for op in values["operations"].split("+") if op]
        spec = {"kind": kind.strip(), **values}
    if not isinstance(spec, dict):
        raise FaultSpecError("a fault is a string like 'server-busy:every=3' or a JSON object")
    spec = dict(spec)
    kind = spec.pop("kind", None)
    if kind not in KINDS:
        raise FaultSpecError(f"unknown fault kind {kind!r}; choose from {', '.join(KINDS)}")
    fault = Fault(kind)
    for name, value in spec.items():
        if name in _INTEGER_OPTIONS:
            try:
                setattr(fault, name, int(value))
            except (TypeError, ValueError):
                raise FaultSpecError(f"fault option {name} must be an integer, not {value!r}")
        elif name == "operations":
            if isinstance(value, str):
                value = [op for op in value.split("+") if op]
            if not isinstance(value, list) or not all(isinstance(op, str) for op in value):
                raise FaultSpecError("fault option operations must be a list of operation names")
            fault.operations = value
        elif name == "phase":
            if kind not in PHASED_KINDS:
                raise FaultSpecError(f"fault option phase is for {' and '.join(PHASED_KINDS)}, not {kind}")
            if value not in PHASES:
                raise FaultSpecError(f"fault option phase must be before or after, not {value!r}")
            fault.phase = value
        else:
            raise FaultSpecError(f"unknown fault option {name!r}; "
                                 "use every, operations, backoff_ms, retry_after, ms, lifetime, phase")
    if fault.every < 1:
        raise FaultSpecError("fault option every must be 1 or more")
    for name in ("backoff_ms", "retry_after", "ms"):
        if getattr(fault, name) < 0:
            raise FaultSpecError(f"fault option {name} must be 0 or more, not {getattr(fault, name)}")
    if fault.lifetime < 1:
        raise FaultSpecError("fault option lifetime must be 1 second or more")
    return fault


class FaultPlan:
    """The active faults of a server; thread-safe."""

    def __init__(self, faults=()):
        self._lock = threading.Lock()
        self._faults = list(faults)

    def add(self, fault):
        with self._lock:
            self._faults.append(fault)

    def clear(self):
        with self._lock:
            self._faults.clear()

    def listing(self):
        with self._lock:
            return [f.to_json() for f in self._faults]

    def active(self, kind):
        """Is a fault of `kind` in the plan (whatever its operations; nothing is counted)?"""
        with self._lock:
            return any(f.kind == kind for f in self._faults)

    def triggered(self, operation, kinds, phase="before"):
        """The faults of `kinds` that fire for this request at `phase` (counting it for each)."""
        fired = []
        with self._lock:
            for fault in self._faults:
                if fault.kind not in kinds or (fault.operations and operation not in fault.operations):
                    continue
                if fault.phase != phase:
                    continue
                fault.seen += 1
                if fault.seen % fault.every == 0:
                    fired.append(fault)
        return fired
