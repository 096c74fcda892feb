"""-log10 p scatters of ours against every peer run of one dataset and mode, one figure per peer
and statistic the peer gives (lmmcompare.plots.scatter_log10p), SNPs matched by ID.

Writes ``{output}/{peer}.{statistic}.png`` (and .svg).  A skipped run gives an empty panel
whose title says which run was skipped and why; so does a statistic the peer gave at no SNP
(BOLT-LMM declining its mixture model: its words from the run's ``native`` record).
"""

import textwrap
from pathlib import Path

import numpy as np
from glue import run_results, run_script, statistics_given, tool_label, tool_panel

from lmmcompare import registry
from lmmcompare.plots import no_statistic_note, scatter_log10p


def matched_pvalues(ours, peer, statistic, tools):
    """``statistic`` of the peer and ours' (or, for a statistic only the peer gives, the one its
    panel entry compares it with: ours' p_wald for BOLT-LMM's p_bolt_mix) on their common
    SNPs (empty unless both ran)."""
    if not (ours.ok and peer.ok):
        return np.array([]), np.array([])
    mine = tools.reference_statistic(peer.tool, statistic) or statistic
    merged = ours.assoc[["snp", mine]].merge(
        peer.assoc[["snp", statistic]], on="snp", suffixes=("_ours", "_peer"),
        validate="one_to_one",
    )
    ours_column = f"{mine}_ours" if mine == statistic else mine
    peer_column = f"{statistic}_peer" if mine == statistic else statistic
    return (merged[ours_column].to_numpy(dtype=np.float64),
            merged[peer_column].to_numpy(dtype=np.float64))


def main(snakemake):
    wc = snakemake.wildcards
    folder = Path(snakemake.output[0])
    folder.mkdir(parents=True, exist_ok=True)
    results = {result.tool: result for result in run_results(snakemake)}
    tools = tool_panel(snakemake)
    ours = results[registry.REFERENCE]
    for peer in results.values():
        if peer.tool == registry.REFERENCE:
            continue
        for statistic in statistics_given(tools, peer):
            title = f"{wc.dataset}: {statistic}, {wc.mode} mode"
            for result in (ours, peer):
                if not result.ok:
                    title += "\n" + textwrap.fill(f"{result.tool} skipped: {result.reason}", 90)
            p_ours, p_peer = matched_pvalues(ours, peer, statistic, tools)
            if peer.ok and not np.isfinite(p_peer).any():
                title += "\n" + textwrap.fill(no_statistic_note(peer.tool, statistic,
                                                                 peer.null), 90)
            scatter_log10p(p_ours, p_peer, label_a=ours.tool,
                           label_b=tool_label(tools, peer.tool), title=title,
                           path=folder / f"{peer.tool}.{statistic}.png")


run_script(main, snakemake)  # noqa: F821 (the object Snakemake injects)
