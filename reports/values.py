"""One-line text for observation values, variants, versions and timestamps."""

import json
import math
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
    if isinstance(value, float):
        return number_text(value)  # a measurement: 366.824412 ms reads as 366.8
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


def variant_name(variant) -> str:
    """'ipv4 loopback' for {"family": "ipv4", "address": "loopback"}: the values say enough in a row."""
    if isinstance(variant, dict):
        return " ".join(str(value) for value in variant.values())
    return variant_text(variant)


def variants_text(variants: list, every: list) -> str:
    """Name the variants a collapsed row stands for, compactly: 'all 4 (ipv4/ipv6 × loopback/veth)'."""
    if len(variants) == 1:
        return variant_name(variants[0])
    product = _product_text(variants)
    if len(every) > 1 and len(variants) == len(every):
        return ("both" if len(variants) == 2 else f"all {len(variants)}") + (f" ({product})" if product else "")
    return product or ", ".join(variant_name(variant) for variant in variants)


def _product_text(variants: list) -> str:
    """'ipv4/ipv6 × loopback/veth' when the variants are exactly such a product, else ''."""
    if not variants or not all(isinstance(v, dict) for v in variants):
        return ""
    keys = list(variants[0])
    if any(list(v) != keys for v in variants):
        return ""
    axes = [list(dict.fromkeys(str(v[key]) for v in variants)) for key in keys]
    size = 1
    for axis in axes:
        size *= len(axis)
    if size != len({tuple(str(v[key]) for key in keys) for v in variants}) or size != len(variants):
        return ""
    return " × ".join("/".join(axis) for axis in axes)


def range_text(numbers: list) -> str:
    """'3–17' for the values of a measurement across variants."""
    low, high = min(numbers), max(numbers)
    return _number_text(low) if low == high else f"{_number_text(low)}–{_number_text(high)}"


def _number_text(number) -> str:
    return number_text(number) if isinstance(number, float) else str(number)


def number_text(number: float, digits: int = 4) -> str:
    """About `digits` significant digits, never in exponent notation: 366.8, 0.02, 999.6, 1000, 123457."""
    if number == 0 or not math.isfinite(number):
        return str(number) if not math.isfinite(number) else "0"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(number))))
    text = f"{number:.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text
