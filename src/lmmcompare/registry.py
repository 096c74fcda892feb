"""The one registry of the LMM tools compared: names, modes, statistics, conversion, runner.

Every other part of the harness — the workflow's rules and wildcards (``workflow/rules/
common.smk``), the config's defaults and checks, the runs table, the comparison tables and
plots — reads the tools from :data:`TOOLS` and nothing else.  Adding a tool is one runner module
(``lmmcompare/runners/<name>.py``), one :class:`Tool` entry below with its conversion, one conda
environment file (``envs/<name>.yaml``) and, if it brings a new kind of figure or statistic, its
caption; ``docs/DESIGN.md`` ("Adding a tool") has the recipe.

Modes (:data:`MODES`)
---------------------
* ``fixed`` — the variance ratio γ of the null model is kept for every SNP (FaST-LMM, PyLMM
  without refit, EMMAX's "P3D").
* ``refit`` — γ is re-estimated for every SNP (GEMMA ``-lmm 4``, PyLMM ``--refit``).

Runs of the same mode are compared with each other.

Statistics (:data:`STATISTICS`)
-------------------------------
``p_wald``, ``p_lrt``, ``p_score``: the p-value columns of ``PREFIX.assoc.tsv``; ``Tool.statistics``
lists those a tool fills (the others are NA in its table).

Conversions
-----------
Every tool's null fit is put on one footing, γ = σg²/σe² on the kinship K *that was passed to
it* (the analysed samples' sub-matrix of the kinship file), by ``Tool.to_standard(native, t)``:
``native`` holds the tool's own numbers under the tool's own names and t = tr(K)/n.  The result
is the standard record of :func:`lmmcompare.params.standard_form` (γ, δ, h², pve, σg², σe²).
The algebra behind each conversion is in the docstring of the tool's ``_…_to_standard``
function below and the source lines that justify it in ``docs/PEERS-VERIFIED.md``.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType, ModuleType
from typing import Any

from exactlmm.errors import InputError
from lmmcompare import params

MODES = ("fixed", "refit")
"""Modes a run can have (module docstring)."""

STATISTICS = ("p_wald", "p_lrt", "p_score")
"""p-value columns of an association table."""

REFERENCE = "exactlmm"
"""The tool every other one is plotted against (ours)."""

Conversion = Callable[[Mapping[str, Any], float], dict[str, Any]]


@dataclass(frozen=True)
class Tool:
    """One LMM tool of the comparison.

    Attributes
    ----------
    name:
        Key in the config (``tools:``), value of the ``{tool}`` wildcard, stem of its files.
    label:
        The tool's own name, for people (report, messages).
    modes:
        The :data:`MODES` it has.
    statistics:
        The :data:`STATISTICS` it fills.
    exact:
        ``True`` for an exact LMM (agreement with ours is judged at numerical precision);
        ``False`` for an approximate method (agreement is reported with looser bounds).
    runner:
        Module (dotted path) with ``run(request, mode, out)``; imported only when a run
        happens, so the registry can be read without any peer tool installed.
    to_standard:
        The conversion of the tool's native null-model numbers (module docstring).
    summary:
        One line: what the tool is and how it is run here.
    mode_gaps:
        For each mode the tool does not have, why (the reason a run in that mode is skipped).
    """

    name: str
    label: str
    modes: tuple[str, ...]
    statistics: tuple[str, ...]
    exact: bool
    runner: str
    to_standard: Conversion
    summary: str
    mode_gaps: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = (set(self.modes) - set(MODES)) | (set(self.statistics) - set(STATISTICS))
        if unknown:
            raise ValueError(f"tool {self.name}: unknown modes or statistics {sorted(unknown)}")
        gaps = set(MODES) - set(self.modes)
        if set(self.mode_gaps) != gaps:
            raise ValueError(f"tool {self.name}: mode_gaps must explain exactly {sorted(gaps)}")

    @property
    def env(self) -> str:
        """Conda environment file of the tool, relative to the repository root."""
        return f"envs/{self.name}.yaml"

    def why_not(self, mode: str) -> str:
        """The reason a run of this tool in ``mode`` cannot happen."""
        return f"{self.label} has no '{mode}' mode: {self.mode_gaps[mode]}"

    def load_runner(self) -> ModuleType:
        """The runner module (imported now)."""
        return importlib.import_module(self.runner)


# ------------------------------------------------------------------------- conversions


def _exactlmm_to_standard(native: Mapping[str, Any], t: float) -> dict[str, Any]:
    """Ours: δ = σe²/σg² (the search runs over log δ), or γ directly; optional σe².

    γ = 1/δ, σg² = γσe².  See :mod:`exactlmm.likelihood` for the model.
    """
    if "gamma" in native:
        gamma = params.finite_number(native["gamma"], "γ")
    else:
        gamma = float(params.gamma_from_delta(native["delta"]))
    sigma_e2 = params.nonnegative_or_none(native.get("sigma_e2"), "sigma_e2")
    sigma_g2 = None if sigma_e2 is None else gamma * sigma_e2
    return params.standard_form(gamma, t, sigma_g2, sigma_e2)


def _pylmm_to_standard(native: Mapping[str, Any], t: float) -> dict[str, Any]:
    """PyLMM (``pylmm3/lmm.py``): V = σ²(hK + (1 − h)I) with K as given.

    σg² = hσ², σe² = (1 − h)σ², so γ = h/(1 − h) (:func:`params.gamma_from_h2`).  Native
    names: ``h``, optional ``sigma2``.
    """
    h = params.finite_number(native["h"], "PyLMM h")
    gamma = float(params.gamma_from_h2(h))
    sigma2 = params.nonnegative_or_none(native.get("sigma2"), "PyLMM sigma2")
    sigma_g2 = None if sigma2 is None else h * sigma2
    sigma_e2 = None if sigma2 is None else (1.0 - h) * sigma2
    return params.standard_form(gamma, t, sigma_g2, sigma_e2)


def _fastlmm_to_standard(native: Mapping[str, Any], t: float) -> dict[str, Any]:
    """FaST-LMM ``single_snp``: V = σ²(h2·K' + (1 − h2)I), K' = K·n/tr K = K/t.

    FaST-LMM rescales the kinship it is given to mean diagonal 1 (pysnptools ``DiagKtoN``), so
    σg² on K = h2σ²/t, σe² = (1 − h2)σ² and γ = h2/((1 − h2)t)
    (:func:`params.gamma_from_fastlmm_h2`); its h2 equals our pve.  Native names: ``h2``
    (``Nullh2``), optional ``K_scaling`` (t as FaST-LMM computed it; must equal ``t``),
    optional ``sigma2``.
    """
    h2 = params.finite_number(native["h2"], "FaST-LMM h2")
    scaling = native.get("K_scaling")
    if scaling is not None and not math.isclose(float(scaling), t, rel_tol=1e-9):
        raise InputError(
            f"FaST-LMM K_scaling {scaling!r} differs from the kinship mean diagonal {t!r}"
        )
    gamma = float(params.gamma_from_fastlmm_h2(h2, t))
    sigma2 = params.nonnegative_or_none(native.get("sigma2"), "FaST-LMM sigma2")
    sigma_g2 = None if sigma2 is None else h2 * sigma2 / t
    sigma_e2 = None if sigma2 is None else (1.0 - h2) * sigma2
    return params.standard_form(gamma, t, sigma_g2, sigma_e2)


def _gemma_to_standard(native: Mapping[str, Any], t: float) -> dict[str, Any]:
    """GEMMA: λ = σg²/σe² already, on its re-centred K_c = PKP (P = I − 11ᵀ/n).

    γ = λ: with an intercept in X the REML λ is the same on K and K_c (``params`` module
    docstring); GEMMA's ML quantities and its pve are on K_c.  Native names: ``lambda``,
    optional ``vg``, ``ve`` (σg², σe²).
    """
    gamma = float(params.gamma_from_gemma_lambda(native["lambda"]))
    sigma_g2 = params.nonnegative_or_none(native.get("vg"), "GEMMA vg")
    sigma_e2 = params.nonnegative_or_none(native.get("ve"), "GEMMA ve")
    return params.standard_form(gamma, t, sigma_g2, sigma_e2)


# ------------------------------------------------------------------------- the registry

_ENTRIES = (
    Tool(
        name="exactlmm",
        label="exactlmm",
        modes=("fixed", "refit"),
        statistics=STATISTICS,
        exact=True,
        runner="lmmcompare.runners.exactlmm",
        to_standard=_exactlmm_to_standard,
        summary="ours: exact REML/ML, covariates projected out, eigh of the kinship; Wald, "
                "LRT and score; refit = GEMMA -lmm 4 semantics",
    ),
    Tool(
        name="pylmm",
        label="PyLMM",
        modes=("fixed", "refit"),
        statistics=("p_wald",),
        exact=True,
        runner="lmmcompare.runners.pylmm",
        to_standard=_pylmm_to_standard,
        summary="pylmm3 0.1.1 (PyPI), LMM class: REML null fit, Wald t test; refit = "
                "LMM.fit(X=snp) per SNP",
    ),
    Tool(
        name="fastlmm",
        label="FaST-LMM",
        modes=("fixed",),
        statistics=("p_wald",),
        exact=True,
        runner="lmmcompare.runners.fastlmm",
        to_standard=_fastlmm_to_standard,
        summary="fastlmm (PyPI) single_snp with our kinship as K0: REML null h2, Wald F test",
        mode_gaps={"refit": "single_snp fits h2 once on the null model, never per SNP"},
    ),
    Tool(
        name="gemma",
        label="GEMMA",
        modes=("refit",),
        statistics=STATISTICS,
        exact=True,
        runner="lmmcompare.runners.gemma",
        to_standard=_gemma_to_standard,
        summary="GEMMA 0.98.5 (Debian gemma) -lmm 4 with our kinship via -k: per-SNP REML "
                "Wald, ML LRT, score",
        mode_gaps={"fixed": "-lmm re-fits λ per SNP for its Wald and LRT tests; it has no "
                            "Wald test at the null λ"},
    ),
)

TOOLS: Mapping[str, Tool] = MappingProxyType({tool.name: tool for tool in _ENTRIES})
"""Every tool, by name, ours first."""


def get(name: str) -> Tool:
    """The tool called ``name``; an ``InputError`` listing the known tools otherwise."""
    try:
        return TOOLS[name]
    except KeyError:
        raise InputError(
            f"unknown tool {name!r}; the registry has {', '.join(TOOLS)}"
        ) from None


def peers() -> tuple[str, ...]:
    """Names of every tool but the reference (ours)."""
    return tuple(name for name in TOOLS if name != REFERENCE)


def statistics_of(name: str) -> tuple[str, ...]:
    """The p-value columns tool ``name`` fills."""
    return get(name).statistics
