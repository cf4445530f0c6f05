"""Turn tcprepro results.json files (harness/RESULTS.md) into report.html and report.md."""

from .load import ReportInputError
from .render import render_report

__all__ = ["ReportInputError", "render_report"]
