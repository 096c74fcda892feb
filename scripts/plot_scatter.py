"""-log10 p scatter of ours against one peer (exactlmm.plots.scatter_log10p), SNPs matched by ID.

A skipped run gives an empty panel whose title says which run was skipped and why.
"""

import numpy as np
from glue import run_script, skip_reason, strip_suffix

from exactlmm.compare import load_result
from exactlmm.plots import scatter_log10p


def main(snakemake):
    wc = snakemake.wildcards
    title = f"{wc.dataset}: {wc.statistic}, {wc.mode} mode"
    skipped = [
        f"{tool} skipped: {reason}"
        for tool, reason in (
            ("exactlmm", skip_reason(snakemake.input.ours_null)),
            (wc.peer, skip_reason(snakemake.input.peer_null)),
        )
        if reason is not None
    ]
    if skipped:
        p_ours = p_peer = np.array([])
        title += "\n" + "\n".join(skipped)
    else:
        ours = load_result(strip_suffix(snakemake.input.ours_null, ".null.json"), "exactlmm",
                           wc.mode)
        peer = load_result(strip_suffix(snakemake.input.peer_null, ".null.json"), wc.peer,
                           wc.mode)
        merged = ours.assoc[["snp", wc.statistic]].merge(
            peer.assoc[["snp", wc.statistic]], on="snp", suffixes=("_ours", "_peer"),
            validate="one_to_one",
        )
        p_ours = merged[f"{wc.statistic}_ours"].to_numpy(dtype=np.float64)
        p_peer = merged[f"{wc.statistic}_peer"].to_numpy(dtype=np.float64)
    scatter_log10p(p_ours, p_peer, label_a="exactlmm", label_b=wc.peer, title=title,
                   path=snakemake.output.png)


run_script(main, snakemake)  # noqa: F821 (the object Snakemake injects)
