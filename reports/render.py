"""Render the view model through the jinja2 templates into report.html and report.md."""

import re
from dataclasses import dataclass
from pathlib import Path

import jinja2

from markupsafe import Markup

from contract import ladder
from .claims import claim_words, md_claim
from .load import load_result_sets
from .model import build_report

TEMPLATES = Path(__file__).parent / "templates"
OUTPUTS = {"html": "report.html", "md": "report.md"}
LADDER_STYLE = Markup(ladder.style("svg.ladder"))  # our own constant CSS

# Verdict and outcome values to the four colours; anything unknown stays grey.
TONES = {
    "passed": "good", "skipped": "muted", "error": "bad",
    "holds": "good", "refuted": "warn", "unknown": "muted",
    "as_expected": "good", "unexpected": "bad", "new_behaviour": "warn", "none": "muted",
    "absent_as_expected": "muted", "missing": "bad",
}
EMOJI = {"good": "🟢", "warn": "🟡", "bad": "🔴", "muted": "⚪"}
MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|~])")


@dataclass(frozen=True)
class Written:
    html: Path
    md: Path
    rows: int
    differing: int  # rows that differ between kernels
    kernels: int

    @property
    def summary(self) -> str:
        """The line a run ends with, before the paths."""
        if self.kernels < 2:
            return f"{self.rows} rows on 1 kernel"
        return f"{self.differing} of {self.rows} rows differ between {self.kernels} kernels"


def render_report(result_dirs: list[Path], out_dir: Path) -> Written:
    """Write report.html and report.md into out_dir for every results.json under result_dirs.
    Raises ReportInputError for unusable inputs."""
    out_dir = Path(out_dir)
    report = build_report(load_result_sets([Path(d) for d in result_dirs]), out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    env = _environment()
    for name in OUTPUTS.values():
        (out_dir / name).write_text(env.get_template(f"{name}.j2").render(report=report, ladder_style=LADDER_STYLE),
                                    encoding="utf-8")
    return Written(out_dir / OUTPUTS["html"], out_dir / OUTPUTS["md"], len(report.rows), len(report.differing_rows),
                   len(report.columns))


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default_for_string=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(tone=tone, words=words, md=md_text, md_code=md_code, md_dot=md_dot, md_badge=md_badge,
                       claim_words=claim_words, md_claim=md_claim)
    return env


def tone(value: str) -> str:
    return TONES.get(value, "muted")


def words(value: str) -> str:
    """'new_behaviour' as 'new behaviour'."""
    return value.replace("_", " ")


def md_text(value) -> str:
    """Plain text that stays plain inside a Markdown table cell."""
    return MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(str(value).split()))


def md_code(value, in_table: bool = True) -> str:
    """A Markdown code span that survives backticks, and pipes inside a table row."""
    text = " ".join(str(value).split())
    if in_table:
        text = text.replace("|", "\\|")
    fence = "`" * (max(map(len, re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def md_dot(value: str) -> str:
    """A coloured circle standing in for the HTML badge colour."""
    return EMOJI[tone(value)]


def md_badge(value: str) -> str:
    return f"{md_dot(value)} {words(value)}"
