"""One-line text for observation values, variants, versions and timestamps."""

import json
import re
from datetime import datetime, timezone

# Arrays longer than MAX_ITEMS show their first HEAD and last TAIL items.
MAX_ITEMS, HEAD, TAIL = 6, 3, 2
MAX_CHARS = 60


def full_text(value) -> str:
    """The exact value, for tooltips and the details section."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def short_text(value) -> str:
    """A compact rendering that keeps a table cell to one line per observation."""
    if isinstance(value, list):
        return _short_list(value)
    return _clip(_scalar_text(value))


def canonical(value) -> str:
    """A comparison key: JSON-equal values match, and true does not equal 1."""
    return json.dumps(value, sort_keys=True)


def _scalar_text(value) -> str:
    if isinstance(value, str):
        return value if value else '""'
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _short_list(items: list) -> str:
    if len(items) <= MAX_ITEMS:
        return _clip("[" + ", ".join(short_text(item) for item in items) + "]")
    shown = [short_text(item) for item in items[:HEAD]] + ["…"]
    shown += [short_text(item) for item in items[-TAIL:]]
    return _clip("[" + ", ".join(shown) + "]") + f" ({len(items)} items)"


def _clip(text: str) -> str:
    return text if len(text) <= MAX_CHARS else text[: MAX_CHARS - 1] + "…"


def variant_text(variant) -> str:
    if isinstance(variant, dict):
        return " ".join(f"{key}={value}" for key, value in variant.items())
    return "" if variant is None else str(variant)


def version_key(upstream) -> tuple[int, ...]:
    """Sort key so kernel columns read oldest to newest."""
    return tuple(int(part) for part in re.findall(r"\d+", upstream or ""))


def time_text(iso) -> str:
    """'2026-11-22T03:05:01Z' as '2026-11-22 03:05 UTC'; anything unparsable verbatim."""
    if not iso:
        return ""
    try:
        moment = datetime.fromisoformat(iso)
    except (TypeError, ValueError):
        return str(iso)
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M UTC")
