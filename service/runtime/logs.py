"""JSON log lines for every process: the stdlib logging and structlog set up alike, the request, job and case a line
belongs to (contextvars), and the redaction of secrets, photo bytes and phone numbers from every line.

One line is one JSON object: `ts` (ISO-8601 UTC), `level`, `process` (web, worker, scheduler), `logger`, `event`,
then what is bound (`request_id`; `job_id`, `job`; `case_no`) and what the call added. `grep 20261202-0042 *.log`
follows a case from its intake request through its jobs to the desk's actions on it.
"""
from __future__ import annotations

import logging
import logging.config
import os
import re
import sys
import threading
from typing import Any

import structlog
from structlog.contextvars import bind_contextvars, clear_contextvars, get_contextvars

from config.settings import log_level

REDACTED = "[redacted]"
# keys whose values never reach a line, at any depth: passwords, tokens, keys, secrets, cookies, Authorization
SECRET_NAME = re.compile(r"passw|token|secret|api_?key|authori[sz]ation|cookie|credential", re.IGNORECASE)
# the longest text masked whole: beyond it only its head and its tail are kept (a traceback's last line says what
# happened), so a huge value costs a bounded time inside the log handler's lock
MAX_TEXT = 16 * 1024
CUT_SLACK = 256  # how far from the cut a space between words is looked for
# a secret's name as text spells it: aws_secret_access_key, S3_SECRET_ACCESS_KEY, csrf_token, passwd
SECRET_WORD = r"(?:\w*_)?(?:api_?key|access_?key|access_token|token|passw\w*|secret\w*)"
# the same kinds of value inside text: a query string's api_key=..., an Authorization header ("Bearer ...",
# "Basic ..."), a URL's password, `password: x`, a dict's repr ('password': 'x', "token": "..."). Every repetition
# is bounded.
SECRET_IN_TEXT = (
    (re.compile(r"(?i)\b((?:\w*_)?(?:api_?key|key|access_token|token|passw\w*|secret\w*|session)=)"
                r"[^&\s\"';]{1,4096}"), rf"\1{REDACTED}"),
    (re.compile(r"(?i)\b(authori[sz]ation[\"']?[ \t]{0,8}[:=][ \t]{0,8}[\"']?)[^\r\n\"']{1,4096}"), rf"\1{REDACTED}"),
    (re.compile(r"(?i)\b(bearer\s{1,8})[A-Za-z0-9._~+/=-]{1,4096}"), rf"\1{REDACTED}"),
    (re.compile(r"(?i)\b(cookie:[ \t]{0,8})[^\r\n]{1,4096}"), rf"\1{REDACTED}"),
    (re.compile(rf"(?i)\b({SECRET_WORD}[\"']?[ \t]{{0,8}}:[ \t]{{0,8}})"
                r"(?:'[^'\r\n]{0,4096}'|\"[^\"\r\n]{0,4096}\"|[^\s\"',;&})\]]{1,4096})"), rf"\1{REDACTED}"),
    (re.compile(r"(://[^/:@\s]{0,256}:)[^@/\s]{1,256}@"), r"\1***@"),
)
# a mainland mobile number standing alone, bare or as E.164 (+86, 0086), in one run or spaced (138 1234 5678,
# 138-1234-5678): kept as 138****5678 after its prefix, enough to tell two apart. Not inside a hex id, a longer
# run of digits or a number's decimals.
MOBILE = re.compile(r"(?<![0-9A-Za-z])(?<![0-9]\.)((?:\+86|0086|86)[ -]?)?(1[3-9][0-9])[ -]?[0-9]{4}[ -]?([0-9]{4})"
                    r"(?![0-9A-Za-z])")
# bytes printed as text (b'\xff\xd8\xff...', or a run of such escapes): a photo's, or anything binary, is never
# worth a line. The look-ahead finds its first \x, then the repr is read once to its end: an unclosed b' costs one
# pass, not one per escape in it (that was quadratic: 48 s for 128 KB).
ESCAPED_BYTES = re.compile(r"\bb'(?=(?:[^'\\]|\\[^x]){0,16384}\\x)(?:[^'\\]|\\.){0,16384}'"
                           r'|\bb"(?=(?:[^"\\]|\\[^x]){0,16384}\\x)(?:[^"\\]|\\.){0,16384}"'
                           r"|(?:\\x[0-9a-fA-F]{2}){8,}")
# an X-Request-ID we take from the client (nginx's $request_id, a phone's): anything else is replaced by our own
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
LEADING = ("ts", "level", "process", "pid", "logger", "event")  # first in every line, for the eye


def masked_text(text: str) -> str:
    """The text with its secrets, phone numbers and escaped bytes masked, its middle cut beyond MAX_TEXT: for log
    lines and for whatever else shows text that may hold them (the queue page's tracebacks)."""
    text = capped(text)
    for pattern, replacement in SECRET_IN_TEXT:
        text = pattern.sub(replacement, text)
    text = ESCAPED_BYTES.sub("<bytes>", text)
    return MOBILE.sub(r"\1\2****\3", text)


