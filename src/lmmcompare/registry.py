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
* ``loco`` — leave one chromosome out: the SNPs of chromosome c are tested with a kinship built
  from the model SNPs (the run's SNP list) of the other chromosomes; the variance ratio is
  fitted under the null (ours ``--loco``, BOLT-LMM ``--lmmInfOnly``).  The shared kinship file is
  not used: each tool builds its K₋c from the genotypes (standardized).
* ``none`` — no kinship at all: linear regression on the covariates (PLINK 2 ``--glm``), the
  baseline that shows what the mixed model buys.  Its model is the LMM with γ fixed at 0.

Runs of the same mode are compared with each other, and a tool's run in a mode ours lacks with
ours in its ``reference_modes`` mode (PLINK 2 ``none`` against ours ``fixed``: λGC and the
direction of effects, :data:`CROSS_MODE_METRICS`).

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

MODES = ("fixed", "refit", "loco", "none")
"""Modes a run can have (module docstring)."""

NO_KINSHIP_MODE = "none"
"""The mode without a kinship (γ is 0 by construction, not estimated)."""

CROSS_MODE_METRICS = ("lambda_gc", "pearson_r_beta")
"""What a cross-mode pair (a tool's ``reference_modes``) is meant to be judged on: genomic
control and the direction of effects; the p-value agreement of two different models is reported
but is not agreement."""

STATISTICS = ("p_wald", "p_lrt", "p_score")
"""p-value columns of an association table."""

REFERENCE = "exactlmm"
"""The tool every other one is plotted against (ours)."""

Conversion = Callable[[Mapping[str, Any], float], dict[str, Any]]

NO_KINSHIP_GAP = "it is a mixed model; the no-kinship baseline is PLINK 2"
"""Why an LMM has no ``none`` mode."""


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
    reference_modes:
        For a mode ours does not have, the mode of ours its runs are compared with (a
        cross-mode pair of the concordance table).
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
    reference_modes: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = (
            (set(self.modes) - set(MODES))
            | (set(self.statistics) - set(STATISTICS))
            | (set(self.reference_modes.values()) - set(MODES))
        )
        if unknown:
            raise ValueError(f"tool {self.name}: unknown modes or statistics {sorted(unknown)}")
        if not set(self.reference_modes) <= set(self.modes):
            raise ValueError(f"tool {self.name}: reference_modes must be modes it has")
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

    @property
    def kind(self) -> str:
        """``"exact"`` or ``"approximate"`` (how its agreement with ours is judged)."""
        return "exact" if self.exact else "approximate"

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


def _emmax_to_standard(native: Mapping[str, Any], t: float) -> dict[str, Any]:
    """EMMAX (``emmax.c``, beta 2010-03-07): V = σg²K + σe²I with K as given (``-k``).

    Its ``.reml`` file holds δ = σe²/σg² (checked as ve/vg), so γ = 1/δ; vg = σg², ve = σe².
    Native names: ``delta``, optional ``vg``, ``ve``.
    """
    gamma = float(params.gamma_from_delta(native["delta"]))
    sigma_g2 = params.nonnegative_or_none(native.get("vg"), "EMMAX vg")
    sigma_e2 = params.nonnegative_or_none(native.get("ve"), "EMMAX ve")
    return params.standard_form(gamma, t, sigma_g2, sigma_e2)


def _bolt_to_standard(native: Mapping[str, Any], t: float) -> dict[str, Any]:
    """BOLT-LMM ``--lmmInfOnly``: h2g on its own GRM of standardized model SNPs.

    BOLT normalizes each model SNP to mean 0 and variance 1 over the analysed samples and
    divides the GRM by M, so its kinship has mean diagonal 1 and h2g = σg²/(σg² + σe²) on it.
    ``t`` here is the mean diagonal of our genome-wide standardized kinship of the same SNPs
    (1 without missing calls), so γ = h2g/((1 − h2g)t) (:func:`params.gamma_from_pve`).
    h2g is a Monte-Carlo REML estimate: BOLT is an approximate tool.  Native names: ``h2g``.
    """
    h2g = params.finite_number(native["h2g"], "BOLT-LMM h2g")
    return params.standard_form(float(params.gamma_from_pve(h2g, t)), t)


def _glimix_to_standard(native: Mapping[str, Any], t: float) -> dict[str, Any]:
    """glimix-core ``LMM``: V = s((1 − δ)K + δI) with K as given (``economic_qs(K)``).

    Its ``delta`` is the residual *fraction* δ_g = v1/(v0 + v1) (v0 = s(1 − δ_g) = σg²,
    v1 = sδ_g = σe²), not our δ = σe²/σg²: γ = (1 − δ_g)/δ_g.  Native names: ``delta``
    (δ_g), optional ``scale`` (s).
    """
    delta_g = params.finite_number(native["delta"], "glimix-core delta")
    if not 0.0 < delta_g <= 1.0:
        raise InputError(f"glimix-core delta = {delta_g!r} must lie in (0, 1]")
    gamma = (1.0 - delta_g) / delta_g
    scale = params.nonnegative_or_none(native.get("scale"), "glimix-core scale")
    sigma_g2 = None if scale is None else scale * (1.0 - delta_g)
    sigma_e2 = None if scale is None else scale * delta_g
    return params.standard_form(gamma, t, sigma_g2, sigma_e2)


def _plink2_to_standard(native: Mapping[str, Any], t: float) -> dict[str, Any]:
    """PLINK 2 ``--glm`` (linear): no kinship term, i.e. the LMM with γ fixed at 0 (not
    estimated).  Native names: none used."""
    return params.standard_form(0.0, t)


# ------------------------------------------------------------------------- the registry

_ENTRIES = (
    Tool(
        name="exactlmm",
        label="exactlmm",
        modes=("fixed", "refit", "loco"),
        statistics=STATISTICS,
        exact=True,
        runner="lmmcompare.runners.exactlmm",
        to_standard=_exactlmm_to_standard,
        summary="ours: exact REML/ML, covariates projected out, eigh of the kinship; Wald, "
                "LRT and score; refit = GEMMA -lmm 4 semantics; loco = --loco",
        mode_gaps={"none": NO_KINSHIP_GAP},
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
        mode_gaps={
            "loco": "pylmm3 takes one kinship for every SNP",
            "none": NO_KINSHIP_GAP,
        },
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
        mode_gaps={
            "refit": "single_snp fits h2 once on the null model, never per SNP",
            "loco": "single_snp cannot leave a chromosome out of a precomputed kernel (K0)",
            "none": NO_KINSHIP_GAP,
        },
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
        mode_gaps={
            "fixed": "-lmm re-fits λ per SNP for its Wald and LRT tests; it has no Wald test "
                     "at the null λ",
            "loco": "GEMMA takes one kinship (-k) for every SNP",
            "none": NO_KINSHIP_GAP,
        },
    ),
    Tool(
        name="emmax",
        label="EMMAX",
        modes=("fixed",),
        statistics=("p_wald",),
        exact=True,
        runner="lmmcompare.runners.emmax",
        to_standard=_emmax_to_standard,
        summary="EMMAX beta-07Mar2010 (Debian emmax) with our kinship via -k: REML null δ "
                "held for every SNP (P3D), generalized least squares t test",
        mode_gaps={
            "refit": "P3D: the variance components are estimated once, under the null",
            "loco": "EMMAX takes one kinship (-k) for every SNP",
            "none": NO_KINSHIP_GAP,
        },
    ),
    Tool(
        name="bolt",
        label="BOLT-LMM",
        modes=("loco",),
        statistics=("p_wald",),
        exact=False,
        runner="lmmcompare.runners.bolt",
        to_standard=_bolt_to_standard,
        summary="BOLT-LMM 2.4.0 (Debian bolt-lmm) --lmmInfOnly: leave-one-chromosome-out "
                "infinitesimal model on its own GRM of the run's SNPs, Monte-Carlo REML h2, "
                "P_BOLT_LMM_INF",
        mode_gaps={
            "fixed": "--lmmInfOnly always leaves the tested SNP's chromosome out of the GRM; "
                     "it takes no kinship file",
            "refit": "BOLT-LMM estimates the variance parameters once, under the null",
            "none": NO_KINSHIP_GAP,
        },
    ),
    Tool(
        name="glimix",
        label="glimix-core",
        modes=("fixed",),
        statistics=("p_wald",),
        exact=True,
        runner="lmmcompare.runners.glimix",
        to_standard=_glimix_to_standard,
        summary="glimix-core 3.1.12 (PyPI) LMM: exact REML null fit on our kinship, "
                "FastScanner at the null variance ratio",
        mode_gaps={
            "refit": "FastScanner keeps the null variance ratio for every SNP",
            "loco": "it takes one kinship for every SNP",
            "none": NO_KINSHIP_GAP,
        },
    ),
    Tool(
        name="plink2",
        label="PLINK 2",
        modes=("none",),
        statistics=("p_wald",),
        exact=False,
        runner="lmmcompare.runners.plink2",
        to_standard=_plink2_to_standard,
        summary="PLINK 2 (Debian plink2) --glm: linear regression on the covariates, no "
                "kinship; the baseline compared with our fixed mode on λGC and effect direction",
        mode_gaps={
            "fixed": "linear regression has no kinship, no variance ratio",
            "refit": "linear regression has no kinship, no variance ratio",
            "loco": "linear regression has no kinship",
        },
        reference_modes={"none": "fixed"},
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


def cross_mode(mode_a: str, mode_b: str) -> str:
    """The ``mode`` label of a cross-mode pair in the concordance table: ``"fixed/none"``."""
    return f"{mode_a}/{mode_b}"


def pair_modes() -> tuple[str, ...]:
    """Every ``mode`` label a concordance row can have: the modes, then each cross-mode pair a
    tool declares (ours in the reference mode against the tool's mode)."""
    cross = [
        cross_mode(reference, mode)
        for tool in TOOLS.values()
        for mode, reference in tool.reference_modes.items()
    ]
    return (*MODES, *dict.fromkeys(cross))


def statistics_of(name: str) -> tuple[str, ...]:
    """The p-value columns tool ``name`` fills."""
    return get(name).statistics
