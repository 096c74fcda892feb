"""The one registry of the LMM tools compared: names, modes, statistics, conversion, runner.

Every other part of the harness — the workflow's rules and wildcards (``workflow/rules/
common.smk``), the config's defaults and checks, the runs table, the comparison tables and
plots — reads the tools from :data:`TOOLS` and nothing else, through the panel of its config
(``lmmcompare.panel``: these tools, then those the config defines by a command and the
imported results).  Adding a tool is one runner module
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
ours in its ``reference_modes`` mode (PLINK 2 ``none`` against ours ``fixed``: meant for λGC
and the direction of effects; the p-value agreement of two different models is reported but is
not agreement).

Statistics (:data:`STATISTICS`)
-------------------------------
``p_wald``, ``p_lrt``, ``p_score``, ``p_bolt_mix``: the p-value columns of ``PREFIX.assoc.tsv``;
``Tool.statistics`` lists those a tool fills (the others are NA in its table).  A statistic only
a peer gives (``exactlmm.io.results.PEER_STATISTIC_COLUMNS``: BOLT-LMM's mixture-model test
``p_bolt_mix``) is compared with the statistic its ``reference_statistics`` names (ours'
``p_wald``) in a tool that lacks it.

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
import os
import shutil
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType, ModuleType
from typing import Any

from exactlmm.errors import InputError
from exactlmm.io.results import PEER_STATISTIC_COLUMNS, STATISTIC_COLUMNS
from lmmcompare import params

MODES = ("fixed", "refit", "loco", "none")
"""Modes a run can have (module docstring)."""

NO_KINSHIP_MODE = "none"
"""The mode without a kinship (γ is 0 by construction, not estimated)."""

GENOTYPE_KINSHIP_MODES = ("loco",)
"""Modes whose kinship each tool builds from the genotypes (the standardized kinship of the run's
SNPs), not the shared kinship file: their γ is on that kinship."""

STATISTICS = tuple(name for name in STATISTIC_COLUMNS if name.startswith("p_"))
"""p-value columns of an association table (``p_wald``, ``p_lrt``, ``p_score``, ``p_bolt_mix``):
those of the statistic columns (``exactlmm.io.results.STATISTIC_COLUMNS``, their one
definition)."""

OUR_STATISTICS = tuple(name for name in STATISTICS if name not in PEER_STATISTIC_COLUMNS)
"""The tests ours gives (``p_wald``, ``p_lrt``, ``p_score``): every statistic but those only a
peer fills."""

PEER_STATISTIC_REFERENCES = {"p_bolt_mix": "p_wald"}
"""What ours compares each statistic only a peer gives with (BOLT-LMM's mixture-model test
with ours' Wald test): a registry tool's ``reference_statistics`` and a config-defined or
imported tool's (:func:`peer_statistic_references`)."""

REFERENCE = "exactlmm"
"""The tool every other one is plotted against (ours)."""

Conversion = Callable[[Mapping[str, Any], float], dict[str, Any]]

NO_KINSHIP_GAP = "it is a mixed model; the no-kinship baseline is PLINK 2"
"""Why an LMM has no ``none`` mode."""


VENVS_VARIABLE = "LMM_COMPARE_VENVS"
"""The environment variable naming the directory of the peers' virtual environments."""
DEFAULT_VENVS = "/opt/lmm-compare/venvs"
"""Where ``.ci/venvs`` builds them when the variable is not set."""


def venv_directory(name: str) -> Path:
    """The virtual environment ``name`` of a peer whose dependencies cannot share ours
    (docs/DESIGN.md, "Peer virtual environments"): ``$LMM_COMPARE_VENVS/<name>``, default
    ``/opt/lmm-compare/venvs/<name>``, read when called (not when the registry is imported)."""
    return Path(os.environ.get(VENVS_VARIABLE) or DEFAULT_VENVS) / name


@dataclass(frozen=True)
class Needs:
    """What a tool needs to run here: programs (names on PATH, or paths) and Python modules that
    must import, and the one-line hint that installs them.  With ``venv``, the programs are
    paths inside that virtual environment (:func:`venv_directory`, e.g. ``bin/python``) and
    ``modules`` must be empty (they import in the venv's Python, not in ours)."""

    programs: tuple[str, ...] = ()
    modules: tuple[str, ...] = ()
    install: str = ""
    venv: str | None = None

    def __post_init__(self) -> None:
        if self.venv is not None and (self.modules or not self.programs):
            raise ValueError("a venv tool names its programs in the venv and no modules")

    def program(self, index: int = 0) -> str | None:
        """The path of program ``index`` (found on PATH, or in the venv), or ``None``."""
        name = self.programs[index]
        if self.venv is None:
            return shutil.which(name)
        path = venv_directory(self.venv) / name
        return str(path) if path.is_file() and os.access(path, os.X_OK) else None

    def missing(self) -> str | None:
        """The first thing missing, in a few words, or ``None`` when all are here."""
        for index, program in enumerate(self.programs):
            if self.program(index) is None:
                if self.venv is not None:
                    return f"no {venv_directory(self.venv) / program}"
                return f"'{program}' not found on PATH"
        for module in self.modules:
            try:
                importlib.import_module(module)
            except ImportError as err:
                return f"import {module} failed: {err}"
        return None


@dataclass(frozen=True)
class Cost:
    """What one run of a tool costs at most, for the scheduler (``lmmcompare.resources``, whose
    docstring has the model): the N × N double matrices it holds at once, whether it streams the
    genotypes in blocks or may hold all N × M as doubles, the factor on the time of rotating the
    genotypes (2N²M flops), and extra seconds per SNP in some modes.  The default is a peer's
    bound."""

    n2_copies: int = 6
    streams_genotypes: bool = False
    rotation_margin: float = 20.0
    seconds_per_snp: Mapping[str, float] = field(default_factory=dict)


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
    needs:
        The programs and Python modules the tool needs here (a run without them is skipped as
        not installed; the tests run the installed tools).
    cost:
        What a run costs at most (memory, time) for the scheduler.
    reference_statistics:
        For a statistic only this tool gives (``p_bolt_mix``), the statistic of a tool without
        it that it is compared with (ours' ``p_wald``).
    approximate_modes:
        Modes in which an exact tool's model is not ours' (its runs are then compared as
        approximate), and why.
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
    needs: Needs = Needs()
    cost: Cost = Cost()
    reference_statistics: Mapping[str, str] = field(default_factory=dict)
    approximate_modes: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = (
            (set(self.modes) - set(MODES))
            | (set(self.statistics) - set(STATISTICS))
            | (set(self.reference_modes.values()) - set(MODES))
            | (set(self.reference_statistics.values()) - set(STATISTICS))
        )
        if unknown:
            raise ValueError(f"tool {self.name}: unknown modes or statistics {sorted(unknown)}")
        if not set(self.reference_modes) <= set(self.modes):
            raise ValueError(f"tool {self.name}: reference_modes must be modes it has")
        if not set(self.reference_statistics) <= set(self.statistics):
            raise ValueError(f"tool {self.name}: reference_statistics must be statistics it has")
        if not set(self.approximate_modes) <= set(self.modes):
            raise ValueError(f"tool {self.name}: approximate_modes must be modes it has")
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

    def exact_in(self, mode: str) -> bool:
        """Whether its runs in ``mode`` are judged as an exact LMM's (``exact``, unless the
        mode is one of its ``approximate_modes``)."""
        return self.exact and mode not in self.approximate_modes

    def unavailable(self) -> str | None:
        """Why the tool cannot run here (one line, with the install hint), or ``None``."""
        missing = self.needs.missing()
        if missing is None:
            return None
        return f"{self.label} is not installed ({missing}); {self.needs.install}"

    def installed(self) -> bool:
        """Whether everything the tool needs is here."""
        return self.unavailable() is None

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
    """EMMAX (``emmax.c``, beta-07Mar2010): V = σg²(K + δI) with K as given (``-k``).

    ``REMLE_grid_wo_Z`` fits EMMA's REML in δ = σe²/σg² (our δ) on K exactly as read (it
    neither rescales nor re-centres it; it adds 1e-10 to the diagonal), so γ = 1/δ.  Its
    ``.reml`` lines 3–5 are δ, vg = Σηᵢ²/(λᵢ + δ)/(n − c) = σ̂g² and ve = vg·δ = σ̂e² (on K as
    given); ve/vg must equal δ.  Its line 6, hg = tr(CKC)/((n − 1)δ + tr(CKC)) with
    C = I − 11ᵀ/n (``centered_trace``), is the pve of the *centred* K with an n − 1 divisor —
    neither our h² = γ/(1 + γ) nor our pve = γt/(1 + γt); it is kept in ``native`` only.
    Native names: ``delta``, optional ``vg``, ``ve``.
    """
    gamma = float(params.gamma_from_delta(native["delta"]))
    sigma_g2 = params.nonnegative_or_none(native.get("vg"), "EMMAX vg")
    sigma_e2 = params.nonnegative_or_none(native.get("ve"), "EMMAX ve")
    if sigma_g2 and sigma_e2 is not None and not math.isclose(
        sigma_e2 / sigma_g2, 1.0 / gamma, rel_tol=1e-9
    ):
        raise InputError(f"EMMAX ve/vg = {sigma_e2 / sigma_g2!r} differs from δ = {1 / gamma!r}")
    return params.standard_form(gamma, t, sigma_g2, sigma_e2)


def _bolt_to_standard(native: Mapping[str, Any], t: float) -> dict[str, Any]:
    """BOLT-LMM ``--lmmInfOnly``: V = σ²_K(K_B + δ_B I) on its own GRM, log δ_B printed.

    ``Bolt::initMarker`` centres each model SNP over the N analysed samples (missing calls at
    the mean) and scales it to Σᵢ zᵢ² = N − 1; K_B = ZZᵀ/M (``Bolt::multH``).  Our standardized
    kinship of the same SNPs scales to Σᵢ zᵢ² = N (mean diagonal 1), so K_B = (N − 1)/N · K_std,
    and for a K = t·K_std (``t`` its mean diagonal; t = 1 for K_std itself):
    σg² = σ²_K (N − 1)/(N t), σe² = σ²_K δ_B, γ = e^(−log δ_B) (N − 1)/(N t).
    δ_B is a Monte-Carlo REML estimate (``Bolt::estLogDelta``, one for all chromosomes): BOLT
    is an approximate tool.  BOLT's printed h2g = Xfro2/(Xfro2 + M(N − C)δ_B) (3 decimals,
    on the covariate-projected GRM) is kept in ``native`` but not used.  Native names:
    ``log_delta``, ``n_used`` (N), optional ``sigma2_K``.
    """
    log_delta = params.finite_number(native["log_delta"], "BOLT-LMM logDelta")
    n_used = int(native["n_used"])
    if n_used < 2:
        raise InputError(f"BOLT-LMM Nused = {n_used} must be at least 2")
    t = params.finite_number(t, "kinship mean diagonal t")
    if t <= 0:
        raise InputError(f"kinship mean diagonal t = {t!r} must be positive")
    scale = (n_used - 1) / (n_used * t)
    gamma = math.exp(-log_delta) * scale
    sigma2_k = params.nonnegative_or_none(native.get("sigma2_K"), "BOLT-LMM sigma2_K")
    sigma_g2 = None if sigma2_k is None else sigma2_k * scale
    sigma_e2 = None if sigma2_k is None else sigma2_k * math.exp(log_delta)
    return params.standard_form(gamma, t, sigma_g2, sigma_e2)


def _glimix_to_standard(native: Mapping[str, Any], t: float) -> dict[str, Any]:
    """glimix-core ``LMM``: V = s((1 − δ)K + δI) with K as given (``economic_qs(K)``).

    Its ``delta`` is the residual *fraction* δ_g = v1/(v0 + v1) (v0 = s(1 − δ_g) = σg²,
    v1 = sδ_g = σe²; ``glimix_core/lmm/_lmm.py`` v3.1.12, ``LMM`` docstring and the ``v0``/``v1``
    properties), not our δ = σe²/σg²: γ = v0/v1 = (1 − δ_g)/δ_g.  With ``restricted=True`` s
    is the REML scale (denominator n − c), so σe² = sδ_g is our REML σ̂e².  Native names:
    ``delta`` (δ_g), optional ``scale`` (s).
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
    """PLINK 2 ``--glm`` (linear, or logistic for a case/control phenotype): no kinship term,
    i.e. the LMM with γ fixed at 0 (not estimated); PLINK 2 prints no variance or likelihood,
    so σg², σe² are ``None``.  Native names: none used (``native`` holds PLINK 2's sample,
    covariate and ERRCODE counts)."""
    return params.standard_form(0.0, t)


def _jamma_to_standard(native: Mapping[str, Any], t: float) -> dict[str, Any]:
    """JAMMA 8.2.4 (``jamma/lmm/prepare_common.py`` 500–555): GEMMA's model, σe²(λK_c + I) on
    the kinship re-centred over the analysed samples (K_c = PKP), but it prints only
    pve = λt_c/(1 + λt_c) of the null REML λ (t_c = tr(K_c)/n; 6 digits, its golden-section
    search to ~1e-5 relative in λ) — no λ, no REML log-likelihood.  So γ = pve/((1 − pve)t_c)
    (:func:`params.gamma_from_pve`), and with an intercept the REML λ on K_c is γ on K
    (:mod:`params`).  Native names: ``pve``, and ``K_centered_mean_diag`` t_c (refit mode).

    In loco mode (``-loco``: GEMMA's centered kinship of the SNPs off each chromosome) it
    prints the pve of the first chromosome's K₋c only, and no t_c: that pve, the h² on K₋c
    scaled to mean diagonal 1, is taken as the h² of our standardized kinship (t = 1),
    γ = pve/(1 − pve) — an approximation (centred and standardized SNPs weigh alleles of
    different frequency differently; the first chromosome's K₋c is not the genome's)."""
    pve = params.finite_number(native["pve"], "JAMMA pve")
    t_c = params.finite_number(native.get("K_centered_mean_diag", t), "JAMMA t_c")
    return params.standard_form(float(params.gamma_from_pve(pve, t_c)), t)


def _quickdraws_to_standard(native: Mapping[str, Any], t: float) -> dict[str, Any]:
    """Quickdraws 0.1.5 step 1 (``quickdraws/runRHE.py`` 275–301): h² by GENIE's randomized
    Haseman–Elston regression, Σσ²_g/(Σσ²_g + σ²_e) over its MAF × LD-score bins of the
    *standardized* model SNPs, clipped to [0.01, 0.99] — a moment estimate, not REML.  On our
    standardized kinship of the same SNPs (t = 1): γ = h²/(1 − h²)
    (:func:`params.gamma_from_h2`).  Native names: ``h2``."""
    h2 = params.finite_number(native["h2"], "Quickdraws h2")
    return params.standard_form(float(params.gamma_from_h2(h2)), t)


def _regenie_sgkit_to_standard(native: Mapping[str, Any], t: float) -> dict[str, Any]:
    """sgkit's REGENIE (``sgkit/stats/regenie.py``): stacked ridge regressions, no
    variance-component model — it estimates no γ and no h² (its ridge penalties M/h² run over a
    fixed grid of h², ``regenie.py`` 161–172): every standard field is ``None``."""
    return params.no_variance_ratio()


# ------------------------------------------------------------------------- the registry

_ENTRIES = (
    Tool(
        name="exactlmm",
        label="exactlmm",
        modes=("fixed", "refit", "loco"),
        statistics=OUR_STATISTICS,
        exact=True,
        runner="lmmcompare.runners.exactlmm",
        to_standard=_exactlmm_to_standard,
        summary="ours: exact REML/ML, covariates projected out, eigh of the kinship; Wald, "
                "LRT and score; refit = GEMMA -lmm 4 semantics; loco = --loco",
        mode_gaps={"none": NO_KINSHIP_GAP},
        # At most three N × N matrices (the kinship overwritten by its eigenvectors, the rotated
        # block, one work copy: docs/BENCHMARKS.md), genotypes in blocks, one GEMM per block.
        cost=Cost(n2_copies=3, streams_genotypes=True, rotation_margin=2.0),
    ),
    Tool(
        name="pylmm",
        label="PyLMM",
        modes=("fixed", "refit"),
        statistics=("p_wald",),
        exact=True,
        runner="lmmcompare.runners.pylmm",
        needs=Needs(modules=("pylmm3.lmm",), install="pip install pylmm3"),
        to_standard=_pylmm_to_standard,
        summary="pylmm3 0.1.1 (PyPI), LMM class: REML null fit, Wald t test; refit = "
                "LMM.fit(X=snp) per SNP",
        mode_gaps={
            "loco": "pylmm3 takes one kinship for every SNP",
            "none": NO_KINSHIP_GAP,
        },
        # Its per-SNP refit: measured 20–60 ms a SNP at N ≤ 1,400; a margin for larger N.
        cost=Cost(seconds_per_snp={"refit": 0.2}),
    ),
    Tool(
        name="fastlmm",
        label="FaST-LMM",
        modes=("fixed",),
        statistics=("p_wald",),
        exact=True,
        runner="lmmcompare.runners.fastlmm",
        needs=Needs(modules=("fastlmm.association", "fastlmm.inference.lmm_cov",
                             "pysnptools.kernelreader", "pysnptools.snpreader"),
                    install="pip install fastlmm six"),
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
        statistics=OUR_STATISTICS,
        exact=True,
        runner="lmmcompare.runners.gemma",
        needs=Needs(programs=("gemma",), install="apt-get install gemma"),
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
        needs=Needs(programs=("emmax",), install="apt-get install emmax"),
        to_standard=_emmax_to_standard,
        summary="EMMAX beta-07Mar2010 (Debian emmax) with our kinship via -k: exact REML null "
                "δ (grid + bisection, resolution 1e-4 in log δ) held for every SNP (P3D), "
                "generalized least squares t test",
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
        statistics=("p_wald", "p_bolt_mix"),
        exact=False,
        runner="lmmcompare.runners.bolt",
        needs=Needs(programs=("bolt",), install="apt-get install bolt-lmm"),
        to_standard=_bolt_to_standard,
        summary="BOLT-LMM 2.4.0 (Debian bolt-lmm) --lmm --LDscoresUseChip: "
                "leave-one-chromosome-out infinitesimal model on its own GRM of the tested "
                "SNPs, one Monte-Carlo REML delta for all chromosomes (--seed 0), calibrated "
                "retrospective score chi2 (BOLT_LMM_INF, p_wald), and its Bayesian mixture-model "
                "chi2 (BOLT_LMM, p_bolt_mix) when BOLT finds the mixture model fits better",
        reference_statistics=PEER_STATISTIC_REFERENCES,
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
        needs=Needs(modules=("glimix_core.lmm", "numpy_sugar.linalg"),
                    install="pip install glimix-core==3.1.12"),
        to_standard=_glimix_to_standard,
        summary="glimix-core 3.1.12 (PyPI) LMM(restricted=True): exact REML null fit on our "
                "kinship, FastScanner at the null variance ratio; Wald F(1, n − c − 1) from "
                "its effect sizes and standard errors",
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
        needs=Needs(programs=("plink2",), install="apt-get install plink2"),
        to_standard=_plink2_to_standard,
        summary="PLINK 2 2.00a3.5 (Debian plink2) --glm omit-ref: least squares on the "
                "intercept, covariates and a1 dosage (complete cases per SNP), t test; a "
                "case/control phenotype (two values) gets logistic regression with Firth "
                "fallback (firth-fallback), Wald z; no kinship: the baseline compared with our "
                "fixed mode on λGC and effect direction",
        mode_gaps={
            "fixed": "linear regression has no kinship, no variance ratio",
            "refit": "linear regression has no kinship, no variance ratio",
            "loco": "linear regression has no kinship",
        },
        reference_modes={"none": "fixed"},
    ),
)

_VENV_HINT = "bash .ci/venvs {0} (builds $LMM_COMPARE_VENVS/{0} from envs/venvs/{0}.txt)"
_TWO_STEP_GAPS = {
    "fixed": "a two-step leave-one-chromosome-out method: the tested chromosome is never in "
             "its genome-wide prediction",
    "refit": "it fits no variance ratio per SNP",
    "none": "its first step is the whole-genome model; the no-kinship baseline is PLINK 2",
}
"""Why a two-step whole-genome-regression method (REGENIE, Quickdraws) has only loco mode."""

_BIOBANK_ENTRIES = (
    Tool(
        name="jamma",
        label="JAMMA",
        modes=("refit", "loco"),
        statistics=OUR_STATISTICS,
        exact=True,
        runner="lmmcompare.runners.jamma",
        needs=Needs(programs=("bin/jamma",), venv="jamma", install=_VENV_HINT.format("jamma")),
        to_standard=_jamma_to_standard,
        summary="JAMMA 8.2.4 (PyPI, GEMMA's LMM re-implemented; own venv) -lmm 4: per-SNP "
                "REML Wald, ML LRT, score; refit with our kinship (-k, as .npy); loco = -loco, "
                "GEMMA's centered kinship of the other chromosomes' SNPs, per-SNP refit",
        mode_gaps={
            "fixed": "-lmm re-fits λ per SNP for its Wald and LRT tests (GEMMA's); it has no "
                     "Wald test at the null λ",
            "none": NO_KINSHIP_GAP,
        },
        approximate_modes={
            "loco": "-loco builds GEMMA's centered kinship of the other chromosomes and refits "
                    "γ per SNP; ours' loco uses the standardized one at the null γ",
        },
    ),
    Tool(
        name="quickdraws",
        label="Quickdraws",
        modes=("loco",),
        statistics=("p_wald",),
        exact=False,
        runner="lmmcompare.runners.quickdraws",
        needs=Needs(programs=("bin/python",), venv="quickdraws",
                    install=_VENV_HINT.format("quickdraws")),
        to_standard=_quickdraws_to_standard,
        # Its β is on (y − ȳ)/sd(y) and counts .bim column 6: the format preset says both.
        summary="Quickdraws 0.1.5 (PyPI; own venv, CPU torch): GENIE h2 (seeded), "
                "spike-and-slab whole-genome regression by variational inference, LOCO "
                "residuals, linear-regression chi2 calibrated per chromosome on the unrelated "
                "samples (Quickdraws' own list from a KING-style table of our kinship)",
        mode_gaps=_TWO_STEP_GAPS,
    ),
    Tool(
        name="regenie_sgkit",
        label="REGENIE (sgkit)",
        modes=("loco",),
        statistics=("p_wald",),
        exact=False,
        runner="lmmcompare.runners.regenie_sgkit",
        needs=Needs(programs=("bin/python",), venv="regenie_sgkit",
                    install=_VENV_HINT.format("regenie_sgkit")),
        to_standard=_regenie_sgkit_to_standard,
        # Its β is on P_X y / s: the format preset's effect_unit.
        summary="REGENIE's method in sgkit 0.10.0 (PyPI; own venv) on dask.distributed: "
                "stacked ridge regression (step 1, leave-one-chromosome-out predictions), then "
                "a t test of each SNP on the phenotype less its chromosome's prediction",
        mode_gaps=_TWO_STEP_GAPS,
    ),
)

TOOLS: Mapping[str, Tool] = MappingProxyType(
    {tool.name: tool for tool in (*_ENTRIES, *_BIOBANK_ENTRIES)})
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


def pair_modes(tools: Iterable[Tool] | None = None) -> tuple[str, ...]:
    """Every ``mode`` label a concordance row can have: the modes, then each cross-mode pair a
    tool declares (ours in the reference mode against the tool's mode); ``tools`` default to
    the registry's (a config's panel, ``lmmcompare.panel``, passes its own).  The questions
    about the tools of one config (kinds, reference modes, origins) are the panel's."""
    cross = [
        cross_mode(reference, mode)
        for tool in (TOOLS.values() if tools is None else tools)
        for mode, reference in tool.reference_modes.items()
    ]
    return (*MODES, *dict.fromkeys(cross))


def statistics_of(name: str) -> tuple[str, ...]:
    """The p-value columns tool ``name`` fills."""
    return get(name).statistics


def peer_statistic_references(statistics: Sequence[str]) -> dict[str, str]:
    """:data:`PEER_STATISTIC_REFERENCES` of the peer-only statistics among ``statistics``."""
    return {name: ours for name, ours in PEER_STATISTIC_REFERENCES.items() if name in statistics}