def capped(text: str) -> str:
    """The text itself up to MAX_TEXT characters; else its head and its tail, saying how much was cut between."""
    if len(text) <= MAX_TEXT:
        return text
    half = MAX_TEXT // 2
    head, tail = text[:half], text[-half:]
    # cut between words when one ends near the cut, so no phone number or secret is left half there to be missed
    end = max(head.rfind(" ", half - CUT_SLACK), head.rfind("\n", half - CUT_SLACK))
    head = head[:end] if end > 0 else head
    start = min((i for i in (tail.find(" ", 0, CUT_SLACK), tail.find("\n", 0, CUT_SLACK)) if i >= 0), default=0)
    tail = tail[start:]
    return f"{head} …[{len(text) - len(head) - len(tail)} characters cut]… {tail}"


def redacted(value: Any) -> Any:
    """A value fit for a log line: secret keys' values masked at any depth, bytes as `<N bytes>`, text masked."""
    if isinstance(value, str):
        return masked_text(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(value)} bytes>"
    if isinstance(value, dict):
        return {k: REDACTED if isinstance(k, str) and SECRET_NAME.search(k) else redacted(v)
                for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [redacted(v) for v in value]
    return value


def redact(_logger, _method, event_dict: dict) -> dict:
    """The processor: run after the traceback is rendered as text, so it is masked too."""
    return redacted(event_dict)


def is_secret_name(name: str) -> bool:
    """True for a name whose value must not be logged (a route's <token>, a form's password)."""
    return bool(SECRET_NAME.search(name))


def _leading_keys_first(_logger, _method, event_dict: dict) -> dict:
    return {**{k: event_dict[k] for k in LEADING if k in event_dict},
            **{k: v for k, v in event_dict.items() if k not in LEADING}}


def _stamped(process: str):
    """A processor adding the process's kind (web, worker, scheduler) and its pid."""
    def add_process(_logger, _method, event_dict: dict) -> dict:
        event_dict.setdefault("process", process)
        event_dict.setdefault("pid", os.getpid())
        return event_dict
    return add_process


def _context_chain(process: str) -> list:
    """What every line gets before rendering, whether logged through structlog or the stdlib: the call's own
    fields win over what is bound."""
    return [structlog.stdlib.ExtraAdder(), structlog.contextvars.merge_contextvars, structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name, structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"),
            _stamped(process)]


def json_formatter(process: str) -> structlog.stdlib.ProcessorFormatter:
    """The formatter of every handler (logging's dictConfig calls it by name, gunicorn's logconfig_dict too); it
    also points structlog's own loggers at the stdlib, so both kinds of call come out through it."""
    chain = _context_chain(process)
    structlog.configure(processors=[*chain, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
                        logger_factory=structlog.stdlib.LoggerFactory(),
                        wrapper_class=structlog.stdlib.BoundLogger, cache_logger_on_first_use=True)
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=chain,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info, redact, _leading_keys_first,
                    structlog.processors.JSONRenderer(ensure_ascii=False)])


def logging_config(process: str, level: str | None = None) -> dict:
    """The dictConfig of a process: everything to stdout as JSON; gunicorn's error log to stderr as JSON, its
    access log silenced (the app writes one `request` line per request instead)."""
    level = level or log_level()
    formatter = {"()": "service.runtime.logs.json_formatter", "process": process}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": formatter},
        "handlers": {
            "stdout": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"},
            "stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"},
        },
        "root": {"level": level, "handlers": ["stdout"]},
        "loggers": {
            "gunicorn.error": {"level": level, "handlers": ["stderr"], "propagate": False},
            "gunicorn.access": {"level": "CRITICAL", "handlers": [], "propagate": False},
        },
    }


def configure(process: str, level: str | None = None) -> None:
    """Set up this process's logging: call once at start, before anything logs (RQ adds its own text handlers
    only when it finds none). Warnings and an exception that ends the process or a thread are lines too, so
    nothing this process writes is plain text."""
    logging.config.dictConfig(logging_config(process, level))
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught
    threading.excepthook = lambda args: _log_uncaught(args.exc_type, args.exc_value, args.exc_traceback)


def _log_uncaught(exc_type, exc_value, exc_traceback) -> None:
    if issubclass(exc_type, KeyboardInterrupt):
        sys.__excepthook__(exc_type, exc_value, exc_traceback)
        return
    logging.getLogger("uncaught").critical("uncaught exception", exc_info=(exc_type, exc_value, exc_traceback))


def sane_request_id(raw: str | None) -> str | None:
    """The client's request id when it is a plain token of at most 64 characters, else None."""
    return raw if raw and SANE_REQUEST_ID.fullmatch(raw) else None


def begin(**context: Any) -> None:
    """Start a new unit of work in this thread (a request, a job): forget what the last one bound."""
    clear_contextvars()
    bind_contextvars(**{k: v for k, v in context.items() if v is not None})


def end() -> None:
    """Forget what this unit of work bound (a long-lived worker takes the next job in the same thread)."""
    clear_contextvars()


def bind_case(case_no: str | None) -> None:
    """Mark every line that follows in this request or job with the case's number."""
    if case_no:
        bind_contextvars(case_no=case_no)


def bound(name: str) -> Any:
    """What is bound under this name now (request_id, case_no), or None."""
    return get_contextvars().get(name)
