"""exactlmm: exact FaST-LMM-style linear mixed model association scans."""

__version__ = "0.1.0"
