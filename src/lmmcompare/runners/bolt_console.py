"""BOLT-LMM's console output: the numbers of its fit, and what became of its mixture model.

``bolt`` prints its variance parameters, counts and calibration only on the console (2.4.0,
Debian; ``BoltMain.cpp``, ``Bolt::estLogDelta`` built with -DVERBOSE); with ``--lmm`` it then
says whether its Bayesian mixture model predicts the phenotype better than the infinitesimal one
(the ``estMixtureParams`` block: relative prediction MSE gain of the first CV fold, at least
0.01 to go on) and, if so, the mixture parameters chosen and the calibration of its statistic.
The runner (:mod:`lmmcompare.runners.bolt`) records both in the null record's ``native``.
"""

from __future__ import annotations

import re
from typing import Any

from lmmcompare.runners.tool_output import log_values

LOG_PATTERNS = {
    "n_used": r"Number of individuals used in analysis: Nused = (\d+)",
    "c_indep": r"Total independent covariate vectors: Cindep = (\d+)",
    "n_chroms": r"Number of chroms with >= 1 good SNP: (\d+)",
    "mc_trials": r"Using default number of random trials: (\d+)",
    "h2g": r"Estimated \(pseudo-\)heritability: h2g = (\S+)",
    "calibration": r"Calibration: (\S+) \(",
    # Bolt::estLogDelta's σ²_K and log δ (printed by builds with -DVERBOSE: upstream's, Debian's)
    "sigma2_K": r"Variance params: sigma\^2_K = (\S+), logDelta = (\S+),",
}
"""Numbers read from BOLT's console output (all required)."""
COUNTS = ("n_used", "c_indep", "n_chroms", "mc_trials")
MEDIANS_PATTERN = r"Using ratio of medians instead: (\S+)"
"""BOLT replaces the calibration factor when its jackknife s.e. exceeds 0.01."""
MIXTURE_PATTERNS = {
    "mixture_mse_gain": r"Relative improvement in prediction MSE using non-inf model: (\S+)",
    "declined": r"(Bayesian non-infinitesimal model does not fit substantially better)",
    "f2_p": r"Optimal mixture parameters according to CV: f2 = (\S+), p = (\S+)",
    "mixture_calibration": r"Calibration factor \(ref/cur\) to multiply by:\s+(\S+)",
}
"""What BOLT says about its mixture model (``BoltMain.cpp``, the ``estMixtureParams`` block)."""


def parse_log(text: str) -> dict[str, Any]:
    """Counts, h2g, σ²_K, log δ and the calibration factor (the ratio of medians when BOLT used
    it) from BOLT's console output."""
    found = log_values(text, LOG_PATTERNS, "BOLT-LMM's output")
    out: dict[str, Any] = {key: int(value) if key in COUNTS else float(value)
                           for key, (value, *_) in found.items()}
    out["log_delta"] = float(found["sigma2_K"][1])
    medians = re.search(MEDIANS_PATTERN, text)
    if medians is not None:
        out["calibration"] = float(medians.group(1))
    return out


def parse_mixture(text: str) -> dict[str, Any]:
    """What became of the mixture model: ``"computed"`` with its f2, p and calibration factor,
    or ``"declined: <BOLT's words>"``; the CV's relative MSE gain when BOLT printed it."""
    found = {key: re.findall(pattern, text) for key, pattern in MIXTURE_PATTERNS.items()}
    gain = float(found["mixture_mse_gain"][0]) if found["mixture_mse_gain"] else None
    if found["declined"]:
        return {"mixture": f"declined: {found['declined'][0]} (relative prediction MSE gain "
                           f"{gain}, below 0.01)", "mixture_mse_gain": gain}
    if not found["f2_p"]:
        return {"mixture": "not computed: BOLT-LMM printed neither its mixture parameters nor "
                           "why", "mixture_mse_gain": gain}
    f2, p = (float(v) for v in found["f2_p"][0])
    return {"mixture": "computed", "mixture_mse_gain": gain, "mixture_f2": f2, "mixture_p": p,
            "mixture_calibration": float(found["mixture_calibration"][-1])}
