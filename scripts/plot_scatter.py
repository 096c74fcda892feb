"""-log10 p scatters of ours against every peer run of one dataset and mode, one figure per peer
and statistic the peer gives (lmmcompare.plots.scatter_log10p), SNPs matched by ID.

Writes ``{output}/{peer}.{statistic}.png`` (and .svg).  A skipped run gives an empty panel
whose title says which run was skipped and why.
"""

import textwrap
from pathlib import Path

import numpy as np
from glue import run_script, skip_reason, strip_suffix

from lmmcompare.compare import load_result
from lmmcompare.plots import scatter_log10p


def matched_pvalues(ours, peer, statistic):
    """``statistic`` of ours and of the peer on their common SNPs (empty when one is None)."""
    if ours is None or peer is None:
        return np.array([]), np.array([])
    merged = ours.assoc[["snp", statistic]].merge(
        peer.assoc[["snp", statistic]], on="snp", suffixes=("_ours", "_peer"),
        validate="one_to_one",
    )
    return (merged[f"{statistic}_ours"].to_numpy(dtype=np.float64),
            merged[f"{statistic}_peer"].to_numpy(dtype=np.float64))


def main(snakemake):
    wc = snakemake.wildcards
    folder = Path(snakemake.output[0])
    folder.mkdir(parents=True, exist_ok=True)
    results, reasons = {}, {}
    for tool, null_path in zip(snakemake.params.tools, snakemake.input.nulls, strict=True):
        reasons[tool] = skip_reason(null_path)
        if reasons[tool] is None:
            results[tool] = load_result(strip_suffix(null_path, ".null.json"), tool, wc.mode)
    for peer in snakemake.params.tools:
        if peer == "exactlmm":
            continue
        for statistic in snakemake.params.statistics[peer]:
            title = f"{wc.dataset}: {statistic}, {wc.mode} mode"
            for tool in ("exactlmm", peer):
                if reasons[tool] is not None:
                    title += "\n" + textwrap.fill(f"{tool} skipped: {reasons[tool]}", 90)
            p_ours, p_peer = matched_pvalues(results.get("exactlmm"), results.get(peer),
                                             statistic)
            scatter_log10p(p_ours, p_peer, label_a="exactlmm", label_b=peer, title=title,
                           path=folder / f"{peer}.{statistic}.png")


run_script(main, snakemake)  # noqa: F821 (the object Snakemake injects)
