"""Runners for the peer LMM tools: PyLMM, FaST-LMM and GEMMA.

Each module has ``run(bfile, pheno, mpheno, covar, kinship, snps, mode, out)`` and a command
line (``python -m lmmcompare.runners.<tool> --bfile … --mode fixed|refit --out PREFIX``) that
analyses the same samples as our tool and writes ``PREFIX.assoc.tsv`` and
``PREFIX.null.json`` (docs/DESIGN.md).  Modes each tool has:

========  =====  =====
tool      fixed  refit
========  =====  =====
pylmm     yes    yes
fastlmm   yes    —
gemma     —      yes
========  =====  =====

Exit status of the command lines: 0 done, 1 the tool failed (``ToolFailed``), 2 bad input
(``InputError``), 3 tool not installed (``ToolNotInstalled``), 4 mode not supported
(``ModeNotSupported``); the last two mean "skip with a warning".
"""

from lmmcompare.runners._common import (
    EXIT_INPUT_ERROR,
    EXIT_MODE_NOT_SUPPORTED,
    EXIT_NOT_INSTALLED,
    EXIT_TOOL_FAILED,
    MODES,
    ModeNotSupported,
    ToolFailed,
    ToolNotInstalled,
)

PEERS = ("pylmm", "fastlmm", "gemma")
SUPPORTED_MODES = {"pylmm": ("fixed", "refit"), "fastlmm": ("fixed",), "gemma": ("refit",)}

__all__ = [
    "EXIT_INPUT_ERROR",
    "EXIT_MODE_NOT_SUPPORTED",
    "EXIT_NOT_INSTALLED",
    "EXIT_TOOL_FAILED",
    "MODES",
    "PEERS",
    "SUPPORTED_MODES",
    "ModeNotSupported",
    "ToolFailed",
    "ToolNotInstalled",
]
