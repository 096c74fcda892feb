"""exactlmm: exact FaST-LMM-style linear mixed model association scans.

The model is y = Xβ + gβ_g + u + e with u ~ N(0, σg² K), e ~ N(0, σe² I), γ = σg²/σe²; the
null fit maximises the REML (or ML) profile likelihood over log δ = −log γ in the eigenbasis of
the kinship with the covariates projected out, and every SNP is tested by Wald, likelihood-ratio
and score tests at the null γ (fixed mode) or at its own γ (refit mode, GEMMA ``-lmm 4``).

The public API (``__all__``), from files to results:

* inputs: :func:`open_plink` → :class:`PlinkDataset`, :class:`InputOptions` →
  :func:`load_inputs` (:func:`load_phenotypes` for several) → :class:`AnalysisInputs`;
* kinship: :func:`kinship_standardized`, :func:`kinship_centered`, :func:`kinship_loco`
  (streamed, untestable SNPs left out), :func:`read_kinship`, :func:`write_kinship`;
* the whole analysis: :func:`association` (:func:`association_many`) with
  :class:`ScanOptions` → :class:`AssocResult`, or step by step
  :func:`kinship_model` → :class:`KinshipModel`, :func:`fit` → :class:`NullModel`,
  :class:`Scanner` and :func:`exactlmm.scan.scan` (not re-exported: the name would hide the
  module);
* in memory: :func:`spectrum_from_kinship`, :func:`spectrum_from_genotypes`,
  :func:`fit_null`, :func:`iterate_blocks`;
* dosages: :func:`impute_center` → :class:`ImputedBlock`, :func:`classify`,
  :func:`count_errcodes` (the ``errcode`` rule: ``TESTED`` = ``"."`` or one of ``ERRCODES``);
* outputs: :func:`write_assoc_tsv`, :func:`read_assoc_tsv`, :func:`write_null_json`,
  :func:`read_null_json`;
* :class:`InputError`: bad input, a one-line message naming the file.

No SNP makes an analysis fail: every selected SNP gets a row, an untestable one (no call,
monomorphic, in the span of the covariates) with NA statistics and its reason in ``errcode``.

Example: a PLINK fileset with a planted effect on SNP 3 and a monomorphic SNP 7.

>>> import tempfile
>>> from pathlib import Path
>>> import numpy as np
>>> from bed_reader import to_bed
>>> import exactlmm
>>> rng = np.random.default_rng(1)
>>> G = rng.binomial(2, 0.4, size=(60, 120)).astype(float)
>>> G[:, 7] = 2.0
>>> y = 1.5 * G[:, 3] + rng.standard_normal(60)
>>> with tempfile.TemporaryDirectory() as tmp:
...     to_bed(Path(tmp) / "toy.bed", G, properties={"pheno": y}, count_A1=True)
...     inputs = exactlmm.load_inputs(exactlmm.InputOptions(Path(tmp) / "toy"))  # .fam pheno
...     result = exactlmm.association(inputs)
...     exactlmm.write_assoc_tsv(Path(tmp) / "toy.assoc.tsv", result.columns(inputs.dataset))
...     table = exactlmm.read_assoc_tsv(Path(tmp) / "toy.assoc.tsv")
>>> inputs.n_samples, len(table["snp"]), result.kinship
(60, 120, 'standardized, 119 SNPs')
>>> int(np.nanargmin(table["p_wald"])), table["errcode"][7], result.untested
(3, 'MONOMORPHIC', {'MONOMORPHIC': 1})
>>> bool(table["p_wald"][3] < 1e-6), bool(0.0 < result.null.h2 < 1.0)
(True, True)
"""

__version__ = "0.1.0"

from exactlmm.dosage import ImputedBlock, classify, count_errcodes, impute_center
from exactlmm.errors import InputError
from exactlmm.inputs import AnalysisInputs, InputOptions, load_inputs, load_phenotypes
from exactlmm.io.kinship_txt import read_kinship, write_kinship
from exactlmm.io.plink import PlinkDataset, open_plink
from exactlmm.io.results import (
    ERRCODES,
    TESTED,
    read_assoc_tsv,
    read_null_json,
    write_assoc_tsv,
    write_null_json,
)
from exactlmm.kinship import kinship_centered, kinship_loco, kinship_standardized
from exactlmm.null import NullModel, fit_null
from exactlmm.pipeline import (
    AssocResult,
    KinshipModel,
    ScanOptions,
    association,
    association_many,
    fit,
    kinship_model,
)
from exactlmm.scan import Scanner, iterate_blocks
from exactlmm.spectral import spectrum_from_genotypes, spectrum_from_kinship

__all__ = [
    "ERRCODES",
    "TESTED",
    "AnalysisInputs",
    "AssocResult",
    "ImputedBlock",
    "InputError",
    "InputOptions",
    "KinshipModel",
    "NullModel",
    "PlinkDataset",
    "ScanOptions",
    "Scanner",
    "__version__",
    "association",
    "association_many",
    "classify",
    "count_errcodes",
    "fit",
    "fit_null",
    "impute_center",
    "iterate_blocks",
    "kinship_centered",
    "kinship_loco",
    "kinship_model",
    "kinship_standardized",
    "load_inputs",
    "load_phenotypes",
    "open_plink",
    "read_assoc_tsv",
    "read_kinship",
    "read_null_json",
    "spectrum_from_genotypes",
    "spectrum_from_kinship",
    "write_assoc_tsv",
    "write_kinship",
    "write_null_json",
]
