"""The run's report: one self-contained report.html plus figures/ as SVG and PNG."""

from insider.report._html import MAX_TRANSCRIPTS, write_report

__all__ = ["MAX_TRANSCRIPTS", "write_report"]
