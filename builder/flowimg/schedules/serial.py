"""Schedules to and from plain JSON-able dicts (registration metadata, the structure hash).

Built-in filters and adjustments are stored by name and arguments; a function of the user's
own is stored by its import path and imported again when the schedule is rebuilt.
"""
from __future__ import annotations

import importlib
import json
from datetime import datetime, time, timedelta, timezone
from typing import Any, Callable, Dict, Optional, cast

from . import adjustments, filters
from .clocks import Clock, CronClock, DatesClock, IntervalClock, RRuleClock
from .errors import ScheduleError
from .rules import Rule
from .schedules import Schedule
from .zones import zone, zone_name

FORMAT = 1
RULES: Dict[str, Callable[..., Any]] = {
    name: getattr(module, name)
    for module in (filters, adjustments)
    for name in dir(module)
    if not name.startswith("_") and getattr(getattr(module, name), "__module__", None)
    == module.__name__ and callable(getattr(module, name))
}
RULE_LISTS = ("filters", "or_filters", "not_filters", "adjustments")
REREGISTER = "re-register the flow with this flowimg version"


def schedule_to_dict(schedule: Schedule) -> Dict[str, Any]:
    data: Dict[str, Any] = {"type": "Schedule", "format": FORMAT,
                            "clocks": [_clock_to_dict(c) for c in schedule.clocks]}
    for key in RULE_LISTS:
        data[key] = [_rule_to_dict(fn) for fn in getattr(schedule, key)]
    return data


def schedule_from_dict(data: Dict[str, Any]) -> Schedule:
    """Rebuild a schedule from `Schedule.to_dict()` output."""
    if not isinstance(data, dict) or data.get("type") != "Schedule":
        raise ScheduleError(f"Not a stored schedule: {data!r}; {REREGISTER}")
    if data.get("format") != FORMAT:
        raise ScheduleError(
            f"Stored schedule has format {data.get('format')!r}, this flowimg reads {FORMAT}; "
            f"{REREGISTER}")
    try:
        return Schedule(
            clocks=[_clock_from_dict(c) for c in data["clocks"]],
            **{key: [_rule_from_dict(r) for r in data.get(key, [])] for key in RULE_LISTS})
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, ScheduleError):
            raise
        raise ScheduleError(f"Stored schedule is malformed ({exc!r}); {REREGISTER}") from None


def _clock_to_dict(clock: Clock) -> Dict[str, Any]:
    data: Dict[str, Any] = {"type": clock.kind}
    if isinstance(clock, IntervalClock):
        data["interval_seconds"] = _seconds(clock.interval)
    elif isinstance(clock, CronClock):
        data["cron"] = clock.cron
        data["day_or"] = clock.day_or
    elif isinstance(clock, DatesClock):
        data["dates"] = [_date_to_dict(d) for d in clock.dates]
    elif isinstance(clock, RRuleClock) and type(clock.rrule_obj).__name__ == "rrule":
        data["rrule"] = str(clock.rrule_obj)
    else:
        raise ScheduleError(
            f"Cannot record a {type(clock).__name__} clock; use IntervalClock, CronClock, "
            "DatesClock or an RRuleClock of one dateutil rrule from flowimg.schedules.clocks")
    if not isinstance(clock, DatesClock):
        data["start_date"] = _date_to_dict(clock.start_date)
        data["end_date"] = _date_to_dict(clock.end_date)
    data["parameter_defaults"] = _json_parameters(clock.parameter_defaults)
    data["labels"] = clock.labels
    return data


def _clock_from_dict(data: Dict[str, Any]) -> Clock:
    kind = data["type"]
    common = {"parameter_defaults": data.get("parameter_defaults"), "labels": data.get("labels")}
    if kind == "DatesClock":
        return DatesClock([d for d in map(_date_from_dict, data["dates"]) if d is not None], **common)
    common.update(start_date=_date_from_dict(data.get("start_date")),
                  end_date=_date_from_dict(data.get("end_date")))
    if kind == "IntervalClock":
        return IntervalClock(timedelta(seconds=data["interval_seconds"]), **common)
    if kind == "CronClock":
        return CronClock(data["cron"], day_or=data.get("day_or", True), **common)
    if kind == "RRuleClock":
        return RRuleClock(_rrule_from_str(data["rrule"]), **common)
    raise ScheduleError(f"Unknown clock type {kind!r} in a stored schedule; {REREGISTER}")


def _rrule_from_str(text: str) -> Any:
    try:
        from dateutil.rrule import rrulestr
    except ImportError:
        raise ScheduleError("This schedule has an RRuleClock, which needs python-dateutil; "
                            "pip install python-dateutil") from None
    return rrulestr(text)


def _json_parameters(parameters: Dict[str, Any]) -> Dict[str, Any]:
    for name, value in parameters.items():
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            raise ScheduleError(
                f"Clock parameter_defaults[{name!r}] = {value!r} is not JSON data; "
                "use strings, numbers, booleans, lists or dicts") from None
    return dict(sorted(parameters.items()))


def _seconds(delta: timedelta) -> Any:
    seconds = delta.total_seconds()
    return int(seconds) if seconds.is_integer() else seconds


def _date_to_dict(dt: Optional[datetime]) -> Optional[Dict[str, str]]:
    if dt is None:
        return None
    return {"dt": dt.isoformat(), "tz": zone_name(dt.tzinfo or timezone.utc)}


def _date_from_dict(data: Optional[Dict[str, str]]) -> Optional[datetime]:
    if data is None:
        return None
    return datetime.fromisoformat(data["dt"]).astimezone(zone(data["tz"]))


def _rule_to_dict(fn: Callable[..., Any]) -> Dict[str, Any]:
    if isinstance(fn, Rule):
        return {"fn": fn.name, "args": [_arg_to_dict(a) for a in fn.args]}
    name = getattr(fn, "__name__", None)
    if name in RULES and RULES[name] is fn:
        return {"fn": name}
    path = f"{getattr(fn, '__module__', '')}:{getattr(fn, '__qualname__', '')}"
    if "<" in path or path.startswith(":") or path.endswith(":"):
        raise ScheduleError(
            f"Cannot record the schedule function {fn!r}: only built-in filters/adjustments "
            "and module-level functions can be stored; define it at module level")
    return {"fn": path}


def _rule_from_dict(data: Dict[str, Any]) -> Callable[..., Any]:
    name = data["fn"]
    if ":" in name:
        return _import_function(name)
    if name not in RULES:
        raise ScheduleError(f"Unknown schedule function {name!r}; {REREGISTER}")
    if "args" in data:
        return cast(Callable[..., Any], RULES[name](*[_arg_from_dict(a) for a in data["args"]]))
    return RULES[name]


def _import_function(path: str) -> Callable[..., Any]:
    module_name, _, qualname = path.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError):
        raise ScheduleError(
            f"Schedule function {path} cannot be imported; make its module importable "
            "(on sys.path) where the schedule is read") from None
    return cast(Callable[..., Any], target)


def _arg_to_dict(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"datetime": _date_to_dict(value)}
    if isinstance(value, time):
        return {"time": value.isoformat()}
    if isinstance(value, timedelta):
        return {"timedelta": _seconds(value)}
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    raise ScheduleError(f"Cannot record the schedule argument {value!r}")


def _arg_from_dict(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    if "datetime" in value:
        return _date_from_dict(value["datetime"])
    if "time" in value:
        return time.fromisoformat(value["time"])
    if "timedelta" in value:
        return timedelta(seconds=value["timedelta"])
    raise ScheduleError(f"Unknown schedule argument {value!r}; {REREGISTER}")
