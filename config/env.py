"""Typed reads of environment variables that fail loudly on bad values.

A typo in production configuration must stop the process at start-up with the variable's
name in the message, not surface later as odd behaviour.
"""

import os

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _from_file(name: str) -> str | None:
    """`NAME_FILE` names a file holding the value (Docker secrets: /run/secrets/...), so that a
    secret never sits in the environment, where `docker inspect` and child processes see it."""
    path = os.environ.get(f"{name}_FILE")
    if not path:
        return None
    if os.environ.get(name):
        raise ImproperlyConfigured(f"set {name} or {name}_FILE, not both")
    try:
        with open(path, encoding="utf-8") as handle:
            value = handle.read()
    except OSError as exc:
        raise ImproperlyConfigured(f"{name}_FILE={path!r} cannot be read: {exc.strerror}") from None
    # One trailing newline (from `echo` or an editor) is not part of the secret.
    return value[:-1] if value.endswith("\n") else value


def env_str(name: str, default: str | None = None, *, required: bool = False) -> str | None:
    """A string setting, from NAME or from the file named by NAME_FILE."""
    value = _from_file(name)
    if value is None:
        value = os.environ.get(name)
    if value is None or value == "":
        if required:
            raise ImproperlyConfigured(f"{name} must be set")
        return default
    return value


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a boolean (use 1/0, true/false, yes/no, on/off)")


def env_int(name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        result = default
    else:
        try:
            result = int(value)
        except ValueError:
            raise ImproperlyConfigured(f"{name}={value!r} is not an integer") from None
    if minimum is not None and result < minimum:
        raise ImproperlyConfigured(f"{name}={result} is below the minimum {minimum}")
    if maximum is not None and result > maximum:
        raise ImproperlyConfigured(f"{name}={result} is above the maximum {maximum}")
    return result


def env_float(name: str, default: float, *, minimum: float | None = None, maximum: float | None = None) -> float:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        result = default
    else:
        try:
            result = float(value)
        except ValueError:
            raise ImproperlyConfigured(f"{name}={value!r} is not a number") from None
    if result != result:  # NaN
        raise ImproperlyConfigured(f"{name} is NaN")
    if minimum is not None and result < minimum:
        raise ImproperlyConfigured(f"{name}={result} is below the minimum {minimum}")
    if maximum is not None and result > maximum:
        raise ImproperlyConfigured(f"{name}={result} is above the maximum {maximum}")
    return result


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None:
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


RATE_PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


def env_rate(name: str, default: str) -> tuple[int, int]:
    """A rate "N/period" (period: second, minute, hour or day) as (requests, seconds)."""
    value = env_str(name, default)
    count, _, period = value.partition("/")
    try:
        requests = int(count)
    except ValueError:
        requests = 0
    if requests < 1 or period not in RATE_PERIODS:
        raise ImproperlyConfigured(f"{name}={value!r} is not a rate like 120/minute (second, minute, hour or day)")
    return requests, RATE_PERIODS[period]
